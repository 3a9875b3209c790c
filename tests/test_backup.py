"""[[backup]] and `deploygate manifest`: real dumps made with pg_dump, real truncations, byte flips
and time skews; the teams' atomic-backup folder and our manifest."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_deploygate.checks.backup.dump import read_header, table_rows
from pytest_deploygate.checks.backup.manifest import read_manifest
from pytest_deploygate.cli import main as deploygate
from pytest_deploygate.errors import CheckError

from .conftest import Gate, PostgresDatabase
from .test_schema import _pg_tool

APP = """
CREATE TABLE ad_images (id int PRIMARY KEY, file_path text);
INSERT INTO ad_images VALUES (1, 'uploads/ads/ad-1.webp'), (2, 'uploads/ads/ad-2.webp'), (3, NULL);
CREATE TABLE _prisma_migrations (id varchar(36) PRIMARY KEY, checksum varchar(64), finished_at timestamptz,
    migration_name varchar(255) NOT NULL, logs text, rolled_back_at timestamptz, started_at timestamptz NOT NULL,
    applied_steps_count int NOT NULL DEFAULT 0);
INSERT INTO _prisma_migrations VALUES ('1', 'c1', now(), '20251001_init', NULL, NULL, now(), 1),
                                      ('2', 'c2', now(), '20251002_images', NULL, NULL, now(), 1);
"""


def pg_dump(pg: PostgresDatabase, target: Path) -> None:
    with pg.connect() as conn:
        version = conn.info.server_version
    subprocess.run([_pg_tool("pg_dump", version), "--format=custom", "--file", str(target), "--dbname", pg.admin_url],
                   check=True, capture_output=True)


def migrations_csv(pg: PostgresDatabase, target: Path) -> None:
    with pg.connect() as conn, conn.cursor().copy(b"COPY _prisma_migrations TO STDOUT WITH (FORMAT csv, HEADER)") as copy:
        target.write_bytes(b"".join(bytes(block) for block in copy))


def atomic_backup(pg: PostgresDatabase, root: Path, stamp: str, uploads: tuple[str, ...] = ("ad-1.webp", "ad-2.webp"),
                  **manifest: str) -> Path:
    """The teams' "atomic backup" folder, as their script writes it."""
    folder = root / "backups" / stamp
    (folder / "uploads" / "ads").mkdir(parents=True)
    pg_dump(pg, folder / "database.dump")
    for name in uploads:
        (folder / "uploads" / "ads" / name).write_bytes(b"RIFF....WEBP")
    migrations_csv(pg, folder / "migrations.csv")
    size = (folder / "database.dump").stat().st_size
    document = {"timestamp": stamp, "database_size": f"{size / 1024:.1f}K", "uploads_count": str(len(uploads)),
                "git_commit": "0" * 40, **manifest}
    (folder / "manifest.json").write_text(json.dumps(document))
    return folder


def now_stamp(hours_ago: float = 0) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours_ago)).strftime("%Y%m%d_%H%M%S")


def backup_gate(gate: Gate, pg: PostgresDatabase | None, manifest: str, extra: str = "") -> None:
    database = f'[databases.main]\nurl = "{pg.url}"\n' if pg else ""
    gate.config(f'{database}[[backup]]\nmanifest = "{manifest}"\n{extra}\n')


# -- our manifest ---------------------------------------------------------------------------------


def test_a_healthy_backup_passes_every_item(gate: Gate, pg: PostgresDatabase) -> None:
    pg.execute(APP)
    folder = atomic_backup(pg, gate.path, now_stamp())
    (gate.path / "schema.prisma").write_text("model Ad { id Int @id }\n")
    assert deploygate(["manifest", str(folder), "--schema-file", str(gate.path / "schema.prisma")]) == 0
    backup_gate(gate, pg, "backups/*/deploygate-manifest.json", """
database = "main"
max_age = "26h"
max_skew = "10m"
schema_file = "schema.prisma"
verify = "fixity"
references = { table = "ad_images", column = "file_path", root = "uploads" }
""")
    result = gate.run("-v")
    result.assert_outcomes(passed=9)
    result.stdout.fnmatch_lines([f"*backup[[]backups:{aspect}[]] PASSED*" for aspect in (
        "present", "fresh", "complete", "consistent", "checksums", "dump", "schema", "migrations", "references")])


