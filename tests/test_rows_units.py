"""`[[rows]]` as plain Python: config validation and the SQL it generates, as tables."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_deploygate.checks.rows import (
    ColumnRule,
    Freshness,
    Reference,
    RowsCheck,
    RowsOptions,
    TableRule,
    run_scan,
)
from pytest_deploygate.checks.rows.rules import EnumColumn
from pytest_deploygate.checks.rows.sql import (
    SCAN_AGGREGATES,
    SCAN_PARAMS,
    Aggregate,
    Column,
    duplicates_query,
    orphans_query,
    samples_query,
    scan_chunks,
    scan_query,
)
from pytest_deploygate.config import ConfigError, GateConfig, load_config
from pytest_deploygate.db import QueryResult
from pytest_deploygate.errors import CheckError, QueryError
from pytest_deploygate.wording import age

HEAD = '[databases.main]\nurl = "sqlite:///app.db"\n\n[[rows]]\ntable = "ads"\n'


def load(tmp_path: Path, body: str) -> GateConfig:
    path = tmp_path / "deploygate.toml"
    path.write_text(HEAD + textwrap.dedent(body), encoding="utf-8")
    return load_config(path, {"rows": RowsCheck()}, environ={}, display="deploygate.toml")


# -- config -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "message"), [
    ("[rows.columns.slug]\nnot_null = 1\n",
     'key "columns.slug.not_null": expected true or false, got 1'),
    ("[rows.columns.slug]\npattern = '^[a-z+'\n",
     'key "columns.slug.pattern": invalid regular expression'),
    ("[rows.columns.slug]\npattern = 5\n",
     'key "columns.slug.pattern": expected a string, got 5'),
    ("[rows.columns.slug]\nmax_length = -1\n",
     'key "columns.slug.max_length": must be at least 0, got -1'),
    ("[rows.columns.slug]\nmax_length = '200'\n",
     'key "columns.slug.max_length": expected an integer, got "200"'),
    ("[rows.columns.slug]\nmin_length = 5\nmax_length = 2\n",
     'key "columns.slug.max_length": is below min_length (2 < 5)'),
    ("[rows.columns.price]\nmin = true\n",
     'key "columns.price.min": expected a number, a string or a date, got true'),
    ("[rows.columns.price]\nmin = 10\nmax = 1\n",
     'key "columns.price.max": is below min (1 < 10)'),
    ("[rows.columns.price]\nmin = 'a'\nmax = 1\n",
     'key "columns.price.max": min and max are not comparable'),
    ("[rows.columns.status]\nallowed = []\n",
     'key "columns.status.allowed": expected a non-empty list of values, got a list'),
    ("[rows.columns.status]\nallowed = 'draft'\n",
     'key "columns.status.allowed": expected a non-empty list of values, got "draft"'),
    ("[rows.columns.status]\nallowed = [['a']]\n",
     'key "columns.status.allowed": expected a list of strings or numbers, got a list in it'),
    ("[rows.columns.category_id]\nreferences = 'categories'\n",
     'key "columns.category_id.references": "categories" is not "table.column" or "schema.table.column"'),
    ("[rows.columns.category_id]\nreferences = 'a..b'\n",
     'key "columns.category_id.references": "a..b" is not'),
    ("[rows.columns.slug]\nnot_nul = true\n",
     'key "columns.slug.not_nul": unknown key (did you mean "not_null"?)'),
    ("[rows.columns.slug]\nunique = { severity = 'loud' }\n",
     'key "columns.slug.unique.severity": "loud" is not one of fail, warn'),
    ("[rows.columns.slug]\npattern = { severity = 'warn' }\n",
     'key "columns.slug.pattern.value": is required in the table form of a rule'),
    ("[rows.columns.slug]\nunique = { value = true, sevrity = 'warn' }\n",
     'key "columns.slug.unique.sevrity": unknown key (did you mean "severity"?)'),
    ("[rows.columns.slug]\n",
     'key "columns.slug": has no rules'),
    ("[rows.columns]\nslug = true\n",
     'key "columns.slug": expected a table'),
    ("",
     'key "columns": no rules'),
    ("min_rows = 'many'\n",
     'key "min_rows": expected an integer, got "many"'),
    ("min_rows = 10\nmax_rows = 5\n",
     'key "max_rows": is below min_rows (5 < 10)'),
    ("fresh = { column = 'created_at' }\n",
     'key "fresh.max_age": is required'),
    ("fresh = { column = 'created_at', max_age = 'a day' }\n",
     'key "fresh.max_age": "a day" is not a duration'),
    ("fresh = { max_age = '1h' }\n",
     'key "fresh.column": is required'),
    ("where = ' '\ncolumns.slug.not_null = true\n",
     'key "where": is empty'),
    ("key = 5\ncolumns.slug.not_null = true\n",
     'key "key": expected a string or a list of strings, got 5'),
    ("wher = 'x'\ncolumns.slug.not_null = true\n",
     'key "wher": unknown key (did you mean "where"?)'),
])
def test_bad_config_is_one_message_naming_the_key(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        load(tmp_path, body)
    assert str(excinfo.value).startswith('deploygate.toml: [[rows]] #1: ')
    assert message in str(excinfo.value)


def test_a_bad_table_name_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "deploygate.toml"
    path.write_text('[databases.main]\nurl = "sqlite:///a.db"\n[[rows]]\ntable = "a.b.c"\ncolumns.x.not_null = true\n')
    with pytest.raises(ConfigError, match=re.escape('key "table": "a.b.c" is not "table" or "schema.table"')):
        load_config(path, {"rows": RowsCheck()}, environ={})


def test_rules_parse_into_their_values_and_severities(tmp_path: Path) -> None:
    gate = load(tmp_path, """
        where = "created_at > '2024-01-01'"
        key = ["id"]
        min_rows = { value = 10, severity = "warn" }
        fresh = { column = "created_at", max_age = "24h" }
        [rows.columns.slug]
        severity = "warn"
        not_null = true
        not_empty = { severity = "fail" }
        unique = false
        [rows.columns.category_id]
        references = "shop.categories.id"
        allowed = [1, 2]
    """)
    options: RowsOptions = gate.entries[0].options
    assert options == RowsOptions(
        table=("ads",), where="created_at > '2024-01-01'", key=("id",),
        table_rules=(TableRule("min_rows", 10, "warn"), TableRule("fresh", Freshness("created_at", 86400.0))),
        column_rules=(ColumnRule("slug", "not_null", True, "warn"), ColumnRule("slug", "not_empty", True, "fail"),
                      ColumnRule("category_id", "allowed", (1, 2)),
                      ColumnRule("category_id", "references", Reference(("shop", "categories"), "id"))),
    )
    assert [(t.id, t.subject, t.effective_severity) for t in gate.targets] == [
        ("main.ads:min_rows", "ads", "warn"),
        ("main.ads:fresh", "ads", "fail"),
        ("main.ads.slug:not_null", "ads.slug", "warn"),
        ("main.ads.slug:not_empty", "ads.slug", "fail"),
        ("main.ads.category_id:allowed", "ads.category_id", "fail"),
        ("main.ads.category_id:references", "ads.category_id", "fail"),
    ]


def test_two_entries_on_one_table_need_distinct_names(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"duplicate id rows\[main.ads.slug:not_null\]"):
        load(tmp_path, 'columns.slug.not_null = true\n[[rows]]\ntable = "ads"\ncolumns.slug.not_null = true\n')


# -- SQL ----------------------------------------------------------------------------------------

TEXT = Column("slug", "text", True)
COLUMNS = {"slug": TEXT, "price": Column("price", "integer", False), "created_at": Column("created_at", "timestamp without time zone", False)}


@pytest.mark.parametrize(("dialect", "aggregates", "where", "sql", "params"), [
    ("postgresql", [Aggregate("not_null", "slug")], None,
     'SELECT count(*), count(*) FILTER (WHERE "slug" IS NULL) FROM "ads"', []),
    ("sqlite", [Aggregate("not_null", "slug")], None,
     'SELECT count(*), count(*) FILTER (WHERE "slug" IS NULL) FROM "ads"', []),
    ("postgresql", [Aggregate("not_empty", "slug"), Aggregate("pattern", "slug", "^a")], "slug LIKE 'a%'",
     "SELECT count(*), count(*) FILTER (WHERE (ascii(\"slug\") <= 32 "
     "AND btrim(\"slug\", E' \\t\\n\\r\\f\\v') = '')), "
     "count(*) FILTER (WHERE \"slug\" !~ %s) FROM \"ads\" WHERE (slug LIKE 'a%%')", ["^a"]),
    ("sqlite", [Aggregate("not_empty", "slug"), Aggregate("pattern", "slug", "^a")], "slug LIKE 'a%'",
     "SELECT count(*), count(*) FILTER (WHERE trim(\"slug\", char(32, 9, 10, 13, 12, 11)) = ''), "
     "count(*) FILTER (WHERE NOT (\"slug\" REGEXP ?)) FROM \"ads\" WHERE (slug LIKE 'a%')", ["^a"]),
    ("postgresql", [Aggregate("pattern", "price", "^[0-9]+$"), Aggregate("max_length", "price", 3)], None,
     'SELECT count(*), count(*) FILTER (WHERE "price"::text !~ %s), '
     'count(*) FILTER (WHERE (octet_length("price"::text) > %s AND char_length("price"::text) > %s)) FROM "ads"',
     ["^[0-9]+$", 3, 3]),
    ("postgresql", [Aggregate("min", "price", 0), Aggregate("max", "price", 9), Aggregate("min_length", "slug", 2)], None,
     'SELECT count(*), count(*) FILTER (WHERE "price" < %s), count(*) FILTER (WHERE "price" > %s), '
     'count(*) FILTER (WHERE char_length("slug") < %s) FROM "ads"', [0, 9, 2]),
    ("sqlite", [Aggregate("allowed", "slug", ("a", "b")), Aggregate("fresh", "created_at")], None,
     'SELECT count(*), count(*) FILTER (WHERE "slug" NOT IN (?, ?)), max("created_at") FROM "ads"', ["a", "b"]),
    ("postgresql", [Aggregate("allowed", "slug", ("a", "b")), Aggregate("fresh", "created_at")], None,
     'SELECT count(*), count(*) FILTER (WHERE "slug" NOT IN (%s, %s)), max("created_at")::timestamptz FROM "ads"',
     ["a", "b"]),
])
def test_scan_query(dialect: str, aggregates: list[Aggregate], where: str | None, sql: str, params: list[object]) -> None:
    assert scan_query(dialect, ("ads",), where, aggregates, COLUMNS) == (sql, params)  # type: ignore[arg-type]


@pytest.mark.parametrize(("dialect", "table", "column", "quoted_table", "quoted_column"), [
    ("postgresql", ("Shop", 'we"ird'), "Select", '"Shop"."we""ird"', '"Select"'),
    ("sqlite", ("main", "order"), 'a"b', '"main"."order"', '"a""b"'),
])
def test_identifiers_are_always_quoted(dialect: str, table: tuple[str, ...], column: str, quoted_table: str,
                                       quoted_column: str) -> None:
    sql, _ = scan_query(dialect, table, None, [Aggregate("not_null", column)], {column: Column(column, "text", True)})  # type: ignore[arg-type]
    assert sql == f"SELECT count(*), count(*) FILTER (WHERE {quoted_column} IS NULL) FROM {quoted_table}"


def test_duplicates_are_one_group_by_with_totals() -> None:
    assert duplicates_query("postgresql", ("ads",), "id > 5", "slug", 5) == (
        'SELECT v, n, count(*) OVER (), sum(n) OVER () FROM (SELECT "slug" AS v, count(*) AS n FROM "ads" '
        'WHERE "slug" IS NOT NULL AND (id > 5) GROUP BY "slug" HAVING count(*) > 1) d ORDER BY n DESC, v LIMIT 5', [])


def test_references_are_one_anti_join() -> None:
    assert orphans_query("postgresql", ("ads",), None, "category_id", ("shop", "categories"), "id") == (
        'SELECT count(*) FROM "ads" WHERE "ads"."category_id" IS NOT NULL AND NOT EXISTS '
        '(SELECT 1 FROM "shop"."categories" r WHERE r."id" = "ads"."category_id")', [])
    assert orphans_query("sqlite", ("ads",), None, "category_id", ("categories",), "id", key=("id",), limit=3)[0] == (
        'SELECT "ads"."id", "ads"."category_id" FROM "ads" WHERE "ads"."category_id" IS NOT NULL AND NOT EXISTS '
        '(SELECT 1 FROM "categories" r WHERE r."id" = "ads"."category_id") ORDER BY "ads"."id" LIMIT 3')


def test_samples_are_the_first_violating_rows_by_key() -> None:
    assert samples_query("postgresql", ("ads",), "x = 1", "pattern", "^a", TEXT, ("id",), 5) == (
        'SELECT "id", "slug" FROM "ads" WHERE "slug" !~ %s AND (x = 1) ORDER BY "id" LIMIT 5', ["^a"])
    assert samples_query("postgresql", ("ads",), None, "not_null", True, TEXT, ("ctid",), 2)[0] == (
        'SELECT ctid, "slug" FROM "ads" WHERE "slug" IS NULL ORDER BY ctid LIMIT 2')


# -- the scan: chunks, enums as text ------------------------------------------------------------------

STATUS = EnumColumn("status", "post_status", False, "post_status", ("draft", "published"))
PRICE = Column("price", "integer", False)


def test_past_1000_aggregates_the_scan_is_several_statements() -> None:
    assert SCAN_AGGREGATES < 1664 - 1  # PostgreSQL's target list, count(*) included
    aggregates = [Aggregate("min", "price", i) for i in range(2_500)]
    chunks = scan_chunks("postgresql", aggregates, {"price": PRICE})
    assert [len(chunk) for chunk in chunks] == [1_000, 1_000, 500]
    assert [agg for chunk in chunks for agg in chunk] == aggregates  # each once, in order
    assert scan_chunks("sqlite", aggregates[:999], {"price": PRICE}) == [aggregates[:999]]
    assert scan_chunks("postgresql", [], {"price": PRICE}) == [[]]  # count(*) alone, for the table rules
    sql, _ = scan_query("postgresql", ("t",), None, chunks[0], {"price": PRICE})
    assert sql.count("FILTER") == 1_000


def test_long_allowed_lists_split_the_scan_by_parameters() -> None:
    third = SCAN_PARAMS // 3
    lists = [Aggregate("allowed", "price", tuple(range(n, n + third))) for n in range(0, 4 * third, third)]
    chunks = scan_chunks("sqlite", [Aggregate("not_null", "price"), *lists], {"price": PRICE})
    assert [len(chunk) for chunk in chunks] == [4, 1]
    assert len(scan_query("sqlite", ("t",), None, chunks[0], {"price": PRICE})[1]) == 3 * third


@pytest.mark.parametrize(("dialect", "column", "values", "sql", "params"), [
    # an enum as text: a value that is not a label never matches instead of failing the query
    ("postgresql", STATUS, ("draft", "nope"),
     '"status"::text NOT IN (%s::text, %s::text)', ["draft", "nope"]),
    # numbers stay numbers, text stays typed by its column
    ("postgresql", PRICE, (1, 2), '"price" NOT IN (%s, %s)', [1, 2]),
    ("postgresql", TEXT, ("a",), '"slug" NOT IN (%s)', ["a"]),
    ("sqlite", STATUS, ("draft",), '"status" NOT IN (?)', ["draft"]),
])
def test_allowed_compares_enums_as_text(dialect: str, column: Column, values: tuple[object, ...], sql: str,
                                        params: list[object]) -> None:
    text, sent = scan_query(dialect, ("posts",), None, [Aggregate("allowed", column.name, values)],  # type: ignore[arg-type]
                            {column.name: column})
    assert (text, sent) == (f"SELECT count(*), count(*) FILTER (WHERE {sql}) FROM \"posts\"", params)
    sample, _ = samples_query(dialect, ("posts",), None, "allowed", values, column, ("id",), 3)  # type: ignore[arg-type]
    assert sql in sample


class ScriptedSession:
    """A session whose scan statements count `n` `min` aggregates as their values: the figure of
    `Aggregate("min", "n", 7)` is 7. A value in `bad` fails any statement holding it, with its
    message; `"where"` in `bad` fails every statement, count(*) alone too."""

    def __init__(self, dialect: str = "postgresql", bad: dict[object, str] | None = None) -> None:
        self.dialect = dialect
        self.bad = bad or {}
        self.statements: list[str] = []

    def query(self, sql: str, params: Sequence[Any] | None = None, *, limit: int | None = None) -> QueryResult:
        self.statements.append(sql)
        if not sql.startswith("SELECT"):
            return QueryResult((), [])
        failing = [self.bad[p] for p in (*(params or ()), "where") if p in self.bad]
        if failing:
            raise QueryError(f"query failed: {failing[0]}")
        return QueryResult((), [(100, *(params or ()))])

    @property
    def scans(self) -> list[str]:
        return [s for s in self.statements if s.startswith("SELECT")]


N = {"n": Column("n", "integer", False)}
OPTIONS = RowsOptions(("t",), None, (), (), ())


def mins(*values: object) -> list[Aggregate]:
    return [Aggregate("min", "n", v) for v in values]


def test_the_scan_is_one_statement_in_a_savepoint() -> None:
    session = ScriptedSession()
    scan = run_scan(session, OPTIONS, N, mins(*range(8)))  # type: ignore[arg-type]
    assert (scan.rows, scan.errors) == (100, {})
    assert [scan.figure(agg) for agg in mins(*range(8))] == list(range(8))
    assert session.statements[0] == "SAVEPOINT deploygate_rows_scan"
    assert session.statements[-1] == "RELEASE SAVEPOINT deploygate_rows_scan"
    assert len(session.scans) == 1
    sqlite = ScriptedSession("sqlite")
    run_scan(sqlite, OPTIONS, N, mins(1, 2))  # type: ignore[arg-type]
    assert sqlite.statements == sqlite.scans  # no savepoint: a failed SELECT aborts nothing there


def test_a_failing_rule_is_isolated_by_halves_and_fails_alone() -> None:
    session = ScriptedSession(bad={"abc": 'invalid input syntax for type integer: "abc"'})
    values = [0, 1, 2, "abc", 4, 5, 6, 7]
    scan = run_scan(session, OPTIONS, N, mins(*values))  # type: ignore[arg-type]
    assert scan.rows == 100
    assert {agg.value: str(error) for agg, error in scan.errors.items()} == {
        "abc": 'query failed: invalid input syntax for type integer: "abc"'}
    assert [scan.figure(agg) for agg in mins(0, 1, 2, 4, 5, 6, 7)] == [0, 1, 2, 4, 5, 6, 7]
    with pytest.raises(CheckError, match="abc"):
        scan.figure(Aggregate("min", "n", "abc"))
    # all 8 fail; 0-3 fail; count(*) alone counts; 0-1 count; 2 counts (so 3 fails alone); 4-7 count
    assert [s.count("FILTER") for s in session.scans] == [8, 4, 0, 2, 1, 4]
    # each failure goes back to the savepoint, so the transaction is usable again
    failures = [i for i, s in enumerate(session.statements) if s.startswith("SELECT") and
                session.statements[i + 1].startswith("ROLLBACK TO SAVEPOINT")]
    assert len(failures) == 2


def test_two_failing_rules_each_keep_their_own_message() -> None:
    session = ScriptedSession(bad={"x": "bad x", "y": "bad y"})
    scan = run_scan(session, OPTIONS, N, mins(0, "x", 2, 3, 4, 5, "y"))  # type: ignore[arg-type]
    assert {agg.value: str(error) for agg, error in scan.errors.items()} == {
        "x": "query failed: bad x", "y": "query failed: bad y"}
    assert set(scan.figures) == set(mins(0, 2, 3, 4, 5))


def test_a_broken_where_fails_the_whole_scan_with_one_message() -> None:
    session = ScriptedSession(bad={"where": 'column "nosuch" does not exist'})
    with pytest.raises(QueryError, match=r'^query failed: column "nosuch" does not exist$'):
        run_scan(session, OPTIONS, N, mins(*range(8)))  # type: ignore[arg-type]
    # the whole scan, its first half, then count(*) alone: no rule is blamed
    assert [s.count("FILTER") for s in session.scans] == [8, 4, 0]


class TimingOut(ScriptedSession):
    """Scan statements after the first `after` time out."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.after = after

    def query(self, sql: str, params: Sequence[Any] | None = None, *, limit: int | None = None) -> QueryResult:
        if sql.startswith("SELECT") and len(self.scans) >= self.after:
            self.statements.append(sql)
            raise QueryError("query cancelled after 5s (statement timeout)")
        return super().query(sql, params, limit=limit)


