"""[[migrations]]: each tool's real tracking table and folder layout, built by the test.

The tools are not installed: each test writes the files the tool would have on disk and the rows
it would have written (checksums computed as the tool computes them), then runs the gate.
"""

from __future__ import annotations

import hashlib
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_deploygate.checks.migrations import flyway_checksum, prisma_checksum, sqlx_checksum

from .conftest import Gate, PostgresDatabase

Run = Callable[[str], None]


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(textwrap.dedent(text).encode())


def pg_config(gate: Gate, pg: PostgresDatabase, tool: str, directory: str = "migrations", extra: str = "") -> None:
    gate.config(f'[databases.main]\nurl = "{pg.url}"\n\n[[migrations]]\ntool = "{tool}"\n'
                f'directory = "{directory}"\n{extra}')


def sqlite_config(gate: Gate, tool: str, directory: str = "migrations") -> None:
    gate.config(f'[databases.main]\nurl = "sqlite:///app.db"\n\n[[migrations]]\ntool = "{tool}"\n'
                f'directory = "{directory}"\n')


def item(name: str) -> str:
    """`migrations[main:pending]` as an fnmatch pattern."""
    return name.replace("[", "[[]")


# -- prisma ---------------------------------------------------------------------------------

PRISMA_PG = """
CREATE TABLE "_prisma_migrations" (
    "id" VARCHAR(36) NOT NULL PRIMARY KEY,
    "checksum" VARCHAR(64) NOT NULL,
    "finished_at" TIMESTAMPTZ,
    "migration_name" VARCHAR(255) NOT NULL,
    "logs" TEXT,
    "rolled_back_at" TIMESTAMPTZ,
    "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count" INTEGER NOT NULL DEFAULT 0
);
"""
PRISMA_SQLITE = """
CREATE TABLE "_prisma_migrations" (
    "id" TEXT PRIMARY KEY NOT NULL,
    "checksum" TEXT NOT NULL,
    "finished_at" DATETIME,
    "migration_name" TEXT NOT NULL,
    "logs" TEXT,
    "rolled_back_at" DATETIME,
    "started_at" DATETIME NOT NULL DEFAULT current_timestamp,
    "applied_steps_count" INTEGER UNSIGNED NOT NULL DEFAULT 0
);
"""
PRISMA_FILES = {
    "20251001120000_init": "-- CreateTable\nCREATE TABLE \"ads\" (\"id\" SERIAL NOT NULL);\n",
    "20251002120000_add_slug": "-- AlterTable\nALTER TABLE \"ads\" ADD COLUMN \"slug\" TEXT;\n",
    "20251003120000_favorites": "-- CreateTable\nCREATE TABLE \"user_favorites\" (\"user_id\" INTEGER NOT NULL);\n",
}


def prisma_folder(root: Path, names: list[str] | None = None) -> None:
    names = list(PRISMA_FILES) if names is None else names
    write(root, {f"migrations/{name}/migration.sql": PRISMA_FILES[name] for name in names})
    write(root, {"migrations/migration_lock.toml": 'provider = "postgresql"\n'})


def prisma_row(name: str, *, checksum: str | None = None, finished: bool = True, rolled_back: bool = False,
               logs: str | None = None) -> str:
    checksum = checksum or prisma_checksum(PRISMA_FILES[name].encode())
    finished_at = "'2025-10-01 12:00:01'" if finished else "NULL"
    rolled = "'2025-10-01 12:05:00'" if rolled_back else "NULL"
    log = "NULL" if logs is None else "'" + logs.replace("'", "''") + "'"
    return (f"INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at) "
            f"VALUES ('{hashlib.md5(name.encode() + str(rolled_back).encode()).hexdigest()}', '{checksum}', "
            f"{finished_at}, '{name}', {log}, {rolled}, '{name[:8]}');\n")


def test_prisma_in_sync_passes_all_five_items(gate: Gate, pg: PostgresDatabase) -> None:
    prisma_folder(gate.path)
    pg.execute(PRISMA_PG + "".join(prisma_row(name) for name in PRISMA_FILES))
    pg_config(gate, pg, "prisma")
    result = gate.run("-v")
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines([f"*{item(f'migrations[main:{aspect}]')} PASSED*"
                                 for aspect in ("table", "pending", "missing", "failed", "checksums")])


def test_prisma_pending_migrations_fail_naming_them(gate: Gate, pg: PostgresDatabase) -> None:
    prisma_folder(gate.path)
    pg.execute(PRISMA_PG + prisma_row("20251001120000_init"))
    pg_config(gate, pg, "prisma")
    result = gate.run()
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines([
        "2 migrations on disk are not applied to main (prisma)",
        "  20251002120000_add_slug",
        "  20251003120000_favorites",
        f"FAILED *{item('migrations[main:pending]')} - 2 migrations on disk are not applied to main (prisma)",
    ])


def test_prisma_applied_migration_missing_on_disk_fails_naming_it(gate: Gate, pg: PostgresDatabase) -> None:
    prisma_folder(gate.path, ["20251001120000_init", "20251003120000_favorites"])
    pg.execute(PRISMA_PG + "".join(prisma_row(name) for name in PRISMA_FILES))
    pg_config(gate, pg, "prisma")
    result = gate.run()
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines([f"FAILED *{item('migrations[main:missing]')} - 1 applied migration of main (prisma) "
                                 "is missing on disk: 20251002120000_add_slug"])


