"""[[schema]] and `deploygate snapshot`: drift against a snapshot, required tables and columns."""

from __future__ import annotations

import gc
import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pytest_deploygate.checks.schema import (
    compare_enums,
    compare_table,
    parse_snapshot,
    schema_json,
)
from pytest_deploygate.cli import main as deploygate
from pytest_deploygate.config import DatabaseConfig
from pytest_deploygate.db import Database
from pytest_deploygate.db.reflect import Schema, Table, reflect
from pytest_deploygate.db.url import parse_database_url
from pytest_deploygate.secrets import Redactor

from .conftest import Gate, PostgresDatabase

# A schema with one of each thing a snapshot compares, as a marketplace would have it.
MARKETPLACE_PG = """
CREATE SCHEMA billing;
CREATE TYPE ad_status AS ENUM ('draft', 'published', 'archived');
CREATE TABLE categories (
    id serial PRIMARY KEY,
    name text NOT NULL,
    form_template jsonb DEFAULT '{}'::jsonb
);
CREATE TABLE ads (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    category_id integer NOT NULL REFERENCES categories (id) ON DELETE CASCADE,
    slug varchar(100) UNIQUE,
    title text COLLATE "C" NOT NULL,
    price numeric(10, 2) CHECK (price >= 0),
    status ad_status NOT NULL DEFAULT 'draft',
    custom_fields jsonb,
    search tsvector GENERATED ALWAYS AS (to_tsvector('simple', coalesce(title, ''))) STORED,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ads_lower_slug ON ads (lower(slug)) WHERE slug IS NOT NULL;
CREATE INDEX ads_category_created ON ads (category_id, created_at DESC);
CREATE INDEX ads_search ON ads USING gin (search);
CREATE TABLE user_favorites (
    user_id integer NOT NULL,
    ad_id bigint NOT NULL REFERENCES ads (id) ON UPDATE RESTRICT ON DELETE SET NULL,
    PRIMARY KEY (user_id, ad_id)
);
CREATE TABLE billing.invoices (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    ad_id bigint REFERENCES ads (id),
    amount_cents integer NOT NULL CONSTRAINT positive_amount CHECK (amount_cents > 0),
    UNIQUE (ad_id, amount_cents)
);
CREATE TABLE _prisma_migrations (id varchar(36) PRIMARY KEY, migration_name varchar(255) NOT NULL);
"""

MARKETPLACE_SQLITE = """
CREATE TABLE categories (id INTEGER PRIMARY KEY, name TEXT NOT NULL, form_template TEXT DEFAULT '{}');
CREATE TABLE ads (
    id INTEGER PRIMARY KEY,
    category_id INTEGER NOT NULL REFERENCES categories (id) ON DELETE CASCADE,
    slug TEXT UNIQUE,
    title TEXT NOT NULL COLLATE NOCASE,
    price NUMERIC CHECK (price >= 0),
    custom_fields TEXT,
    created_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE INDEX ads_lower_slug ON ads (lower(slug)) WHERE slug IS NOT NULL;
CREATE INDEX ads_category_created ON ads (category_id, created_at DESC);
CREATE TABLE user_favorites (user_id INTEGER NOT NULL, ad_id INTEGER NOT NULL REFERENCES ads (id),
                             PRIMARY KEY (user_id, ad_id)) WITHOUT ROWID;
"""


def reflect_url(url: str, base: Path = Path("/")) -> Schema:
    database = Database(DatabaseConfig("t", parse_database_url(url, base), 5, 60), Redactor())
    try:
        with database.session() as session:
            return reflect(session)
    finally:
        database.close()


def snapshot_gate(gate: Gate, url: str, extra: str = "") -> None:
    gate.config(f'''
        [databases.main]
        url = "{url}"

        [[schema]]
        database = "main"
        snapshot = "schema.json"
        {extra}
    ''')


# -- zero false positives ----------------------------------------------------------------------


def test_postgres_snapshot_then_compare_finds_no_difference(gate: Gate, pg: PostgresDatabase) -> None:
    pg.execute(MARKETPLACE_PG)
    assert deploygate(["snapshot", pg.url, "-o", str(gate.path / "schema.json")]) == 0
    snapshot_gate(gate, pg.url)
    result = gate.run("-v")
    result.assert_outcomes(passed=7)  # 5 tables + enums + unexpected tables
    result.stdout.fnmatch_lines([
        "deploygate.toml::schema[[]main._prisma_migrations[]] PASSED*",
        "deploygate.toml::schema[[]main.ads[]] PASSED*",
        "deploygate.toml::schema[[]main.billing.invoices[]] PASSED*",
        "deploygate.toml::schema[[]main.categories[]] PASSED*",
        "deploygate.toml::schema[[]main.user_favorites[]] PASSED*",
        "deploygate.toml::schema[[]main:enums[]] PASSED*",
        "deploygate.toml::schema[[]main:unexpected-tables[]] PASSED*",
    ])