def test_the_incident_the_dump_names_uploads_the_backup_lacks(gate: Gate, pg: PostgresDatabase) -> None:
    """Incident 3 before any restore: the uploads copy is older than the database dump."""
    pg.execute(APP)
    folder = atomic_backup(pg, gate.path, now_stamp(), uploads=("ad-1.webp",))
    assert deploygate(["manifest", str(folder)]) == 0
    backup_gate(gate, None, "backups/*/deploygate-manifest.json",
                'references = { table = "ad_images", column = "file_path", root = "uploads" }')
    result = gate.run()
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines([
        "1 of 2 files referenced by ad_images.file_path in the backup's database.dump is missing from the "
        "backup's uploads",
        "  uploads/ads/ad-2.webp",
    ])


def test_a_file_flipped_in_place_fails_checksums_not_complete(gate: Gate, pg: PostgresDatabase) -> None:
    pg.execute(APP)
    folder = atomic_backup(pg, gate.path, now_stamp())
    assert deploygate(["manifest", str(folder)]) == 0
    flipped = folder / "uploads" / "ads" / "ad-2.webp"
    before = flipped.stat()
    data = bytearray(flipped.read_bytes())
    data[0] ^= 0xFF
    flipped.write_bytes(bytes(data))
    os.utime(flipped, ns=(before.st_atime_ns, before.st_mtime_ns))  # same size, same mtime
    backup_gate(gate, None, "backups/*/deploygate-manifest.json", 'verify = "fixity"')
    result = gate.run()
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["FAILED *backup[[]backups:checksums[]] - 1 file of backup * does not match the "
                                 "manifest: uploads/ads/ad-2.webp differs from its recorded sha256"])


@pytest.mark.parametrize("cut", [1, 100])
def test_a_truncated_dump_is_caught(gate: Gate, pg: PostgresDatabase, cut: int) -> None:
    """pg_restore --list passes a dump cut short; the full read does not."""
    pg.execute(APP)
    folder = atomic_backup(pg, gate.path, now_stamp())
    assert deploygate(["manifest", str(folder)]) == 0
    dump = folder / "database.dump"
    dump.write_bytes(dump.read_bytes()[:-cut])
    backup_gate(gate, None, "backups/*/deploygate-manifest.json", 'verify = "fixity"')
    result = gate.run()
    result.stdout.fnmatch_lines([
        "FAILED *backup[[]backups:complete[]] - backup * is incomplete: dump database.dump is * bytes, the manifest says *",
        "FAILED *backup[[]backups:checksums[]] - 1 file of backup * does not match the manifest: dump database.dump "
        "differs from its recorded sha256",
        "FAILED *backup[[]backups:dump[]] - dump database.dump cannot be read to its end: pg_restore: error: *",
    ], consecutive=False)


def test_files_copied_long_after_the_database_snapshot_are_not_consistent(gate: Gate, pg: PostgresDatabase) -> None:
    """The incident's root cause: database and uploads taken hours apart."""
    pg.execute(APP)
    folder = atomic_backup(pg, gate.path, now_stamp())
    snapshot = read_header(folder / "database.dump").started
    assert snapshot is not None
    later = snapshot + dt.timedelta(hours=3)
    assert deploygate(["manifest", str(folder), "--copy-started", later.isoformat(),
                       "--copy-finished", (later + dt.timedelta(minutes=2)).isoformat()]) == 0
    backup_gate(gate, None, "backups/*/deploygate-manifest.json", 'max_skew = "10m"')
    result = gate.run()
    result.stdout.fnmatch_lines(["FAILED *backup[[]backups:consistent[]] - backup * is not consistent: uploads "
                                 "finished copying 3h 2m after the database snapshot of database.dump (max 10m)"])

    earlier = snapshot - dt.timedelta(hours=1)
    assert deploygate(["manifest", str(folder), "--copy-started", earlier.isoformat(),
                       "--copy-finished", snapshot.isoformat()]) == 0
    gate.run().stdout.fnmatch_lines(["*consistent[]] - backup * is not consistent: uploads was copied from *, before "
                                     "the database snapshot of database.dump at *"])


