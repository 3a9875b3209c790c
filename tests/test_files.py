"""[[files]]: what the database references against what is on disk, both ways (incident 3)."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from pytest_deploygate.checks import paths as paths_module
from pytest_deploygate.checks.paths import PathReader, confined_target, glob_regex, shown, walk

from .conftest import Backend, Gate, PostgresDatabase

AD_IMAGES = """
CREATE TABLE ad_images (id INTEGER PRIMARY KEY, ad_id INTEGER, file_path TEXT);
INSERT INTO ad_images (id, ad_id, file_path) VALUES
  (1, 10, 'uploads/ads/ad-1759979208010-a.webp'),
  (2, 10, 'uploads/ads/ad-1759979208010-b.webp'),
  (3, 11, 'uploads/ads/ad-1759979208011-a.webp');
"""


def uploads(root: Path, *names: str, content: bytes = b"RIFF....WEBP") -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def files_gate(db: Backend, extra: str = "", source: str = 'table = "ad_images"\ncolumn = "file_path"') -> None:
    db.config(f'[[files]]\ndatabase = "main"\n{source}\nroot = "public"\n{extra}\n')


# -- incident 3 -----------------------------------------------------------------------------------


def test_every_referenced_file_present_passes(db: Backend) -> None:
    db.execute(AD_IMAGES)
    uploads(db.gate.path / "public", "uploads/ads/ad-1759979208010-a.webp", "uploads/ads/ad-1759979208010-b.webp",
            "uploads/ads/ad-1759979208011-a.webp")
    files_gate(db)
    result = db.gate.run("-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*files[[]main.ad_images.file_path:missing[]] PASSED*"])


def test_incident_3_names_the_rows_whose_files_are_missing(db: Backend) -> None:
    """The database and the uploads came from different backups: two uploads are not there."""
    db.execute(AD_IMAGES)
    uploads(db.gate.path / "public", "uploads/ads/ad-1759979208010-a.webp")
    files_gate(db)
    result = db.gate.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "2 of 3 files referenced by ad_images.file_path are missing under public",
        "  id=2: uploads/ads/ad-1759979208010-b.webp",
        "  id=3: uploads/ads/ad-1759979208011-a.webp",
        "FAILED deploygate.toml::files[[]main.ad_images.file_path:missing[]] - 2 of 3 files referenced by "
        "ad_images.file_path are missing under public",
    ])


def test_a_query_names_the_files(db: Backend) -> None:
    db.execute(AD_IMAGES)
    uploads(db.gate.path / "public", "uploads/ads/ad-1759979208010-a.webp")
    files_gate(db, source='name = "ad-images"\nquery = "SELECT file_path FROM ad_images WHERE ad_id = 10"')
    result = db.gate.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "FAILED deploygate.toml::files[[]ad-images:missing[]] - 1 of 2 files referenced by the query is missing "
        "under public"])


def test_a_query_whose_first_column_is_not_a_path_is_a_clear_failure(db: Backend) -> None:
    db.execute(AD_IMAGES)
    (db.gate.path / "public").mkdir()
    files_gate(db, source='name = "wrong"\nquery = "SELECT id, file_path FROM ad_images"')
    result = db.gate.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["FAILED *files[[]wrong:missing[]] - the query's first column must hold text (a path), "
                                 "got int 1"])


def test_key_and_where_choose_the_rows_and_name_them(db: Backend) -> None:
    db.execute(AD_IMAGES)
    (db.gate.path / "public").mkdir()
    files_gate(db, 'key = ["ad_id", "id"]\nwhere = "ad_id = 11"')
    db.gate.run().stdout.fnmatch_lines(["  ad_id=11, id=3: uploads/ads/ad-1759979208011-a.webp"])


# -- both directions ------------------------------------------------------------------------------


def test_orphans_are_files_matching_the_glob_that_no_row_references(db: Backend) -> None:
    db.execute(AD_IMAGES)
    public = db.gate.path / "public"
    uploads(public, "uploads/ads/ad-1759979208010-a.webp", "uploads/ads/ad-1759979208010-b.webp",
            "uploads/ads/ad-1759979208011-a.webp", "uploads/ads/2025/old.webp", "uploads/ads/stray.webp",
            "uploads/ads/notes.txt", "uploads/avatars/me.webp")
    files_gate(db, 'orphans = "uploads/ads/**/*.webp"')
    result = db.gate.run("-v")
    assert result.ret == 0  # orphans_severity is warn by default
    result.stdout.fnmatch_lines([
        "*files[[]main.ad_images.file_path:missing[]] PASSED*",
        "WARN deploygate.toml::files[[]main.ad_images.file_path:orphans[]] - 2 files under public match "
        "uploads/ads/**/*.webp but no row of ad_images.file_path references them",
    ], consecutive=False)

    files_gate(db, 'orphans = "uploads/ads/**/*.webp"\norphans_severity = "fail"')
    result = db.gate.run()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["  uploads/ads/2025/old.webp", "  uploads/ads/stray.webp"])


def test_min_size_fails_referenced_files_that_are_too_small(db: Backend) -> None:
    db.execute(AD_IMAGES)
    public = db.gate.path / "public"
    uploads(public, "uploads/ads/ad-1759979208010-a.webp", "uploads/ads/ad-1759979208011-a.webp")
    uploads(public, "uploads/ads/ad-1759979208010-b.webp", content=b"")
    files_gate(db, "min_size = 1")
    result = db.gate.run()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "FAILED *files[[]main.ad_images.file_path:empty[]] - 1 of 3 files referenced by ad_images.file_path is "
        "smaller than 1 byte"])


# -- paths as users store them --------------------------------------------------------------------


def test_paths_as_users_store_them(db: Backend) -> None:
    db.execute("""
        CREATE TABLE ad_images (id INTEGER PRIMARY KEY, file_path TEXT);
        INSERT INTO ad_images (id, file_path) VALUES
          (1, '/uploads/a.webp'), (2, './uploads/b.webp'), (3, 'uploads//c.webp'),
          (4, 'https://cdn.example.com/uploads/d.webp'), (5, '/static/uploads/e.webp'), (6, 'UPLOADS/F.WEBP'),
          (7, NULL), (8, ''), (9, '  ');
    """)
    uploads(db.gate.path / "public", "uploads/a.webp", "uploads/b.webp", "uploads/c.webp", "uploads/d.webp",
            "uploads/e.webp", "uploads/f.webp")
    files_gate(db, 'strip_prefix = ["https://cdn.example.com/", "/static/"]\ncase_insensitive = true')
    result = db.gate.run("-v", "--junitxml", "junit.xml")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*files[[]main.ad_images.file_path:missing[]] PASSED*"])
    case = ET.parse(db.gate.path / "junit.xml").getroot().find(".//testcase")
    assert case is not None
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert (props["referenced"], props["found"], props["missing"], props["null"], props["empty_values"]) == \
        ("6", "6", "0", "1", "2")


def test_without_case_insensitive_case_matters(db: Backend) -> None:
    db.execute("CREATE TABLE ad_images (id INTEGER PRIMARY KEY, file_path TEXT);"
                "INSERT INTO ad_images VALUES (1, 'uploads/A.webp');")
    uploads(db.gate.path / "public", "uploads/a.webp")
    files_gate(db)
    db.gate.run().assert_outcomes(failed=1)


def test_null_and_empty_values_are_counted_and_said(db: Backend) -> None:
    db.execute("CREATE TABLE ad_images (id INTEGER PRIMARY KEY, file_path TEXT);"
                "INSERT INTO ad_images VALUES (1, 'uploads/a.webp'), (2, NULL), (3, ''), (4, 'uploads/gone.webp');")
    uploads(db.gate.path / "public", "uploads/a.webp")
    files_gate(db)
    db.gate.run().stdout.fnmatch_lines(["FAILED *:missing] - 1 of 2 files referenced by ad_images.file_path is "
                                        "missing under public (not counted: 1 NULL, 1 empty)"])


# -- paths stay inside their root -----------------------------------------------------------------


def test_every_way_out_of_the_root_is_invalid_and_never_followed(gate: Gate, tmp_path_factory: pytest.TempPathFactory) -> None:
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.webp").write_bytes(b"secret")
    public = gate.path / "public"
    uploads(public, "uploads/ok.webp")
    os.symlink(outside / "secret.webp", public / "uploads" / "link-out.webp")  # a link pointing out
    os.symlink("../../..", public / "uploads" / "up")  # a link to a folder above the root
    root_abs = str(public.resolve())
    gate.sqlite(f"""
        CREATE TABLE ad_images (id INTEGER PRIMARY KEY, file_path TEXT);
        INSERT INTO ad_images VALUES
          (1, 'uploads/ok.webp'),
          (2, '../outside/secret.webp'),
          (3, 'uploads/../../outside/secret.webp'),
          (4, 'uploads/link-out.webp'),
          (5, 'uploads/ok.webp' || char(0) || '.txt'),
          (6, '{outside / "secret.webp"}'),
          (7, '{root_abs}/uploads/ok.webp'),
          (8, 'uploads/up/etc/passwd');
    """)
    gate.config('[deploygate]\nsamples = 10\n[databases.main]\nurl = "sqlite:///app.db"\n[[files]]\n'
                'table = "ad_images"\ncolumn = "file_path"\nroot = "public"\n')
    result = gate.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        # 6: an absolute path elsewhere is read under the root (a web path): missing there, not read there
        "1 of 8 files referenced by ad_images.file_path is missing under public, and 5 are invalid "
        "(never looked up)",
        "  id=2: ../outside/secret.webp (has a .. part)",
        "  id=3: uploads/../../outside/secret.webp (has a .. part)",
        "  id=4: uploads/link-out.webp (a link that points outside the root)",
        "  id=5: uploads/ok.webp\\x00.txt (contains a NUL byte)",
        # through a link to a folder above the root: the link is out, so the path is
        "  id=8: uploads/up/etc/passwd (through a link that points outside the root)",
        f"  id=6: {outside / 'secret.webp'}",
    ])


def test_a_link_out_is_resolved_without_looking_outside_the_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outside = tmp_path / "outside"
    uploads(outside, "target/secret.webp")
    root = tmp_path / "root"
    uploads(root, "a/inside.webp")
    os.symlink(outside / "target" / "secret.webp", root / "a" / "absolute-out.webp")
    os.symlink("../../outside/target/secret.webp", root / "a" / "relative-out.webp")
    os.symlink("inside.webp", root / "a" / "hop1.webp")
    os.symlink("hop1.webp", root / "a" / "hop2.webp")
    os.symlink("missing.webp", root / "a" / "broken.webp")
    os.symlink("loop.webp", root / "a" / "loop.webp")
    looked_at: list[str] = []
    real_lstat = os.lstat

    def recording_lstat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        looked_at.append(os.fspath(path))
        return real_lstat(path, *args, **kwargs)

    monkeypatch.setattr(paths_module.os, "lstat", recording_lstat)
    found = walk(root)
    assert sorted(found.files) == ["a/hop1.webp", "a/hop2.webp", "a/inside.webp"]
    assert found.escaping == {"a/absolute-out.webp": "a link that points outside the root",
                              "a/relative-out.webp": "a link that points outside the root",
                              "a/broken.webp": "a link to nothing (broken)",
                              "a/loop.webp": "a loop of links"}
    # inside the root, or the root's own path being resolved: nothing beside or below `outside`
    real_root = str(root.resolve())
    assert looked_at
    assert all(path.startswith(real_root) or real_root.startswith(path) for path in looked_at), looked_at
    assert not any(path.startswith(str(outside)) for path in looked_at)
    assert confined_target(str(root.resolve() / "a" / "hop2.webp"), str(root.resolve())) == \
        (str(root.resolve() / "a" / "inside.webp"), "")


def test_names_that_are_not_utf8_are_shown_escaped(gate: Gate) -> None:
    public = gate.path / "public"
    (public / "uploads").mkdir(parents=True)
    (public / "uploads").joinpath(os.fsdecode(b"caf\xe9.webp")).write_bytes(b"x")
    gate.sqlite("CREATE TABLE ad_images (id INTEGER PRIMARY KEY, file_path TEXT);")
    import sqlite3

    with sqlite3.connect(gate.path / "app.db") as conn:
        conn.executemany("INSERT INTO ad_images (file_path) VALUES (CAST(? AS TEXT))",
                         [(b"uploads/caf\xe9.webp",), (b"uploads/gone-\xff.webp",)])
    conn.close()
    gate.config('[databases.main]\nurl = "sqlite:///app.db"\n[[files]]\ntable = "ad_images"\ncolumn = "file_path"\n'
                'root = "public"\norphans = "**"\norphans_severity = "fail"\n')
    result = gate.run()
    result.assert_outcomes(passed=1, failed=1)  # the Latin-1 name on disk matches its bytes in the database
    result.stdout.fnmatch_lines(["  id=2: uploads/gone-\\xff.webp"])


def test_an_unreadable_folder_is_reported_and_the_rest_still_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    uploads(tmp_path, "public/a.webp", "public/locked/b.webp", "public/open/c.webp")
    real_scandir = os.scandir

    def scandir(path: Any) -> Any:
        if os.fspath(path).endswith("locked"):
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(paths_module.os, "scandir", scandir)
    found = walk(tmp_path / "public")
    assert sorted(found.files) == ["a.webp", "open/c.webp"]
    assert found.unreadable == [("locked", "Permission denied")]


def test_an_unreadable_folder_makes_a_pass_a_could_not_check(gate: Gate) -> None:
    gate.sqlite("CREATE TABLE ad_images (id INTEGER PRIMARY KEY, file_path TEXT);"
                "INSERT INTO ad_images VALUES (1, 'a.webp');")
    uploads(gate.path / "public", "a.webp", "locked/b.webp")
    gate.config('[databases.main]\nurl = "sqlite:///app.db"\n[[files]]\ntable = "ad_images"\ncolumn = "file_path"\n'
                'root = "public"\n')
    gate.pytester.makeconftest("""