def _pg_tool(name: str, server_version: int) -> str:
    """The pg_dump/pg_restore of the server's major version: pgserver's own, or the system's."""
    major = server_version // 10000
    candidates = [Path(f"/usr/lib/postgresql/{major}/bin/{name}")]
    try:
        import pgserver

        candidates.insert(0, Path(pgserver.__file__).parent / "pginstall" / "bin" / name)
    except ImportError:  # pragma: no cover - a test extra
        pass
    for candidate in candidates:
        if candidate.is_file():
            version = subprocess.run([str(candidate), "--version"], capture_output=True, text=True, check=True).stdout
            if f" {major}." in version:
                return str(candidate)
    found = shutil.which(name)
    assert found, f"no {name} for PostgreSQL {major}"
    return found


def test_a_pg_dump_pg_restore_round_trip_finds_no_difference(gate: Gate, pg: PostgresDatabase,
                                                            postgres_server: str) -> None:
    pg.execute(MARKETPLACE_PG)
    assert deploygate(["snapshot", pg.url, "-o", str(gate.path / "schema.json")]) == 0
    with pg.connect() as conn:
        version = conn.info.server_version
    dump = gate.path / "dump.pgc"
    subprocess.run([_pg_tool("pg_dump", version), "--format=custom", "--file", str(dump), "--dbname", pg.url],
                   check=True, capture_output=True)
    restored = PostgresDatabase(postgres_server, pg.name + "_restored")
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{restored.name}"'.encode())
    try:
        subprocess.run([_pg_tool("pg_restore", version), "--no-owner", "--dbname", restored.admin_url, str(dump)],
                       check=True, capture_output=True)
        snapshot_gate(gate, restored.url)
        gate.run().assert_outcomes(passed=7)
        assert reflect_url(restored.url).to_json() == reflect_url(pg.url).to_json()
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{restored.name}" WITH (FORCE)'.encode())


def test_sqlite_snapshot_then_compare_finds_no_difference(gate: Gate) -> None:
    gate.sqlite(MARKETPLACE_SQLITE)
    os.chdir(gate.path)
    assert deploygate(["snapshot", "sqlite:///app.db", "-o", "schema.json"]) == 0
    snapshot_gate(gate, "sqlite:///app.db")
    result = gate.run("-v")
    result.assert_outcomes(passed=4)  # 3 tables + unexpected tables (SQLite has no enums)
    snapshot = json.loads((gate.path / "schema.json").read_text())
    assert snapshot["tables"]["ads"]["indexes"] == {
        "ads_category_created": "CREATE INDEX ads_category_created ON ads (category_id, created_at DESC)",
        "ads_lower_slug": "CREATE INDEX ads_lower_slug ON ads (lower(slug)) WHERE slug IS NOT NULL",
    }
    assert snapshot["tables"]["ads"]["checks"] == {"check_1": "price >= 0"}
    assert snapshot["tables"]["user_favorites"]["primary_key"] == ["user_id", "ad_id"]


def test_objects_owned_by_an_extension_are_left_out(pg: PostgresDatabase) -> None:
    pg.execute("""
        CREATE TABLE app_table (id int);
        CREATE TABLE extension_table (id int);
        CREATE TYPE extension_enum AS ENUM ('a');
        ALTER EXTENSION plpgsql ADD TABLE extension_table;
        ALTER EXTENSION plpgsql ADD TYPE extension_enum;
    """)
    schema = reflect_url(pg.url)
    assert list(schema.tables) == ["app_table"]
    assert schema.enums == {}


def test_column_order_is_not_a_difference(gate: Gate, pg: PostgresDatabase, postgres_server: str) -> None:
    pg.execute("CREATE TABLE t (a int, b text, c date);")
    assert deploygate(["snapshot", pg.url, "-o", str(gate.path / "schema.json")]) == 0
    pg.execute("DROP TABLE t; CREATE TABLE t (c date, a int, b text);")
    snapshot_gate(gate, pg.url)
    gate.run().assert_outcomes(passed=3)


# -- incident 1: what went missing ---------------------------------------------------------------