def test_a_migration_applied_live_but_not_in_the_backup_is_a_rollback(gate: Gate, pg: PostgresDatabase) -> None:
    pg.execute(APP)
    atomic_backup(pg, gate.path, now_stamp())
    pg.execute("INSERT INTO _prisma_migrations VALUES ('3', 'c3', now(), '20251003_slugs', NULL, NULL, now(), 1);")
    backup_gate(gate, pg, "backups/*/manifest.json", 'database = "main"')
    result = gate.run()
    result.stdout.fnmatch_lines([
        "1 migration applied to main is not in backup * a restore would roll the schema back",
        "  20251003_slugs",
    ])


# -- the teams' manifest.json -----------------------------------------------------------------------


def test_the_teams_atomic_backup_is_read_as_it_is(gate: Gate, pg: PostgresDatabase) -> None:
    pg.execute(APP)
    atomic_backup(pg, gate.path, now_stamp(hours_ago=50))
    atomic_backup(pg, gate.path, now_stamp(hours_ago=31), uploads=("ad-1.webp",), uploads_count="5203")
    (gate.path / "schema.prisma").write_text("model Ad { id Int @id }\n")
    backup_gate(gate, None, "backups/*/manifest.json", 'max_age = "26h"\nmax_skew = "10m"\nschema_file = "schema.prisma"')
    result = gate.run("-rfs")
    result.stdout.fnmatch_lines([
        "FAILED *backup[[]backups:fresh[]] - backup * is 31h old (max 26h)",  # the newest of the two
        "FAILED *backup[[]backups:complete[]] - backup * is incomplete: uploads holds 1 file, the manifest says 5,203",
        "FAILED *backup[[]backups:schema[]] - backup * records no schema hash to compare schema.prisma with",
    ], consecutive=False)
    result.stdout.fnmatch_lines(["SKIPPED * the manifest records no copy window of the files*"])


@pytest.mark.parametrize(("manifest", "message"), [
    ("{not json", "manifest.json is not valid JSON (Expecting property name enclosed in double quotes at line 1): "
                  "a partial or corrupt manifest"),
    ('{"timestamp": "10/12/2025 09:00"}', "manifest.json: timestamp '10/12/2025 09:00' is not a time*"),
    ('{"hello": 1}', "manifest.json is not a backup manifest*"),
    ('{"format": "pytest-deploygate backup manifest", "version": 1, "created_at": "2025-12-10T09:00:00Z", '
     '"dumps": [{"path": "../../etc/passwd"}]}', "manifest.json: dumps[].path '../../etc/passwd' leaves the backup folder*"),
])
def test_bad_manifests_are_one_clear_failure(gate: Gate, manifest: str, message: str) -> None:
    folder = gate.path / "backups" / "20251210_090000"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(manifest)
    backup_gate(gate, None, "backups/*/manifest.json")
    result = gate.run()
    result.stdout.fnmatch_lines([f"FAILED *backup[[]backups:present[]] - backup 20251210_090000: {message}"])
    assert "Traceback" not in result.stdout.str()
    result.stdout.fnmatch_lines(["backup  1 failed, 2 error"])  # present fails; complete and dump could not check


def test_no_backup_at_all(gate: Gate) -> None:
    backup_gate(gate, None, "/nonexistent/backups/*/manifest.json")
    result = gate.run()
    result.stdout.fnmatch_lines(["FAILED *backup[[]backups:present[]] - no backup matches /nonexistent/backups/*/manifest.json",
                                 "FAILED *backup[[]backups:complete[]] - no backup matches *"])