import os
from pytest_deploygate.checks import paths

real = os.scandir

def scandir(path):
    if os.fspath(path).endswith("locked"):
        raise PermissionError(13, "Permission denied")
    return real(path)

def pytest_configure(config):
    paths.os.scandir = scandir

def pytest_unconfigure(config):
    paths.os.scandir = real
""")
    result = gate.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["FAILED *:missing] - 1 folder under public could not be read, so files referenced by "
                                 "ad_images.file_path may be there unseen: cannot read locked under public: "
                                 "Permission denied"])


def test_a_missing_root_is_one_clear_failure(gate: Gate) -> None:
    gate.sqlite(AD_IMAGES)
    gate.config('[databases.main]\nurl = "sqlite:///app.db"\n[[files]]\ntable = "ad_images"\ncolumn = "file_path"\n'
                'root = "apps/web/public"\n')
    result = gate.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"FAILED *:missing] - root apps/web/public does not exist ({gate.path}/apps/web/public)"])


# -- safety and config ----------------------------------------------------------------------------


def test_a_files_query_is_refused_on_a_superuser(gate: Gate, pg: PostgresDatabase) -> None:
    pg.execute("CREATE TABLE ad_images (id int PRIMARY KEY, file_path text);")
    (gate.path / "public").mkdir()
    gate.config(f'[databases.main]\nurl = "{pg.admin_url}"\n[[files]]\nname = "q"\n'
                'query = "SELECT file_path FROM ad_images"\nroot = "public"\n')
    result = gate.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["FAILED *files[[]q:missing[]] - *superuser*allow_privileged*"])


@pytest.mark.parametrize(("keys", "message"), [
    ('root = "public"', 'key "query": give either query (its first column is the path) or table and column, one of them'),
    ('table = "ad_images"\nroot = "public"', 'key "column": is required with table'),
    ('query = "SELECT 1"\ncolumn = "x"\nroot = "public"', 'key "column": goes with table, not with query'),
    ('table = "ad_images"\ncolumn = "file_path"', 'key "root": is required'),
    ('table = "ad_images"\ncolumn = "file_path"\nroot = "public"\norphans_severity = "fail"',
     'key "orphans_severity": goes with orphans'),
    ('table = "ad_images"\ncolumn = "file_path"\nroot = "public"\nmin_size = -1', 'key "min_size": '),
    ('table = "ad_images"\ncolumn = "file_path"\nroot = "public"\norphan = "*"', 'key "orphan": unknown key (did you mean "orphans"?)'),
    ('table = "ad_images"\ncolumn = "file_path"\nroot = "public"\norphans = "uploads/**/"',
     'key "orphans": "uploads/**/" names folders, and orphans are files'),
    ('table = "ad_images"\ncolumn = "file_path"\nroot = ""', 'key "root": is empty'),
])
def test_files_config_mistakes_are_one_message(gate: Gate, keys: str, message: str) -> None:
    gate.sqlite(AD_IMAGES)
    gate.config('[databases.main]\nurl = "sqlite:///app.db"\n[[files]]\n' + keys + "\n")
    result = gate.run()
    assert result.ret != 0
    assert any(line.startswith("deploygate.toml: [[files]] #1: " + message) for line in result.stdout.lines), \
        result.stdout.str()


def test_missing_and_orphans_share_one_walk_under_xdist(db: Backend) -> None:
    db.execute(AD_IMAGES)
    uploads(db.gate.path / "public", "uploads/ads/ad-1759979208010-a.webp", "uploads/ads/ad-1759979208010-b.webp",
            "uploads/ads/ad-1759979208011-a.webp")
    files_gate(db, 'orphans = "uploads/**"\nmin_size = 1')
    db.gate.run("-n", "2", "--dist", "loadgroup").assert_outcomes(passed=3)


def test_a_million_referenced_paths_are_streamed_in_bounded_memory(gate: Gate, pg: PostgresDatabase) -> None:
    (gate.path / "public").mkdir()
    gate.config(f'[databases.main]\nurl = "{pg.url}"\n[[files]]\nname = "many"\nroot = "public"\n'
                "query = \"SELECT 'uploads/ads/ad-' || g || '.webp' FROM generate_series(1, 1000000) g\"\n")
    gate.pytester.makeconftest("""