def test_incident_1_drift_names_every_lost_column_and_table(gate: Gate, pg: PostgresDatabase) -> None:
    pg.execute(MARKETPLACE_PG)
    assert deploygate(["snapshot", pg.url, "-o", str(gate.path / "schema.json")]) == 0
    # the restore that lost them
    pg.execute("""
        ALTER TABLE categories DROP COLUMN form_template;
        ALTER TABLE ads DROP COLUMN custom_fields;
        DROP TABLE user_favorites;
        DROP TABLE _prisma_migrations;
        CREATE TABLE tmp_import (id int);
    """)
    snapshot_gate(gate, pg.url)
    result = gate.run()
    result.assert_outcomes(passed=2, failed=5)
    result.stdout.fnmatch_lines([
        "FAILED deploygate.toml::schema[[]main._prisma_migrations[]] - table _prisma_migrations is missing in main",
        "FAILED deploygate.toml::schema[[]main.ads[]] - column ads.custom_fields is missing (expected jsonb)",
        "FAILED deploygate.toml::schema[[]main.categories[]] - column categories.form_template is missing (expected jsonb)",
        "FAILED deploygate.toml::schema[[]main.user_favorites[]] - table user_favorites is missing in main",
        "FAILED deploygate.toml::schema[[]main:unexpected-tables[]] - 1 table in main is not in the snapshot: tmp_import",
    ], consecutive=False)


def test_require_names_every_missing_table_and_column(gate: Gate, pg: PostgresDatabase) -> None:
    pg.execute("CREATE TABLE categories (id int, name text); CREATE TABLE ads (id int, title text);")
    gate.config(f'''
        [databases.main]
        url = "{pg.url}"

        [[schema]]
        name = "homepage-needs"
        require = {{ categories = ["id", "name", "form_template"], ads = ["slug", "custom_fields", "title"], user_favorites = [] }}
    ''')
    result = gate.run("-v")
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines([
        "FAILED deploygate.toml::schema[[]homepage-needs.categories[]] - column categories.form_template is missing",
        "FAILED deploygate.toml::schema[[]homepage-needs.ads[]] - 2 columns of ads are missing: slug, custom_fields",
        "FAILED deploygate.toml::schema[[]homepage-needs.user_favorites[]] - table user_favorites is missing in main",
    ], consecutive=False)