def test_a_database_dump_that_is_not_a_dump(gate: Gate) -> None:
    folder = gate.path / "backups" / "20251210_090000"
    (folder / "uploads").mkdir(parents=True)
    (folder / "database.dump").write_text("this is not a dump\n")
    (folder / "manifest.json").write_text('{"timestamp": "20251210_090000"}')
    backup_gate(gate, None, "backups/*/manifest.json")
    gate.run().stdout.fnmatch_lines(["FAILED *backup[[]backups:dump[]] - dump database.dump is not a pg_dump archive "
                                     "or SQL dump"])


# -- the pieces -----------------------------------------------------------------------------------


def test_the_dump_header_and_its_data_are_read_without_a_server(tmp_path: Path, pg: PostgresDatabase) -> None:
    pg.execute(APP + "INSERT INTO ad_images VALUES (4, E'uploads/tab\\there.webp'), (5, E'back\\\\slash');")
    pg_dump(pg, tmp_path / "db.dump")
    header = read_header(tmp_path / "db.dump")
    assert header.format == "custom"
    assert header.database == pg.name
    assert header.started is not None
    assert abs((dt.datetime.now(dt.UTC) - header.started).total_seconds()) < 120
    rows = list(table_rows(tmp_path / "db.dump", "ad_images", ("file_path",), 60))
    assert rows == [("uploads/ads/ad-1.webp",), ("uploads/ads/ad-2.webp",), (None,), ("uploads/tab\there.webp",),
                    ("back\\slash",)]


def test_deploygate_manifest_finds_the_components_and_writes_atomically(gate: Gate, pg: PostgresDatabase) -> None:
    pg.execute(APP)
    folder = atomic_backup(pg, gate.path, now_stamp())
    assert deploygate(["manifest", str(folder)]) == 0
    backup = read_manifest(folder / "deploygate-manifest.json")
    assert [d.path for d in backup.dumps] == ["database.dump"]
    assert backup.dumps[0].snapshot_at == read_header(folder / "database.dump").started
    assert [(f.root, f.count) for f in backup.files] == [("uploads", 2)]
    assert [(m.path, m.count) for m in backup.migrations] == [("migrations.csv", 2)]
    lines = (folder / "uploads.manifest-sha256.txt").read_text().splitlines()
    assert [line.split("  ")[1] for line in lines] == ["ads/ad-1.webp", "ads/ad-2.webp"]
    assert not list(folder.glob(".*.tmp"))


def test_deploygate_manifest_refuses_a_component_outside_the_backup(gate: Gate, capsys: pytest.CaptureFixture[str]) -> None:
    folder = gate.path / "backup"
    folder.mkdir()
    assert deploygate(["manifest", str(folder), "--dump", str(gate.path / "elsewhere.dump")]) == 1
    assert "deploygate manifest:" in capsys.readouterr().err


def test_a_manifest_path_inside_is_refused_when_it_leaves(tmp_path: Path) -> None:
    (tmp_path / "deploygate-manifest.json").write_text(json.dumps({
        "format": "pytest-deploygate backup manifest", "version": 1, "created_at": "2025-12-10T09:00:00Z",
        "files": [{"root": "/etc"}]}))
    with pytest.raises(CheckError, match="leaves the backup folder"):
        read_manifest(tmp_path / "deploygate-manifest.json")
    shutil.rmtree(tmp_path)