import re

def pytest_sessionfinish(session):
    with open("/proc/self/status") as status, open("peak.txt", "w") as fh:
        fh.write(re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1))
""")
    result = gate.run_subprocess()
    result.stdout.fnmatch_lines(["*files[[]many:missing[]] - 1,000,000 of 1,000,000 files referenced by the query "
                                 "are missing under public"])
    # held, a million paths and their rows would add well over 100 MB to the ~55 MB of pytest
    assert int((gate.path / "peak.txt").read_text()) < 120_000  # KiB


# -- the pieces -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("pattern", "path", "matches"), [
    ("uploads/ads/**/*.webp", "uploads/ads/a.webp", True),
    ("uploads/ads/**/*.webp", "uploads/ads/2025/10/a.webp", True),
    ("uploads/ads/**/*.webp", "uploads/ads/a.png", False),
    ("uploads/ads/*.webp", "uploads/ads/2025/a.webp", False),
    ("**", "any/thing/at/all", True),
    ("uploads/?.webp", "uploads/a.webp", True),
    ("uploads/[ab].webp", "uploads/c.webp", False),
    ("uploads/[!ab].webp", "uploads/c.webp", True),
    ("a+b(c).webp", "a+b(c).webp", True),
])
def test_glob(pattern: str, path: str, matches: bool) -> None:
    assert bool(glob_regex(pattern).match(path)) is matches


@pytest.mark.parametrize(("stored", "relative", "why"), [
    ("uploads/a.webp", "uploads/a.webp", ""),
    ("/uploads/a.webp", "uploads/a.webp", ""),
    ("./uploads//a.webp", "uploads/a.webp", ""),
    ("/srv/app/public/uploads/a.webp", "uploads/a.webp", ""),
    ("uploads/./a.webp", "uploads/a.webp", ""),
    ("uploads/../a.webp", "", "has a .. part"),
    ("..", "", "has a .. part"),
    ("a\x00b", "", "contains a NUL byte"),
    ("   ", "", "empty"),
    ("/", "", "empty"),
    ("uploads/.hidden.webp", "uploads/.hidden.webp", ""),
])
def test_stored_paths_become_relative_or_invalid(stored: str, relative: str, why: str) -> None:
    assert PathReader([Path("/srv/app/public")]).relative(stored) == (relative, why)


def test_shown_escapes_what_cannot_be_printed() -> None:
    assert shown(os.fsdecode(b"caf\xe9")) == "caf\\xe9"
    assert shown("a\nb") == "a\\nb"
    assert shown("café") == "café"


# -- what a first review found ----------------------------------------------------------------------


def test_a_table_without_a_primary_key_names_rows_by_their_row_id(db: Backend) -> None:
    db.execute("CREATE TABLE images (file_path TEXT); INSERT INTO images VALUES ('uploads/gone.webp');")
    (db.gate.path / "public").mkdir()
    files_gate(db, source='table = "images"\ncolumn = "file_path"')
    result = db.gate.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["  ctid=(0,1): uploads/gone.webp" if db.name == "postgresql"
                                 else "  rowid=1: uploads/gone.webp"])


def test_a_column_that_holds_no_text_is_a_clear_failure(gate: Gate, pg: PostgresDatabase) -> None:
    pg.execute("CREATE TABLE images (id int PRIMARY KEY, paths text[]); INSERT INTO images VALUES (1, '{a,b}');")
    (gate.path / "public").mkdir()
    gate.config(f'[databases.main]\nurl = "{pg.url}"\n[[files]]\ntable = "images"\ncolumn = "paths"\nroot = "public"\n')
    result = gate.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["FAILED *:missing] - column images.paths must hold text (a path), got list *"])
    assert "Traceback" not in result.stdout.str()


@pytest.mark.parametrize("glob", ["[!]", "uploads/[!]a].webp", "uploads/[[]x].webp"])
def test_any_glob_is_read_without_a_traceback(gate: Gate, glob: str) -> None:
    gate.sqlite(AD_IMAGES)
    uploads(gate.path / "public", "uploads/[x].webp", "uploads/b.webp")
    gate.config('[databases.main]\nurl = "sqlite:///app.db"\n[[files]]\ntable = "ad_images"\ncolumn = "file_path"\n'
                f'root = "public"\norphans = \'{glob}\'\n')
    result = gate.run("-W", "error")
    assert "Traceback" not in result.stdout.str()
    # the missing item fails (the rows name files that are not there); the orphans item ran too
    assert result.parseoutcomes() == ({"passed": 1, "failed": 1} if glob == "[!]" else {"failed": 1, "warned": 1})


def test_an_absolute_path_under_the_root_is_found_whatever_the_prefixes(db: Backend) -> None:
    public = db.gate.path / "public"
    uploads(public, "uploads/a.webp")
    db.execute("CREATE TABLE ad_images (id INTEGER PRIMARY KEY, file_path TEXT);"
               f"INSERT INTO ad_images VALUES (1, '{public.resolve()}/uploads/a.webp');")
    files_gate(db, 'strip_prefix = ["/", "https://cdn.example.com/"]')
    db.gate.run().assert_outcomes(passed=1)


def test_case_insensitive_covers_prefixes_and_shows_names_as_on_disk(db: Backend) -> None:
    public = db.gate.path / "public"
    uploads(public, "Uploads/A.webp", "Uploads/Orphan.WEBP")
    db.execute("CREATE TABLE ad_images (id INTEGER PRIMARY KEY, file_path TEXT);"
               "INSERT INTO ad_images VALUES (1, '/Static/UPLOADS/a.webp');")
    files_gate(db, 'strip_prefix = "/static/"\ncase_insensitive = true\norphans = "uploads/*.webp"\n'
                   'orphans_severity = "fail"')
    result = db.gate.run()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["  Uploads/Orphan.WEBP"])


def test_a_stored_path_through_a_link_to_a_folder_inside_the_root(db: Backend) -> None:
    public = db.gate.path / "public"
    uploads(public, "releases/v2/a.webp")
    os.symlink("releases/v2", public / "current")
    db.execute("CREATE TABLE ad_images (id INTEGER PRIMARY KEY, file_path TEXT);"
               "INSERT INTO ad_images VALUES (1, 'current/a.webp'), (2, 'current/gone.webp');")
    files_gate(db, 'orphans = "releases/**"\norphans_severity = "fail"')
    result = db.gate.run()
    result.assert_outcomes(passed=1, failed=1)  # a.webp is referenced through the link: no orphan
    result.stdout.fnmatch_lines(["FAILED *:missing] - 1 of 2 files referenced by ad_images.file_path is missing "
                                 "under public", ])


def test_an_empty_root_is_a_config_error(gate: Gate) -> None:
    gate.sqlite(AD_IMAGES)
    gate.config('[databases.main]\nurl = "sqlite:///app.db"\n[[files]]\ntable = "ad_images"\ncolumn = "file_path"\n'
                'root = ""\n')
    result = gate.run()
    assert result.ret != 0
    result.stdout.fnmatch_lines(['*files]] #1: key "root": is empty*'])