def test_prisma_failed_migration_fails_with_its_log(gate: Gate, pg: PostgresDatabase) -> None:
    prisma_folder(gate.path)
    pg.execute(PRISMA_PG + prisma_row("20251001120000_init") + prisma_row("20251002120000_add_slug")
               + prisma_row("20251003120000_favorites", finished=False,
                            logs='\nDatabase error code: 42P07\nrelation "user_favorites" already exists'))
    pg_config(gate, pg, "prisma")
    result = gate.run()
    result.assert_outcomes(passed=3, failed=2)  # failed, and (not applied) pending
    result.stdout.fnmatch_lines([
        "migration 20251003120000_favorites failed (finished_at NULL, not rolled back)",
        "  Database error code: 42P07",
        f"FAILED *{item('migrations[main:pending]')} - 1 migration on disk is not applied to main (prisma): 20251003120000_favorites",
        f"FAILED *{item('migrations[main:failed]')} - migration 20251003120000_favorites failed (finished_at NULL, not rolled back)",
    ], consecutive=False)


def test_prisma_rolled_back_migration_is_pending_not_failed(gate: Gate, pg: PostgresDatabase) -> None:
    prisma_folder(gate.path)
    pg.execute(PRISMA_PG + prisma_row("20251001120000_init") + prisma_row("20251002120000_add_slug")
               + prisma_row("20251003120000_favorites", finished=False, rolled_back=True))
    pg_config(gate, pg, "prisma")
    result = gate.run("-v")
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines([f"*{item('migrations[main:failed]')} PASSED*",
                                 f"FAILED *{item('migrations[main:pending]')} - *: 20251003120000_favorites"])


def test_prisma_rolled_back_then_reapplied_migration_is_applied(gate: Gate, pg: PostgresDatabase) -> None:
    prisma_folder(gate.path)
    pg.execute(PRISMA_PG + "".join(prisma_row(name) for name in PRISMA_FILES)
               + prisma_row("20251003120000_favorites", finished=False, rolled_back=True))
    pg_config(gate, pg, "prisma")
    gate.run().assert_outcomes(passed=5)


def test_prisma_edited_migration_fails_its_checksum(gate: Gate, pg: PostgresDatabase) -> None:
    prisma_folder(gate.path)
    pg.execute(PRISMA_PG + "".join(prisma_row(name) for name in PRISMA_FILES))
    edited = gate.path / "migrations/20251002120000_add_slug/migration.sql"
    edited.write_text(PRISMA_FILES["20251002120000_add_slug"] + "CREATE INDEX ads_slug ON ads (slug);\n")
    database = prisma_checksum(PRISMA_FILES["20251002120000_add_slug"].encode())[:8]
    disk = prisma_checksum(edited.read_bytes())[:8]
    pg_config(gate, pg, "prisma")
    result = gate.run()
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines([f"FAILED *{item('migrations[main:checksums]')} - checksum of 20251002120000_add_slug "
                                 f"differs: database {database}…, disk {disk}…"])


def test_prisma_accepts_a_crlf_checkout_and_old_unpadded_checksums(gate: Gate, pg: PostgresDatabase) -> None:
    prisma_folder(gate.path)
    crlf = gate.path / "migrations/20251001120000_init/migration.sql"
    crlf.write_bytes(PRISMA_FILES["20251001120000_init"].replace("\n", "\r\n").encode())
    # old engines wrote each byte's hex without its leading zero (prisma-engines #1887)
    digest = hashlib.sha256(PRISMA_FILES["20251002120000_add_slug"].encode()).digest()
    unpadded = "".join(f"{byte:x}" for byte in digest)
    pg.execute(PRISMA_PG + prisma_row("20251001120000_init")
               + prisma_row("20251002120000_add_slug", checksum=unpadded) + prisma_row("20251003120000_favorites"))
    pg_config(gate, pg, "prisma")
    gate.run().assert_outcomes(passed=5)


def test_no_prisma_tracking_table_fails_every_item_with_that_cause(gate: Gate, pg: PostgresDatabase) -> None:
    # incident 1: a restore lost tables, and _prisma_migrations with them
    prisma_folder(gate.path)
    pg.execute("CREATE TABLE ads (id int)")
    pg_config(gate, pg, "prisma", directory="migrations")
    result = gate.run()
    result.assert_outcomes(failed=5)
    result.stdout.fnmatch_lines([
        f"FAILED *{item(f'migrations[main:{aspect}]')} - tracking table _prisma_migrations is missing in main (prisma)"
        for aspect in ("table", "pending", "missing", "failed", "checksums")
    ], consecutive=False)
    assert "Traceback" not in result.stdout.str()


def test_prisma_on_sqlite_in_sync_and_pending(gate: Gate) -> None:
    prisma_folder(gate.path)
    gate.sqlite(PRISMA_SQLITE + prisma_row("20251001120000_init") + prisma_row("20251002120000_add_slug"))
    sqlite_config(gate, "prisma")
    result = gate.run()
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines([f"FAILED *{item('migrations[main:pending]')} - 1 migration on disk is not applied "
                                 "to main (prisma): 20251003120000_favorites"])


def test_no_tracking_table_on_sqlite_fails_clearly(gate: Gate) -> None:
    prisma_folder(gate.path)
    gate.sqlite("CREATE TABLE ads (id INTEGER PRIMARY KEY);")
    sqlite_config(gate, "prisma")
    result = gate.run()
    result.assert_outcomes(failed=5)
    result.stdout.fnmatch_lines(["FAILED *:table] - tracking table _prisma_migrations is missing in main (prisma)"])