def test_a_plain_sql_dump_cut_short_and_a_damaged_sqlite_copy(gate: Gate, pg: PostgresDatabase) -> None:
    pg.execute(APP)
    folder = gate.path / "backups" / "20251210_090000"
    folder.mkdir(parents=True)
    with pg.connect() as conn:
        version = conn.info.server_version
    plain = subprocess.run([_pg_tool("pg_dump", version), "--dbname", pg.admin_url], check=True,
                           capture_output=True).stdout
    assert b"-- PostgreSQL database dump complete" in plain
    (folder / "database.sql").write_bytes(plain[: len(plain) // 2])
    assert deploygate(["manifest", str(folder)]) == 0
    backup_gate(gate, None, "backups/*/deploygate-manifest.json")
    gate.run().stdout.fnmatch_lines(["FAILED *backup[[]backups:dump[]] - dump database.sql ends without pg_dump's "
                                     "completion line (-- PostgreSQL database dump complete): it was cut short"])

    (folder / "database.sql").write_bytes(plain)
    assert deploygate(["manifest", str(folder)]) == 0
    gate.run().assert_outcomes(passed=3)

    (folder / "database.sql").unlink()
    copy = folder / "app.db"
    gate.sqlite("CREATE TABLE t (x TEXT);" + "INSERT INTO t VALUES (hex(randomblob(500)));" * 200, "backups/20251210_090000/app.db")
    assert deploygate(["manifest", str(folder)]) == 0
    data = bytearray(copy.read_bytes())
    data[4096:4100] = b"\xff" * 4  # the header of the table's root page (page 2): no page type
    # (the checksums item fails too: the file is no longer what the manifest hashed)
    copy.write_bytes(bytes(data))
    backup_gate(gate, None, "backups/*/deploygate-manifest.json", 'verify = "fixity"')
    gate.run().stdout.fnmatch_lines(["FAILED *backup[[]backups:dump[]] - SQLite copy app.db is damaged: *"])


# -- what a first review found ----------------------------------------------------------------------


def test_references_in_a_dump_cut_short_fail_even_without_fixity(gate: Gate, pg: PostgresDatabase) -> None:
    pg.execute("CREATE TABLE ad_images (id int PRIMARY KEY, file_path text);"
               "INSERT INTO ad_images SELECT g, 'uploads/ads/ad-' || g || '.webp' FROM generate_series(1, 20000) g;")
    folder = gate.path / "backups" / "20251210_090000"
    (folder / "uploads" / "ads").mkdir(parents=True)
    with pg.connect() as conn:
        version = conn.info.server_version
    subprocess.run([_pg_tool("pg_dump", version), "-Fc", "-Z0", "--file", str(folder / "database.dump"),
                    "--dbname", pg.admin_url], check=True, capture_output=True)
    for i in range(1, 20001):
        (folder / "uploads" / "ads" / f"ad-{i}.webp").touch()
    dump = folder / "database.dump"
    dump.write_bytes(dump.read_bytes()[: dump.stat().st_size // 2])
    (folder / "manifest.json").write_text('{"timestamp": "20251210_090000"}')
    backup_gate(gate, None, "backups/*/manifest.json", 'references = { table = "ad_images", column = "file_path", root = "uploads" }')
    gate.run().stdout.fnmatch_lines(["FAILED *backup[[]backups:references[]] - pg_restore could not read ad_images from "
                                     "database.dump to its end: pg_restore: error: *"])


def test_references_read_the_schema_they_name(gate: Gate, pg: PostgresDatabase) -> None:
    pg.execute("CREATE SCHEMA archive; CREATE TABLE archive.ad_images (file_path text);"
               "INSERT INTO archive.ad_images VALUES ('uploads/ads/ok.webp');"
               "CREATE TABLE ad_images (file_path text); INSERT INTO ad_images VALUES ('uploads/ads/gone.webp');")
    folder = gate.path / "backups" / "20251210_090000"
    (folder / "uploads" / "ads").mkdir(parents=True)
    (folder / "uploads" / "ads" / "ok.webp").touch()
    pg_dump(pg, folder / "database.dump")
    (folder / "manifest.json").write_text('{"timestamp": "20251210_090000"}')
    backup_gate(gate, None, "backups/*/manifest.json",
                'references = { table = "public.ad_images", column = "file_path", root = "uploads" }')
    gate.run().stdout.fnmatch_lines(["FAILED *references[]] - 1 of 1 files referenced by public.ad_images.file_path * is "
                                     "missing from the backup's uploads"])
    backup_gate(gate, None, "backups/*/manifest.json",
                'references = { table = "ad_images", column = "file_path", root = "uploads" }')
    gate.run().stdout.fnmatch_lines(["FAILED *references[]] - the dump database.dump holds more than one table "
                                     "ad_images (in several schemas): name it as schema.table"])


def test_the_dump_time_is_right_on_a_machine_that_is_not_on_utc(tmp_path: Path, pg: PostgresDatabase,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    pg.execute(APP)
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        pg_dump(pg, tmp_path / "db.dump")  # pg_dump inherits TZ: its header holds New York time
        started = read_header(tmp_path / "db.dump").started
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert started is not None
    assert abs((dt.datetime.now(dt.UTC) - started).total_seconds()) < 120


def test_teams_sizes_as_du_h_writes_them(gate: Gate, pg: PostgresDatabase) -> None:
    pg.execute(APP)
    folder = atomic_backup(pg, gate.path, now_stamp())
    document = json.loads((folder / "manifest.json").read_text())
    allocated = subprocess.run(["du", "-h", str(folder / "database.dump")], capture_output=True, text=True,
                               check=True).stdout.split()[0]
    document["database_size"] = allocated  # blocks, as `du -h` counts them: 4.0K for a 2 KB dump
    (folder / "manifest.json").write_text(json.dumps(document))
    backup_gate(gate, None, "backups/*/manifest.json")
    gate.run("-v").stdout.fnmatch_lines(["*backup[[]backups:complete[]] PASSED*"])


def test_fixity_names_with_odd_characters_and_folders_of_one_name(gate: Gate) -> None:
    folder = gate.path / "backup"
    for root in ("web/uploads", "api/uploads"):
        (folder / root).mkdir(parents=True)
        (folder / root / "plain.webp").write_bytes(b"x")
    (folder / "web/uploads" / "trailing space.webp ").write_bytes(b"y")
    (folder / "web/uploads" / "new\nline.webp").write_bytes(b"z")
    (folder / "web/uploads" / "100%.webp").write_bytes(b"w")
    assert deploygate(["manifest", str(folder), "--files", str(folder / "web/uploads"),
                       "--files", str(folder / "api/uploads")]) == 0
    backup_gate(gate, None, "backup/deploygate-manifest.json", 'verify = "fixity"')
    result = gate.run("-v")
    result.stdout.fnmatch_lines(["*backup[[]backup:checksums[]] PASSED*"])


def test_a_bad_recorded_hash_a_link_out_and_an_emptied_migrations_copy(gate: Gate, pg: PostgresDatabase,
                                                                         tmp_path_factory: pytest.TempPathFactory) -> None:
    pg.execute(APP)
    folder = atomic_backup(pg, gate.path, now_stamp())
    assert deploygate(["manifest", str(folder)]) == 0
    lines = (folder / "migrations.csv").read_text().splitlines()
    (folder / "migrations.csv").write_text(lines[0] + "\n")  # only the header left
    backup_gate(gate, None, "backups/*/deploygate-manifest.json", 'verify = "fixity"')
    result = gate.run()
    result.stdout.fnmatch_lines([
        "FAILED *complete[]] - backup * is incomplete: migrations migrations.csv holds 0 rows, the manifest says 2",
        "FAILED *checksums[]] - 1 file of backup * does not match the manifest: migrations migrations.csv differs *",
    ], consecutive=False)

    outside = tmp_path_factory.mktemp("elsewhere")
    shutil.rmtree(folder / "uploads")
    os.symlink(outside, folder / "uploads")
    gate.run().stdout.fnmatch_lines(["FAILED *complete[]] - uploads in backup * leads outside the backup folder *"])

    document = json.loads((folder / "deploygate-manifest.json").read_text())
    document["dumps"][0]["sha256"] = 123
    (folder / "deploygate-manifest.json").write_text(json.dumps(document))
    result = gate.run()
    result.stdout.fnmatch_lines(["FAILED *present[]] - backup *: deploygate-manifest.json: dumps[].sha256 123 is not a "
                                 "sha256 (64 hex digits)"])
    assert "Traceback" not in result.stdout.str()