def test_require_on_sqlite_passes_when_everything_is_there(gate: Gate) -> None:
    gate.sqlite(MARKETPLACE_SQLITE)
    gate.config('''
        [databases.main]
        url = "sqlite:///app.db"
        [[schema]]
        require = { categories = ["id", "name", "form_template"], ads = ["slug", "custom_fields"], user_favorites = [] }
    ''')
    result = gate.run("-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["deploygate.toml::schema[[]main.categories[]] PASSED*"])


# -- each kind of difference, said as expected vs actual -----------------------------------------


def test_every_kind_of_difference_is_listed_expected_vs_actual(gate: Gate, pg: PostgresDatabase) -> None:
    pg.execute(MARKETPLACE_PG)
    assert deploygate(["snapshot", pg.url, "-o", str(gate.path / "schema.json")]) == 0
    pg.execute("""
        ALTER TABLE ads ALTER COLUMN slug TYPE text;
        ALTER TABLE ads ALTER COLUMN title DROP NOT NULL;
        ALTER TABLE ads ALTER COLUMN status SET DEFAULT 'published';
        ALTER TABLE ads ADD COLUMN extra int;
        DROP INDEX ads_lower_slug;
        CREATE INDEX ads_category_created_2 ON ads (created_at);
        ALTER TABLE ads DROP CONSTRAINT ads_category_id_fkey;
        ALTER TABLE ads ADD CONSTRAINT ads_category_id_fkey FOREIGN KEY (category_id) REFERENCES categories (id);
        ALTER TABLE ads DROP CONSTRAINT ads_price_check;
        ALTER TABLE ads ADD CONSTRAINT ads_price_check CHECK (price > 0);
        ALTER TABLE ads DROP CONSTRAINT ads_slug_key;
        ALTER TYPE ad_status ADD VALUE 'deleted';
    """)
    snapshot_gate(gate, pg.url)
    result = gate.run()
    result.stdout.fnmatch_lines([
        "FAILED deploygate.toml::schema[[]main.ads[]] - 9 differences in table ads: column ads.extra is not in the snapshot (integer), ...",
        "FAILED deploygate.toml::schema[[]main:enums[]] - enum ad_status labels are draft, published, archived, deleted, expected draft, published, archived",
    ], consecutive=False)
    output = result.stdout.str()
    for line in [
        "  column ads.extra is not in the snapshot (integer)",
        "  column ads.slug type is text, expected character varying(100)",
        "  column ads.status default is 'published'::public.ad_status, expected 'draft'::public.ad_status",
        "  column ads.title is nullable, expected NOT NULL",
        "  unique constraint ads_slug_key on ads is missing (expected UNIQUE (slug))",
        "  index ads_category_created_2 on ads is not in the snapshot (ON public.ads USING btree (created_at))",
        "  index ads_lower_slug on ads is missing (expected ON public.ads USING btree (lower((slug)::text)) WHERE (slug IS NOT NULL))",
        "  foreign key ads_category_id_fkey on ads is FOREIGN KEY (category_id) REFERENCES public.categories(id), "
        "expected FOREIGN KEY (category_id) REFERENCES public.categories(id) ON DELETE CASCADE",
        "  check constraint ads_price_check on ads is CHECK (price > 0::numeric), expected CHECK (price >= 0::numeric)",
    ]:
        assert line in result.stdout.lines, line + "\n" + output


@pytest.mark.parametrize(
    ("expected", "actual", "differences"),
    [
        (Table(columns={"a": {"type": "int", "nullable": True, "default": None}}), Table(), ["column t.a is missing (expected int)"]),
        (Table(primary_key=["a"]), Table(primary_key=["a", "b"]), ["primary key of t is (a, b), expected (a)"]),
        (Table(primary_key=["a"]), Table(), ["primary key of t is none, expected (a)"]),
        (Table(checks={"c": "CHECK (x > 0)"}), Table(checks={"c": "CHECK (x > 0)"}), []),
    ],
)
def test_table_differences_read_as_expected_vs_actual(expected: Table, actual: Table, differences: list[str]) -> None:
    assert compare_table("t", expected, actual) == differences


def test_enum_label_order_is_a_difference() -> None:
    assert compare_enums({"s": ["a", "b"]}, {"s": ["b", "a"]}) == ["enum s labels are b, a, expected a, b"]


def test_ignore_leaves_tables_out_on_both_sides(gate: Gate, pg: PostgresDatabase) -> None:
    pg.execute("CREATE TABLE ads (id int); CREATE TABLE tmp_a (id int); CREATE TABLE _prisma_migrations (id int);")
    assert deploygate(["snapshot", pg.url, "-o", str(gate.path / "schema.json")]) == 0
    pg.execute("DROP TABLE _prisma_migrations; CREATE TABLE tmp_b (id int);")
    snapshot_gate(gate, pg.url, 'ignore = ["_prisma_migrations", "tmp_*"]')
    result = gate.run("-v")
    result.assert_outcomes(passed=3)  # ads, enums, unexpected tables
    assert "tmp_a" not in result.stdout.str()


# -- snapshot files ------------------------------------------------------------------------------


def test_a_missing_snapshot_fails_saying_how_to_create_it_and_update_creates_it(gate: Gate, pg: PostgresDatabase) -> None:
    pg.execute("CREATE TABLE ads (id int PRIMARY KEY);")
    snapshot_gate(gate, pg.url)
    result = gate.run()
    result.stdout.fnmatch_lines([
        "FAILED deploygate.toml::schema[[]main:snapshot[]] - snapshot file */schema.json does not exist: "
        "create it with `deploygate snapshot URL -o */schema.json` or run with --deploygate-update-snapshots"])
    gate.run("--deploygate-update-snapshots").assert_outcomes(passed=1)
    assert json.loads((gate.path / "schema.json").read_text())["tables"]["ads"]["primary_key"] == ["id"]
    gate.run("-v").assert_outcomes(passed=3)  # ads, enums, unexpected tables


def test_update_snapshots_rewrites_a_drifted_snapshot_under_xdist(gate: Gate, pg: PostgresDatabase) -> None:
    pg.execute("CREATE TABLE a (id int); CREATE TABLE b (id int); CREATE TABLE c (id int);")
    assert deploygate(["snapshot", pg.url, "-o", str(gate.path / "schema.json")]) == 0
    pg.execute("ALTER TABLE a ADD COLUMN x text; CREATE TABLE d (id int);")
    snapshot_gate(gate, pg.url)
    gate.run().assert_outcomes(passed=3, failed=2)
    gate.run_subprocess("-n", "2", "--deploygate-update-snapshots").assert_outcomes(passed=5)
    gate.run().assert_outcomes(passed=6)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "schema.json is not valid JSON (Expecting property name enclosed in double quotes at line 1)"),
        ('{"tables": {}}', "schema.json is not a deploygate schema snapshot (write one with `deploygate snapshot`)"),
        ('{"format": "pytest-deploygate schema snapshot", "version": 1, "dialect": "postgresql", "tables": []}',
         "schema.json is corrupt: it needs a dialect, a tables object and an enums object"),
        ('{"format": "pytest-deploygate schema snapshot", "version": 1, "dialect": "postgresql", "tables": {}}',
         'schema.json is a snapshot of a postgresql database, but database "main" is sqlite'),
    ],
)
def test_a_bad_snapshot_file_is_one_config_error(gate: Gate, content: str, message: str) -> None:
    gate.sqlite("CREATE TABLE t (id int);")
    (gate.path / "schema.json").write_text(content)
    snapshot_gate(gate, "sqlite:///app.db")
    result = gate.run()
    assert result.ret != 0
    lines = [line for line in result.stdout.lines if line.startswith("deploygate.toml: [[schema]] #1")]
    assert len(lines) == 1
    assert lines[0].startswith('deploygate.toml: [[schema]] #1: key "snapshot": ')
    assert lines[0].endswith(message)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ("", 'key "snapshot": give one of snapshot (a file), against (another database) or require (tables and columns)'),
        ('snapshot = "s.json"\nrequire = { a = [] }', 'key "require": give one of snapshot'),
        ('against = "main"', 'key "against": is database "main" itself: name another database (staging)'),
        ('against = "stagin"', 'key "against": unknown database "stagin"'),
        ('snapshot = "s.json"\nprivileges = true', 'key "privileges": compares the grants of two live databases: '
                                                    'it goes with against (snapshots do not record grants)'),
        ("require = { a = 1 }", 'key "require.a": expected a list of column names ([] for the table alone)'),
        ('require = { a = [] }\nignor = ["x"]', 'key "ignor": unknown key (did you mean "ignore"?)'),
    ],
)
def test_schema_config_mistakes_are_one_message(gate: Gate, keys: str, message: str) -> None:
    gate.sqlite("CREATE TABLE t (id int);")
    gate.config('[databases.main]\nurl = "sqlite:///app.db"\n[[schema]]\n' + keys + "\n")
    result = gate.run()
    assert any(line.startswith("deploygate.toml: [[schema]] #1: " + message) for line in result.stdout.lines), result.stdout.str()