def test_a_renamed_schema_qualified_tracking_table_is_read(gate: Gate, pg: PostgresDatabase) -> None:
    prisma_folder(gate.path)
    pg.execute("CREATE SCHEMA ops;" + PRISMA_PG.replace('"_prisma_migrations"', 'ops."migrations_log"')
               + "".join(prisma_row(name).replace("_prisma_migrations", "ops.migrations_log") for name in PRISMA_FILES))
    pg_config(gate, pg, "prisma", extra='table = "ops.migrations_log"\n')
    gate.run().assert_outcomes(passed=5)


def test_one_read_of_the_table_and_the_folder_serves_every_item_even_under_xdist(gate: Gate, pg: PostgresDatabase) -> None:
    prisma_folder(gate.path)
    pg.execute(PRISMA_PG + prisma_row("20251001120000_init"))
    pg_config(gate, pg, "prisma")
    serial = gate.run().parseoutcomes()
    parallel = gate.run_subprocess("-n", "2").parseoutcomes()
    assert serial == parallel == {"passed": 4, "failed": 1}


# -- alembic --------------------------------------------------------------------------------

ALEMBIC_PG = """
CREATE TABLE alembic_version (
    version_num VARCHAR(32) NOT NULL,
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
"""


def alembic_revision(revision: str, down: str | tuple[str, ...] | None) -> str:
    return textwrap.dedent(f'''\
        """{revision}

        Revision ID: {revision}
        Revises: {down}
        """
        from typing import Sequence, Union

        from alembic import op
        import sqlalchemy as sa

        # revision identifiers, used by Alembic.
        revision: str = {revision!r}
        down_revision: Union[str, Sequence[str], None] = {down!r}
        branch_labels: Union[str, Sequence[str], None] = None
        depends_on: Union[str, Sequence[str], None] = None


        def upgrade() -> None:
            op.add_column("ads", sa.Column("c_{revision}", sa.Text()))


        def downgrade() -> None:
            op.drop_column("ads", "c_{revision}")
        ''')


def alembic_folder(root: Path, graph: dict[str, str | tuple[str, ...] | None]) -> None:
    write(root, {"alembic/env.py": "from alembic import context\n", "alembic/script.py.mako": "${up}\n"})
    write(root, {f"alembic/versions/{rev}_step.py": alembic_revision(rev, down) for rev, down in graph.items()})


CHAIN: dict[str, str | tuple[str, ...] | None] = {"1a2b3c4d5e6f": None, "2b3c4d5e6f7a": "1a2b3c4d5e6f",
                                                  "3c4d5e6f7a8b": "2b3c4d5e6f7a"}


def test_alembic_at_head_passes(gate: Gate, pg: PostgresDatabase) -> None:
    alembic_folder(gate.path, CHAIN)
    pg.execute(ALEMBIC_PG + "INSERT INTO alembic_version VALUES ('3c4d5e6f7a8b');")
    pg_config(gate, pg, "alembic", directory="alembic")
    result = gate.run("-v")
    result.assert_outcomes(passed=3)  # alembic records neither failures nor checksums
    result.stdout.fnmatch_lines([f"*{item('migrations[main:pending]')} PASSED*"])


def test_alembic_behind_head_names_the_revisions_to_apply_in_order(gate: Gate, pg: PostgresDatabase) -> None:
    alembic_folder(gate.path, CHAIN)
    pg.execute(ALEMBIC_PG + "INSERT INTO alembic_version VALUES ('1a2b3c4d5e6f');")
    pg_config(gate, pg, "alembic", directory="alembic/versions")
    result = gate.run()
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([
        "2 migrations on disk are not applied to main (alembic)",
        "  2b3c4d5e6f7a (2b3c4d5e6f7a_step.py)",
        "  3c4d5e6f7a8b (3c4d5e6f7a8b_step.py)",
    ])


def test_alembic_empty_version_table_means_everything_is_pending(gate: Gate, pg: PostgresDatabase) -> None:
    alembic_folder(gate.path, CHAIN)
    pg.execute(ALEMBIC_PG)
    pg_config(gate, pg, "alembic", directory="alembic")
    result = gate.run()
    result.stdout.fnmatch_lines(["FAILED *:pending] - 3 migrations on disk are not applied to main (alembic)"])


def test_alembic_database_at_an_unknown_revision_fails_missing_and_pending(gate: Gate, pg: PostgresDatabase) -> None:
    alembic_folder(gate.path, CHAIN)
    pg.execute(ALEMBIC_PG + "INSERT INTO alembic_version VALUES ('ffff0000aaaa');")
    pg_config(gate, pg, "alembic", directory="alembic")
    result = gate.run()
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines([
        "FAILED *:pending] - cannot tell which migrations are pending: applied revision ffff0000aaaa is not on disk",
        "FAILED *:missing] - 1 applied migration of main (alembic) is missing on disk: ffff0000aaaa",
    ], consecutive=False)


def test_alembic_branches_and_merges_are_followed(gate: Gate, pg: PostgresDatabase) -> None:
    graph: dict[str, str | tuple[str, ...] | None] = {
        "base00000001": None, "left00000002": "base00000001", "right0000002": "base00000001",
        "merge0000003": ("left00000002", "right0000002"), "other0000004": "base00000001",
    }
    alembic_folder(gate.path, graph)
    # at the merge; the branch "other" (a second head on disk) was never applied
    pg.execute(ALEMBIC_PG + "INSERT INTO alembic_version VALUES ('merge0000003');")
    pg_config(gate, pg, "alembic", directory="alembic")
    result = gate.run()
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["FAILED *:pending] - 1 migration on disk is not applied to main (alembic): "
                                 "other0000004 (other0000004_step.py)"])