def test_a_timeout_is_not_isolated() -> None:
    # the first statement: the whole scan fails (halving would only time out again)
    first = TimingOut(after=0)
    with pytest.raises(QueryError, match="statement timeout"):
        run_scan(first, OPTIONS, N, mins(*range(3)))  # type: ignore[arg-type]
    assert len(first.scans) == 1
    # past the first statement (1,000 aggregates counted), the rest are not counted: timed out
    second = TimingOut(after=1)
    scan = run_scan(second, OPTIONS, N, mins(*range(1_500)))  # type: ignore[arg-type]
    assert len(second.scans) == 2
    assert len(scan.figures) == 1_000
    assert len(scan.errors) == 500
    assert {str(e) for e in scan.errors.values()} == {"query cancelled after 5s (statement timeout)"}


def test_a_failing_rule_in_a_later_chunk_spares_the_others() -> None:
    session = ScriptedSession("sqlite", bad={"bad": "no"})
    values = [*range(1_200), "bad"]
    scan = run_scan(session, OPTIONS, N, mins(*values))  # type: ignore[arg-type]
    assert list(scan.errors) == mins("bad")
    assert len(scan.figures) == 1_200
    # chunk 1 (1,000), chunk 2 fails (201); isolated there without count(*) alone (chunk 1 counted)
    assert [s.count("FILTER") for s in session.scans][:2] == [1_000, 201]
    assert 0 not in [s.count("FILTER") for s in session.scans]


@pytest.mark.parametrize(("seconds", "text"), [
    (5, "5s"), (125, "2m"), (3600 * 31 + 60 * 5, "1d 7h"), (3600 * 5 + 60 * 7, "5h 7m"), (86400 * 2, "2d"),
])
def test_ages_read_like_a_person_wrote_them(seconds: float, text: str) -> None:
    assert age(seconds) == text