# -- reflection and the CLI ----------------------------------------------------------------------


class CountingSession:
    """A real session that counts the statements it is given."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.dialect = session.dialect
        self.statements = 0

    def query(self, sql: str, params: Any = None, *, limit: int | None = None) -> Any:
        self.statements += 1
        return self.session.query(sql, params, limit=limit)


@pytest.mark.parametrize("tables", [1, 60])
def test_reflection_runs_the_same_few_queries_whatever_the_table_count(pg: PostgresDatabase, tables: int) -> None:
    pg.execute("".join(f"CREATE TABLE t{i} (id int PRIMARY KEY, x text UNIQUE);" for i in range(tables)))
    database = Database(DatabaseConfig("t", parse_database_url(pg.url, Path("/")), 5, 60), Redactor())
    with database.session() as session:
        counting = CountingSession(session)
        schema = reflect(counting)  # type: ignore[arg-type]
    database.close()
    assert len(schema.tables) == tables
    assert counting.statements == 6  # search_path, tables, columns, constraints, indexes, enums


def test_the_cli_snapshot_is_deterministic_and_never_prints_the_password(
        tmp_path: Path, pg: PostgresDatabase, capsys: pytest.CaptureFixture[str]) -> None:
    pg.execute(MARKETPLACE_PG)
    with psycopg.connect(pg.admin_url, autocommit=True) as conn:
        conn.execute(b"CREATE ROLE snapper LOGIN PASSWORD 'Sn4p-secret-99'; GRANT pg_read_all_data TO snapper")
    host_part = pg.url.split("@", 1)[1]
    url = f"postgresql://snapper:Sn4p-secret-99@{host_part}"
    try:
        assert deploygate(["snapshot", url, "-o", str(tmp_path / "a.json")]) == 0
        assert deploygate(["snapshot", url, "-o", str(tmp_path / "b.json"), "--ignore", "billing.*"]) == 0
        # a failing connection whose URL carries a password (trust auth would accept a wrong one)
        missing_db = url.replace(pg.name, pg.name + "_missing").replace("Sn4p-secret-99", "wrong-Pa55")
        assert deploygate(["snapshot", missing_db, "-o", str(tmp_path / "c.json")]) == 1
        out = capsys.readouterr()
        stdout_snapshot = deploygate_stdout(url, capsys)
    finally:
        with psycopg.connect(pg.admin_url, autocommit=True) as conn:
            conn.execute(b"DROP OWNED BY snapper; DROP ROLE snapper")
    assert "Sn4p-secret-99" not in out.out + out.err + stdout_snapshot
    assert "wrong-Pa55" not in out.out + out.err
    assert "snapper:***@" in out.out
    a = (tmp_path / "a.json").read_text()
    assert a == stdout_snapshot
    data = json.loads(a)
    assert list(data["tables"]) == sorted(data["tables"])
    assert "billing.invoices" in data["tables"]
    assert "billing.invoices" not in json.loads((tmp_path / "b.json").read_text())["tables"]


def deploygate_stdout(url: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert deploygate(["snapshot", url]) == 0
    return capsys.readouterr().out


def test_the_cli_rejects_a_bad_url_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert deploygate(["snapshot", "mysql://u:pw@h/db"]) == 2
    assert capsys.readouterr().err == 'deploygate snapshot: bad URL: unsupported database URL scheme "mysql" (use postgresql:// or sqlite:///)\n'


def test_snapshot_json_shape_is_stable() -> None:
    schema = Schema("sqlite", {"b": Table(columns={"y": {"type": "int", "nullable": True, "default": None},
                                                   "x": {"type": "text", "nullable": False, "default": "'a'"}})})
    text = json.dumps(schema.to_json(), indent=2)
    assert text.index('"x"') < text.index('"y"')
    assert textwrap.dedent(text).startswith('{\n  "format": "pytest-deploygate schema snapshot",\n  "version": 1,')


def test_the_snapshot_text_is_valid_json_one_line_per_column() -> None:
    schema = Schema("postgresql", {
        'odd "name"': Table(columns={"é\\n": {"type": "text", "nullable": True, "default": "'a\"b'::text",
                                              "identity": "always"}},
                            primary_key=["é\\n"], checks={"c": "CHECK (x <> '\\t')"}),
        "empty": Table(),
    }, {"s": ["a", "b,c"]})
    text = schema_json(schema)
    assert json.loads(text) == schema.to_json()
    assert '        "é\\\\n": {"type": "text", "nullable": true, "default": "\'a\\"b\'::text", "identity": "always"}' in text.splitlines()
    assert text.endswith("}\n")


def test_every_snapshot_line_is_what_json_dumps_writes_for_it() -> None:
    # the writer has a fast path for the usual three-key column: it must write what the stdlib does
    columns: dict[str, dict[str, object]] = {
        "plain": {"type": "integer", "nullable": True, "default": None},
        "not_null": {"type": "text", "nullable": False, "default": "'é \"q\" \\\\ \t'::text"},
        "identity": {"type": "bigint", "nullable": False, "default": None, "identity": "always"},
        "collated": {"type": "text", "nullable": True, "default": None, "collation": "C"},
        "reordered": {"nullable": True, "type": "date", "default": None},
        "numeric_default": {"type": "integer", "nullable": True, "default": 0},
    }
    text = schema_json(Schema("postgresql", {"t": Table(columns=columns)}))
    lines = [line.removesuffix(",") for line in text.splitlines()]
    for name, spec in columns.items():
        assert f"        {json.dumps(name, ensure_ascii=False)}: {json.dumps(spec, ensure_ascii=False)}" in lines
    assert json.loads(text)["tables"]["t"]["columns"] == columns


@pytest.mark.parametrize("enabled", [True, False])
def test_reading_a_snapshot_leaves_the_garbage_collector_as_it_was(enabled: bool) -> None:
    # reflection and parsing pause the cyclic GC while they build; they must hand it back as found,
    # also when the text is not a snapshot
    text = schema_json(Schema("sqlite", {"t": Table(columns={"a": {"type": "int", "nullable": True, "default": None}})}))
    (gc.enable if enabled else gc.disable)()
    try:
        assert parse_snapshot(text).tables["t"].columns["a"]["type"] == "int"
        assert gc.isenabled() is enabled
        with pytest.raises(ValueError, match="is not valid JSON"):
            parse_snapshot("{")
        assert gc.isenabled() is enabled
    finally:
        gc.enable()