def test_alembic_with_two_applied_heads_on_sqlite_passes(gate: Gate) -> None:
    graph: dict[str, str | tuple[str, ...] | None] = {
        "base00000001": None, "left00000002": "base00000001", "right0000002": "base00000001"}
    alembic_folder(gate.path, graph)
    gate.sqlite("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY);"
                "INSERT INTO alembic_version VALUES ('left00000002'), ('right0000002');")
    sqlite_config(gate, "alembic", directory="alembic")
    gate.run().assert_outcomes(passed=3)


# -- django ---------------------------------------------------------------------------------

DJANGO_PG = """
CREATE TABLE "django_migrations" ("id" bigint NOT NULL PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,
    "app" varchar(255) NOT NULL, "name" varchar(255) NOT NULL, "applied" timestamp with time zone NOT NULL);
"""
DJANGO_MIGRATION = '''\
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = []
    operations = []
'''


def django_project(root: Path, apps: dict[str, list[str]]) -> None:
    write(root, {"manage.py": "import django\n", "shop/settings.py": "INSTALLED_APPS = []\n"})
    for app, names in apps.items():
        write(root, {f"{app}/__init__.py": "", f"{app}/migrations/__init__.py": "", f"{app}/models.py": ""})
        write(root, {f"{app}/migrations/{name}.py": DJANGO_MIGRATION for name in names})


def django_rows(pairs: list[tuple[str, str]]) -> str:
    return "".join(f"INSERT INTO django_migrations (app, name, applied) VALUES ('{a}', '{n}', now());" for a, n in pairs)


CONTRIB = [("contenttypes", "0001_initial"), ("auth", "0001_initial"), ("admin", "0001_initial")]


def test_django_in_sync_passes_and_ignores_apps_that_live_elsewhere(gate: Gate, pg: PostgresDatabase) -> None:
    django_project(gate.path, {"ads": ["0001_initial", "0002_ad_slug"], "apps/accounts": ["0001_initial"]})
    pg.execute(DJANGO_PG + django_rows([*CONTRIB, ("ads", "0001_initial"), ("ads", "0002_ad_slug"),
                                        ("accounts", "0001_initial")]))
    pg_config(gate, pg, "django", directory=".")
    gate.run().assert_outcomes(passed=3)


def test_django_pending_and_missing_migrations_fail_naming_app_and_name(gate: Gate, pg: PostgresDatabase) -> None:
    django_project(gate.path, {"ads": ["0001_initial", "0002_ad_slug", "0003_ad_custom_fields"]})
    pg.execute(DJANGO_PG + django_rows([*CONTRIB, ("ads", "0001_initial"), ("ads", "0002_ad_slug"),
                                        ("ads", "0002_hotfix")]))
    pg_config(gate, pg, "django", directory=".")
    result = gate.run()
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines([
        "FAILED *:pending] - 1 migration on disk is not applied to main (django): ads.0003_ad_custom_fields",
        "FAILED *:missing] - 1 applied migration of main (django) is missing on disk: ads.0002_hotfix",
    ], consecutive=False)


def test_django_squashed_migration_counts_as_applied_when_what_it_replaces_is(gate: Gate, pg: PostgresDatabase) -> None:
    django_project(gate.path, {"ads": []})
    write(gate.path, {"ads/migrations/0001_squashed_0002_ad_slug.py": DJANGO_MIGRATION.replace(
        "    dependencies = []", "    replaces = [('ads', '0001_initial'), ('ads', '0002_ad_slug')]\n    dependencies = []")})
    # the database was migrated before the squash; the replaced files are gone
    pg.execute(DJANGO_PG + django_rows([("ads", "0001_initial"), ("ads", "0002_ad_slug")]))
    pg_config(gate, pg, "django", directory="ads/migrations")
    gate.run().assert_outcomes(passed=3)


# -- flyway ---------------------------------------------------------------------------------

FLYWAY_PG = """
CREATE TABLE "public"."flyway_schema_history" (
    "installed_rank" INT NOT NULL,
    "version" VARCHAR(50),
    "description" VARCHAR(200) NOT NULL,
    "type" VARCHAR(20) NOT NULL,
    "script" VARCHAR(1000) NOT NULL,
    "checksum" INTEGER,
    "installed_by" VARCHAR(100) NOT NULL,
    "installed_on" TIMESTAMP NOT NULL DEFAULT now(),
    "execution_time" INTEGER NOT NULL,
    "success" BOOLEAN NOT NULL,
    CONSTRAINT "flyway_schema_history_pk" PRIMARY KEY ("installed_rank")
);
CREATE INDEX "flyway_schema_history_s_idx" ON "public"."flyway_schema_history" ("success");
"""
FLYWAY_FILES = {
    "V1__init.sql": "CREATE TABLE ads (id int PRIMARY KEY);\r\n",
    "V1_1__add_slug.sql": "\ufeffALTER TABLE ads ADD COLUMN slug text;\n",
    "V2__favorites.sql": "CREATE TABLE user_favorites (\n  user_id int\n);\n",
    "R__ad_view.sql": "CREATE OR REPLACE VIEW ad_view AS SELECT id FROM ads;\n",
}


class Flyway:
    def __init__(self) -> None:
        self.rows: list[str] = []

    def row(self, script: str, *, version: str | None = None, success: bool = True, checksum: int | None = None,
            kind: str = "SQL", description: str | None = None) -> Flyway:
        stem = script.removesuffix(".sql")
        if version is None and script.startswith("V"):
            version = stem[1:].split("__")[0].replace("_", ".")
        if checksum is None and script in FLYWAY_FILES:
            checksum = flyway_checksum(FLYWAY_FILES[script].encode())
        description = description or stem.split("__", 1)[-1].replace("_", " ")
        rank = len(self.rows) + 1
        self.rows.append(
            "INSERT INTO flyway_schema_history (installed_rank, version, description, type, script, checksum, "
            "installed_by, execution_time, success) VALUES "
            f"({rank}, {'NULL' if version is None else repr(version)}, '{description}', '{kind}', '{script}', "
            f"{'NULL' if checksum is None else checksum}, 'flyway', 12, {'true' if success else 'false'});")
        return self

    def all(self) -> Flyway:
        for script in FLYWAY_FILES:
            self.row(script)
        return self

    def sql(self) -> str:
        return FLYWAY_PG + "".join(self.rows)


def flyway_folder(root: Path, names: list[str] | None = None) -> None:
    (root / "sql").mkdir()
    for name in names or FLYWAY_FILES:  # the bytes as they are (CRLF, BOM): not through dedent
        (root / "sql" / name).write_bytes(FLYWAY_FILES[name].encode())


def test_flyway_in_sync_passes_including_a_repeatable_migration(gate: Gate, pg: PostgresDatabase) -> None:
    flyway_folder(gate.path)
    pg.execute(Flyway().all().sql())
    pg_config(gate, pg, "flyway", directory="sql")
    gate.run().assert_outcomes(passed=5)


def test_flyway_pending_versioned_and_changed_repeatable_fail(gate: Gate, pg: PostgresDatabase) -> None:
    flyway_folder(gate.path)
    pg.execute(Flyway().row("V1__init.sql").row("V1_1__add_slug.sql").row("R__ad_view.sql", checksum=12345).sql())
    pg_config(gate, pg, "flyway", directory="sql")
    result = gate.run()
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines([
        "2 migrations on disk are not applied to main (flyway)",
        "  V2__favorites",
        "  R__ad_view (changed since it was applied)",
    ])


def test_flyway_missing_failed_and_checksum_mismatch_each_fail(gate: Gate, pg: PostgresDatabase) -> None:
    flyway_folder(gate.path, ["V1__init.sql", "V1_1__add_slug.sql", "R__ad_view.sql"])
    history = (Flyway().row("V1__init.sql").row("V1_1__add_slug.sql", checksum=-1188147323)
               .row("V2__favorites.sql").row("R__ad_view.sql").row("V3__broken.sql", success=False, checksum=7))
    pg.execute(history.sql())
    pg_config(gate, pg, "flyway", directory="sql")
    result = gate.run()
    result.assert_outcomes(passed=2, failed=3)
    disk = flyway_checksum(FLYWAY_FILES["V1_1__add_slug.sql"].encode())
    result.stdout.fnmatch_lines([
        "FAILED *:missing] - 1 applied migration of main (flyway) is missing on disk: V2__favorites",
        "FAILED *:failed] - migration V3__broken failed (success = false)",
        f"FAILED *:checksums] - checksum of V1_1__add_slug differs: database -1188147323, disk {disk}",
    ], consecutive=False)


def test_flyway_versions_below_the_baseline_are_not_pending(gate: Gate, pg: PostgresDatabase) -> None:
    flyway_folder(gate.path)
    history = (Flyway().row("<< Flyway Baseline >>", version="1.1", kind="BASELINE", description="baseline")
               .row("V2__favorites.sql").row("R__ad_view.sql"))
    pg.execute(history.sql())
    pg_config(gate, pg, "flyway", directory="sql")
    gate.run().assert_outcomes(passed=5)


def test_flyway_on_sqlite_in_sync_passes(gate: Gate) -> None:
    flyway_folder(gate.path)
    ddl = FLYWAY_PG.replace('"public".', "").replace("now()", "CURRENT_TIMESTAMP").replace("true", "1")
    gate.sqlite(ddl + "".join(Flyway().all().rows).replace(", true);", ", 1);"))
    sqlite_config(gate, "flyway", directory="sql")
    gate.run().assert_outcomes(passed=5)


# -- golang-migrate -------------------------------------------------------------------------

GOLANG_PG = "CREATE TABLE IF NOT EXISTS schema_migrations (version bigint not null primary key, dirty boolean not null);"


def golang_folder(root: Path) -> None:
    for version, name in ((1, "create_ads"), (2, "add_slug"), (3, "favorites")):
        write(root, {f"db/migrations/{version:06d}_{name}.up.sql": "SELECT 1;\n",
                     f"db/migrations/{version:06d}_{name}.down.sql": "SELECT 1;\n"})


@pytest.mark.parametrize(("stored", "outcomes", "line"), [
    ("(3, false)", {"passed": 4}, None),
    ("(1, false)", {"passed": 3, "failed": 1},
     "FAILED *:pending] - 2 migrations on disk are not applied to main (golang-migrate)"),
    ("(3, true)", {"passed": 3, "failed": 1},
     "FAILED *:failed] - migration 000003_favorites is dirty (it failed midway)"),
    ("(7, false)", {"passed": 3, "failed": 1},
     "FAILED *:missing] - 1 applied migration of main (golang-migrate) is missing on disk: 7"),
])
def test_golang_migrate_compares_the_stored_version_with_the_folder(
        gate: Gate, pg: PostgresDatabase, stored: str, outcomes: dict[str, int], line: str | None) -> None:
    golang_folder(gate.path)
    pg.execute(GOLANG_PG + f"INSERT INTO schema_migrations VALUES {stored};")
    pg_config(gate, pg, "golang-migrate", directory="db/migrations")
    result = gate.run()
    result.assert_outcomes(**outcomes)
    if line:
        result.stdout.fnmatch_lines([line])


def test_golang_migrate_dirty_version_says_how_to_recover(gate: Gate, pg: PostgresDatabase) -> None:
    golang_folder(gate.path)
    pg.execute(GOLANG_PG + "INSERT INTO schema_migrations VALUES (2, true);")
    pg_config(gate, pg, "golang-migrate", directory="db/migrations")
    result = gate.run()
    result.stdout.fnmatch_lines(["migration 000002_add_slug is dirty (it failed midway)",
                                 "  fix the database by hand, then `migrate force 2`"])


def test_golang_migrate_empty_table_on_sqlite_means_all_pending(gate: Gate) -> None:
    golang_folder(gate.path)
    gate.sqlite("CREATE TABLE schema_migrations (version uint64, dirty bool);")
    sqlite_config(gate, "golang-migrate", directory="db/migrations")
    result = gate.run()
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["FAILED *:pending] - 3 migrations on disk are not applied to main (golang-migrate)"])


# -- rails, dbmate, knex, goose: one row per applied migration --------------------------------

RAILS_PG = 'CREATE TABLE "schema_migrations" ("version" character varying NOT NULL PRIMARY KEY);'
RAILS_FILES = ["20251001120000_create_ads.rb", "20251002120000_add_slug_to_ads.rb",
               "20251003120000_create_user_favorites.rb"]


def rails_folder(root: Path) -> None:
    write(root, {f"db/migrate/{name}": "class X < ActiveRecord::Migration[7.1]\nend\n" for name in RAILS_FILES})
    write(root, {"db/schema.rb": "ActiveRecord::Schema[7.1].define(version: 2025_10_03_120000) do\nend\n"})


def test_rails_in_sync_passes(gate: Gate, pg: PostgresDatabase) -> None:
    rails_folder(gate.path)
    pg.execute(RAILS_PG + "INSERT INTO schema_migrations VALUES ('20251001120000'), ('20251002120000'), ('20251003120000');")
    pg_config(gate, pg, "rails", directory="db/migrate")
    gate.run().assert_outcomes(passed=3)


def test_rails_pending_and_no_file_migrations_fail(gate: Gate, pg: PostgresDatabase) -> None:
    rails_folder(gate.path)
    pg.execute(RAILS_PG + "INSERT INTO schema_migrations VALUES ('20251001120000'), ('20251002120000'), ('20240101000000');")
    pg_config(gate, pg, "rails", directory="db/migrate")
    result = gate.run()
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines([
        "FAILED *:pending] - 1 migration on disk is not applied to main (rails): 20251003120000_create_user_favorites",
        "FAILED *:missing] - 1 applied migration of main (rails) is missing on disk: 20240101000000",
    ], consecutive=False)


def test_rails_on_sqlite_pending_fails(gate: Gate) -> None:
    rails_folder(gate.path)
    gate.sqlite('CREATE TABLE "schema_migrations" ("version" varchar NOT NULL PRIMARY KEY);'
                "INSERT INTO schema_migrations VALUES ('20251001120000');")
    sqlite_config(gate, "rails", directory="db/migrate")
    result = gate.run()
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["FAILED *:pending] - 2 migrations on disk are not applied to main (rails)"])


DBMATE_PG = "CREATE TABLE IF NOT EXISTS public.schema_migrations (version character varying(128) NOT NULL PRIMARY KEY);"


def test_dbmate_pending_and_missing_migrations_fail(gate: Gate, pg: PostgresDatabase) -> None:
    write(gate.path, {f"db/migrations/{v}_{n}.sql": "-- migrate:up\nSELECT 1;\n\n-- migrate:down\n"
                      for v, n in (("20251001120000", "create_ads"), ("20251002120000", "add_slug"))})
    pg.execute(DBMATE_PG + "INSERT INTO schema_migrations VALUES ('20251001120000'), ('20250901000000');")
    pg_config(gate, pg, "dbmate", directory="db/migrations")
    result = gate.run()
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines([
        "FAILED *:pending] - 1 migration on disk is not applied to main (dbmate): 20251002120000_add_slug",
        "FAILED *:missing] - 1 applied migration of main (dbmate) is missing on disk: 20250901000000",
    ], consecutive=False)


def test_dbmate_in_sync_passes(gate: Gate, pg: PostgresDatabase) -> None:
    write(gate.path, {"db/migrations/20251001120000_create_ads.sql": "-- migrate:up\nSELECT 1;\n"})
    pg.execute(DBMATE_PG + "INSERT INTO schema_migrations VALUES ('20251001120000');")
    pg_config(gate, pg, "dbmate", directory="db/migrations")
    gate.run().assert_outcomes(passed=3)


KNEX_PG = """
create table "knex_migrations" ("id" serial primary key, "name" varchar(255), "batch" integer, "migration_time" timestamptz);
create table "knex_migrations_lock" ("index" serial primary key, "is_locked" integer);
insert into "knex_migrations_lock" ("is_locked") values (0);
"""


def knex_rows(names: list[str]) -> str:
    return "".join(f"insert into knex_migrations (name, batch, migration_time) values ('{n}', 1, now());" for n in names)


def test_knex_in_sync_passes_and_other_files_are_ignored(gate: Gate, pg: PostgresDatabase) -> None:
    write(gate.path, {"migrations/20251001120000_create_ads.js": "exports.up = () => {};\n",
                      "migrations/20251002120000_add_slug.ts": "export async function up() {}\n",
                      "migrations/README.md": "notes\n"})
    pg.execute(KNEX_PG + knex_rows(["20251001120000_create_ads.js", "20251002120000_add_slug.ts"]))
    pg_config(gate, pg, "knex")
    gate.run().assert_outcomes(passed=3)


def test_knex_pending_and_corrupt_directory_fail(gate: Gate, pg: PostgresDatabase) -> None:
    write(gate.path, {"migrations/20251001120000_create_ads.js": "exports.up = () => {};\n",
                      "migrations/20251003120000_favorites.js": "exports.up = () => {};\n"})
    pg.execute(KNEX_PG + knex_rows(["20251001120000_create_ads.js", "20251002120000_add_slug.js"]))
    pg_config(gate, pg, "knex")
    result = gate.run()
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines([
        "FAILED *:pending] - 1 migration on disk is not applied to main (knex): 20251003120000_favorites.js",
        "FAILED *:missing] - 1 applied migration of main (knex) is missing on disk: 20251002120000_add_slug.js",
    ], consecutive=False)


GOOSE_PG = """
CREATE TABLE goose_db_version (id serial NOT NULL, version_id bigint NOT NULL, is_applied boolean NOT NULL,
    tstamp timestamp NULL default now(), PRIMARY KEY(id));
INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, true);
"""


def goose_folder(root: Path) -> None:
    write(root, {"migrations/20251001120000_create_ads.sql": "-- +goose Up\nSELECT 1;\n",
                 "migrations/20251002120000_add_slug.go": "package migrations\n",
                 "migrations/20251002120000_add_slug_test.go": "package migrations\n",
                 "migrations/20251003120000_favorites.sql": "-- +goose Up\nSELECT 1;\n"})


def goose_rows(*pairs: tuple[int, bool]) -> str:
    return "".join(f"INSERT INTO goose_db_version (version_id, is_applied) VALUES ({v}, {str(a).lower()});" for v, a in pairs)


def test_goose_in_sync_passes(gate: Gate, pg: PostgresDatabase) -> None:
    goose_folder(gate.path)
    pg.execute(GOOSE_PG + goose_rows((20251001120000, True), (20251002120000, True), (20251003120000, True)))
    pg_config(gate, pg, "goose")
    gate.run().assert_outcomes(passed=3)


def test_goose_a_migrated_down_version_is_pending(gate: Gate, pg: PostgresDatabase) -> None:
    goose_folder(gate.path)
    # old goose records a down migration as a later row with is_applied = false
    pg.execute(GOOSE_PG + goose_rows((20251001120000, True), (20251002120000, True), (20251003120000, True),
                                     (20251003120000, False), (20250101000000, True)))
    pg_config(gate, pg, "goose")
    result = gate.run()
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines([
        "FAILED *:pending] - 1 migration on disk is not applied to main (goose): 20251003120000_favorites",
        "FAILED *:missing] - 1 applied migration of main (goose) is missing on disk: 20250101000000",
    ], consecutive=False)


# -- sqlx -----------------------------------------------------------------------------------

SQLX_PG = """
CREATE TABLE IF NOT EXISTS _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMPTZ NOT NULL DEFAULT now(),
    success BOOLEAN NOT NULL,
    checksum BYTEA NOT NULL,
    execution_time BIGINT NOT NULL
);
"""
SQLX_FILES = {
    "20251001120000_create_ads.sql": "CREATE TABLE ads (id bigint PRIMARY KEY);\n",
    "20251002120000_add_slug.up.sql": "ALTER TABLE ads ADD COLUMN slug text;\n",
    "20251002120000_add_slug.down.sql": "ALTER TABLE ads DROP COLUMN slug;\n",
    "20251003120000_favorites.sql": "CREATE TABLE user_favorites (user_id bigint);\n",
}


def sqlx_row(name: str, *, success: bool = True, checksum: bytes | None = None, sqlite: bool = False) -> str:
    version, rest = name.split("_", 1)
    description = rest.removesuffix(".sql").removesuffix(".up").replace("_", " ")
    digest = checksum if checksum is not None else sqlx_checksum(SQLX_FILES[name].encode())
    blob = f"X'{digest.hex()}'" if sqlite else f"'\\x{digest.hex()}'::bytea"
    flag = ("1" if success else "0") if sqlite else ("true" if success else "false")
    return (f"INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) "
            f"VALUES ({version}, '{description}', {flag}, {blob}, 1000);")


def sqlx_folder(root: Path) -> None:
    write(root, {f"migrations/{name}": text for name, text in SQLX_FILES.items()})


def test_sqlx_in_sync_with_reversible_migrations_passes(gate: Gate, pg: PostgresDatabase) -> None:
    sqlx_folder(gate.path)
    pg.execute(SQLX_PG + sqlx_row("20251001120000_create_ads.sql") + sqlx_row("20251002120000_add_slug.up.sql")
               + sqlx_row("20251003120000_favorites.sql"))
    pg_config(gate, pg, "sqlx")
    gate.run().assert_outcomes(passed=5)


def test_sqlx_pending_failed_and_changed_migrations_fail(gate: Gate, pg: PostgresDatabase) -> None:
    sqlx_folder(gate.path)
    pg.execute(SQLX_PG + sqlx_row("20251001120000_create_ads.sql", checksum=sqlx_checksum(b"CREATE TABLE ads ();\n"))
               + sqlx_row("20251002120000_add_slug.up.sql", success=False))
    pg_config(gate, pg, "sqlx")
    result = gate.run()
    result.assert_outcomes(passed=2, failed=3)
    database = sqlx_checksum(b"CREATE TABLE ads ();\n").hex()[:8]
    disk = sqlx_checksum(SQLX_FILES["20251001120000_create_ads.sql"].encode()).hex()[:8]
    result.stdout.fnmatch_lines([
        "FAILED *:pending] - 2 migrations on disk are not applied to main (sqlx)",
        "FAILED *:failed] - migration 20251002120000_add_slug is partially applied (success = false)",
        f"FAILED *:checksums] - checksum of 20251001120000_create_ads differs: database {database}…, disk {disk}…",
    ], consecutive=False)


def test_sqlx_on_sqlite_in_sync_passes(gate: Gate) -> None:
    sqlx_folder(gate.path)
    ddl = SQLX_PG.replace("TIMESTAMPTZ", "TIMESTAMP").replace("now()", "CURRENT_TIMESTAMP").replace("BYTEA", "BLOB")
    gate.sqlite(ddl + sqlx_row("20251001120000_create_ads.sql", sqlite=True)
                + sqlx_row("20251002120000_add_slug.up.sql", sqlite=True)
                + sqlx_row("20251003120000_favorites.sql", sqlite=True))
    sqlite_config(gate, "sqlx")
    gate.run().assert_outcomes(passed=5)


def test_an_unreadable_revision_file_fails_the_items_that_need_the_folder(gate: Gate, pg: PostgresDatabase) -> None:
    alembic_folder(gate.path, CHAIN)
    write(gate.path, {"alembic/versions/4d5e_broken.py": "revision = '4d5e'\ndef upgrade(:\n"})
    pg.execute(ALEMBIC_PG + "INSERT INTO alembic_version VALUES ('3c4d5e6f7a8b');")
    pg_config(gate, pg, "alembic", directory="alembic")
    result = gate.run()
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["FAILED *:pending] - cannot read 4d5e_broken.py: *"])
    assert "Traceback" not in result.stdout.str()


# -- bad input ------------------------------------------------------------------------------


def test_an_unknown_tool_is_one_config_error_with_a_suggestion(gate: Gate) -> None:
    (gate.path / "migrations").mkdir()
    sqlite_config(gate, "prsima")
    result = gate.run()
    assert result.ret == pytest.ExitCode.INTERRUPTED  # a collection error, before anything runs
    out = result.stdout.str() + result.stderr.str()
    assert out.count('deploygate.toml: [[migrations]] #1: key "tool": "prsima" is not one of alembic, dbmate, '
                     'django, flyway, golang-migrate, goose, knex, prisma, rails, sqlx (did you mean "prisma"?)') == 1
    assert "Traceback" not in out


def test_a_missing_migrations_folder_is_one_config_error(gate: Gate) -> None:
    sqlite_config(gate, "prisma", directory="packages/database/prisma/migrations")
    result = gate.run("--collect-only")
    out = result.stdout.str() + result.stderr.str()
    assert result.ret != pytest.ExitCode.OK
    assert ('[[migrations]] #1: key "directory": folder packages/database/prisma/migrations does not exist '
            f"(looked for {gate.path / 'packages/database/prisma/migrations'})") in out
    assert "Traceback" not in out


def test_the_tool_is_required(gate: Gate) -> None:
    gate.config('[databases.main]\nurl = "sqlite:///app.db"\n[[migrations]]\ndirectory = "."\n')
    result = gate.run()
    out = result.stdout.str() + result.stderr.str()
    assert '[[migrations]] #1: key "tool": is required (one of alembic, dbmate, django' in out


def test_collection_lists_one_item_per_aspect_without_touching_the_database(gate: Gate) -> None:
    (gate.path / "migrations").mkdir()
    gate.config('[databases.main]\nurl = "postgresql://nobody@127.0.0.1:1/none"\n'
                '[[migrations]]\ntool = "prisma"\ndirectory = "migrations"\n'
                '[[migrations]]\nname = "legacy"\ntool = "rails"\ndirectory = "migrations"\n')
    result = gate.run("--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines([
        f"deploygate.toml::{item('migrations[main:table]')}", f"deploygate.toml::{item('migrations[main:pending]')}",
        f"deploygate.toml::{item('migrations[main:missing]')}", f"deploygate.toml::{item('migrations[main:failed]')}",
        f"deploygate.toml::{item('migrations[main:checksums]')}",
        f"deploygate.toml::{item('migrations[legacy:table]')}", f"deploygate.toml::{item('migrations[legacy:pending]')}",
        f"deploygate.toml::{item('migrations[legacy:missing]')}",
    ])


# -- checksums, as the tools compute them ------------------------------------------------------

CRC_123456789 = -873187034  # CRC32 of "123456789" is 0xCBF43926; Flyway stores it as a signed int


@pytest.mark.parametrize(("script", "expected"), [
    (b"", 0),
    (b"123456789", CRC_123456789),
    (b"123456789\n", CRC_123456789),  # line endings are not hashed
    (b"123\n456\n789\n", CRC_123456789),
    (b"123\r\n456\r\n789", CRC_123456789),
    (b"123\r456\r789\r", CRC_123456789),  # a lone CR ends a line too (BufferedReader.readLine)
    (b"\xef\xbb\xbf123456789\n", CRC_123456789),  # a byte-order mark is dropped
    (b"a", -390611389),  # 0xE8B7BE43: the sign bit set
    (b"\n\n", 0),  # only line endings: nothing is hashed
])
def test_flyway_checksum_is_crc32_over_lines_as_a_signed_int(script: bytes, expected: int) -> None:
    assert flyway_checksum(script) == expected


@pytest.mark.parametrize(("script", "expected"), [
    (b"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    (b"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
])
def test_prisma_checksum_is_sha256_hex(script: bytes, expected: str) -> None:
    assert prisma_checksum(script) == expected


@pytest.mark.parametrize(("script", "expected"), [
    (b"abc", "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7"),
])
def test_sqlx_checksum_is_sha384_bytes(script: bytes, expected: str) -> None:
    assert sqlx_checksum(script) == bytes.fromhex(expected)
