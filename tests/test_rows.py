"""`[[rows]]` through the plugin, on SQLite and on PostgreSQL: verdicts, samples, ids, one scan."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from .conftest import Backend, Gate, PostgresDatabase

MARKETPLACE = """
    CREATE TABLE categories (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
    INSERT INTO categories VALUES (1, 'Bikes'), (2, 'Books');
    CREATE TABLE ads (
        id INTEGER PRIMARY KEY,
        category_id INTEGER,
        title TEXT,
        slug TEXT,
        price INTEGER,
        status TEXT,
        created_at TIMESTAMP
    );
    INSERT INTO ads VALUES
        (10, 1, 'Road bike', 'road-bike-10', 300, 'published', {now}),
        (11, 2, 'Dune', 'dune-11', 12, 'draft', {now}),
        (12, 1, 'Helmet', 'helmet-12', 40, 'published', {now}),
        (13, 2, 'Atlas', 'atlas-13', 25, 'published', {days_ago:2});
"""

INCIDENT = """
    INSERT INTO ads VALUES
        (20, 1, 'Vintage road bike', NULL, 250, 'published', {now}),
        (21, 2, 'Dune, first edition', '', 90, 'published', {now}),
        (22, 1, 'Old phone', '   ', 15, 'published', {now}),
        (23, 2, 'Map', NULL, 5, 'published', {now});
"""

SLUG_RULES = """
    [[rows]]
    table = "ads"
    [rows.columns.slug]
    not_null = true
    not_empty = true
    pattern = '^[a-z0-9]+(-[a-z0-9]+)*-[0-9]+$'
    unique = true
"""


def report(gate: Gate) -> dict[str, dict[str, Any]]:
    """The `--deploygate-report` JSON, by check id."""
    data = json.loads((gate.path / "report.json").read_text())
    return {check["id"]: check for check in data["checks"]}


# -- incident 2 ---------------------------------------------------------------------------------


def test_null_and_empty_slugs_fail_with_their_ids(db: Backend) -> None:
    db.execute(MARKETPLACE + INCIDENT)
    db.config(SLUG_RULES)
    result = db.gate.run()
    result.assert_outcomes(passed=1, failed=3)
    result.stdout.fnmatch_lines([
        "2 of 8 rows in ads have slug NULL",
        "  id=20, slug=NULL",
        "  id=23, slug=NULL",
        "*",
        "2 of 8 rows in ads have slug empty ('' or only whitespace)",
        "  id=21, slug=''",
        "  id=22, slug='   '",
        "*",
        "2 of 8 rows in ads have slug not matching '^[[]a-z0-9[]]+(-[[]a-z0-9[]]+)*-[[]0-9[]]+$'",
        "  id=21, slug=''",
        "  id=22, slug='   '",
    ])
    result.stdout.fnmatch_lines([
        "FAILED deploygate.toml::rows[[]main.ads.slug:not_null[]] - 2 of 8 rows in ads have slug NULL",
        "FAILED deploygate.toml::rows[[]main.ads.slug:not_empty[]] - *",
        "FAILED deploygate.toml::rows[[]main.ads.slug:pattern[]] - *",
    ])


def test_not_empty_counts_any_whitespace_but_not_text_after_it(db: Backend) -> None:
    # '' and whitespace only are empty; whitespace before text is not, nor a control character
    # that is not whitespace (the PostgreSQL predicate screens on the first code being <= 32)
    db.execute(MARKETPLACE + "UPDATE ads SET title = {tab_newline} WHERE id = 11; UPDATE ads SET title = {tab_x} WHERE id = 12;"
               "UPDATE ads SET title = '' WHERE id = 13; UPDATE ads SET title = {control} WHERE id = 10;")
    db.config('[[rows]]\ntable = "ads"\ncolumns.title.not_empty = true\n')
    result = db.gate.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["2 of 4 rows in ads have title empty ('' or only whitespace)",
                                "  id=11, title='\\t\\n '", "  id=13, title=''"])
    result.stdout.no_fnmatch_line("*id=10*")
    result.stdout.no_fnmatch_line("*id=12*")


def test_min_and_max_take_dates(db: Backend) -> None:
    db.execute(MARKETPLACE)
    db.config('[[rows]]\ntable = "ads"\ncolumns.created_at.min = 2000-01-01\ncolumns.created_at.max = 2001-01-01\n')
    result = db.gate.run()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*rows[[]main.ads.created_at:max[]] - 4 of 4 rows in ads have created_at above 2001-01-01"])


def test_healthy_data_passes_with_counts_in_the_report(db: Backend) -> None:
    db.execute(MARKETPLACE)
    db.config(SLUG_RULES)
    result = db.gate.run("-v", "--deploygate-report", "report.json")
    result.assert_outcomes(passed=4)
    checks = report(db.gate)
    assert checks["main.ads.slug:not_null"]["verdict"] == "0 of 4 rows in ads have slug NULL"
    assert checks["main.ads.slug:not_null"]["figures"] == {"rows": 4, "violations": 0}
    assert checks["main.ads.slug:unique"]["figures"] == {"rows": 4, "duplicate_values": 0, "duplicate_rows": 0}


# -- every rule ---------------------------------------------------------------------------------

EVERY_RULE = """
    [[rows]]
    table = "ads"
    min_rows = 2
    max_rows = 100
    fresh = { column = "created_at", max_age = "1h" }
    [rows.columns.title]
    min_length = 4
    max_length = 8
    [rows.columns.price]
    min = 10
    max = 200
    [rows.columns.status]
    allowed = ["published", "sold"]
    [rows.columns.category_id]
    references = "categories.id"
"""


def test_every_rule_passes_on_healthy_data(db: Backend) -> None:
    db.execute(MARKETPLACE + "UPDATE ads SET price = 100, title = 'A title', status = 'sold';")
    db.config(EVERY_RULE)
    result = db.gate.run("-v", "--deploygate-report", "report.json")
    result.assert_outcomes(passed=9)
    checks = report(db.gate)
    assert checks["main.ads:min_rows"]["verdict"] == "ads has 4 rows (min 2)"
    # 0s, or a second or two on a loaded machine
    assert re.match(r"newest ads\.created_at is \ds old \(max 1h\)", checks["main.ads:fresh"]["verdict"])
    assert checks["main.ads.category_id:references"]["verdict"] == \
        "0 of 4 rows in ads have category_id with no match in categories.id"


def test_every_rule_names_what_breaks_it(db: Backend) -> None:
    db.execute(MARKETPLACE + """
        INSERT INTO ads VALUES (30, 9, 'Bic', 'bic-30', 5, 'gone', NULL), (31, NULL, NULL, NULL, NULL, NULL, NULL);
        UPDATE ads SET created_at = NULL WHERE id < 30 AND id <> 13;
    """)
    db.config(EVERY_RULE.replace("max_rows = 100", "max_rows = 5"))
    result = db.gate.run()
    result.assert_outcomes(passed=1, failed=8)
    result.stdout.fnmatch_lines([
        "FAILED *rows[[]main.ads:max_rows[]] - ads has 6 rows (max 5)",
        "FAILED *rows[[]main.ads:fresh[]] - newest ads.created_at is 2d old (max 1h): *",
        "FAILED *rows[[]main.ads.title:min_length[]] - 1 of 6 rows in ads have title shorter than 4 characters",
        "FAILED *rows[[]main.ads.title:max_length[]] - 1 of 6 rows in ads have title longer than 8 characters",
        "FAILED *rows[[]main.ads.price:min[]] - 1 of 6 rows in ads have price below 10",
        "FAILED *rows[[]main.ads.price:max[]] - 1 of 6 rows in ads have price above 200",
        "FAILED *rows[[]main.ads.status:allowed[]] - 2 of 6 rows in ads have status not one of published, sold",
        "FAILED *rows[[]main.ads.category_id:references[]] - 1 of 6 rows in ads have category_id with no match in categories.id",
    ])
    result.stdout.fnmatch_lines(["1 of 6 rows in ads have title longer than 8 characters", "  id=10, title=Road bike"])
    result.stdout.fnmatch_lines([
        "2 of 6 rows in ads have status not one of published, sold",
        "  id=11, status=draft",
        "  id=30, status=gone",
    ])
    result.stdout.fnmatch_lines([
        "1 of 6 rows in ads have category_id with no match in categories.id",
        "  id=30, category_id=9",
    ])


def test_an_empty_table_fails_fresh_and_min_rows(db: Backend) -> None:
    db.execute(MARKETPLACE + "DELETE FROM ads;")
    db.config(EVERY_RULE)
    result = db.gate.run()
    result.stdout.fnmatch_lines([
        "FAILED *rows[[]main.ads:min_rows[]] - ads has 0 rows (min 2)",
        "FAILED *rows[[]main.ads:fresh[]] - no row of ads has created_at set (fresh: the newest must be at most 1h old)",
    ])
    result.assert_outcomes(passed=7, failed=2)


# -- unique -------------------------------------------------------------------------------------


def test_unique_counts_values_occurring_more_than_once_and_their_rows(db: Backend) -> None:
    db.execute(MARKETPLACE + """
        INSERT INTO ads VALUES (40, 1, 'A', 'dune-11', 1, 'sold', NULL), (41, 1, 'B', 'dune-11', 1, 'sold', NULL),
                               (42, 1, 'C', 'atlas-13', 1, 'sold', NULL), (43, 1, 'D', NULL, 1, 'sold', NULL),
                               (44, 1, 'E', NULL, 1, 'sold', NULL);
    """)
    db.config("""
        [[rows]]
        table = "ads"
        columns.slug.unique = true
    """)
    result = db.gate.run("--deploygate-report", "report.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "2 slug values occur more than once in ads (5 of 9 rows)",
        "  slug=dune-11 (3 rows): id=11, id=40, id=41",
        "  slug=atlas-13 (2 rows): id=13, id=42",
    ])
    # NULLs are not values: two NULL slugs are not a duplicate (as in a unique index)
    assert report(db.gate)["main.ads.slug:unique"]["figures"] == {
        "rows": 9, "duplicate_values": 2, "duplicate_rows": 5}


def test_unique_is_answered_from_a_unique_index(db: Backend) -> None:
    db.execute(MARKETPLACE + "CREATE UNIQUE INDEX ads_slug_key ON ads (slug);")
    db.config("""
        [[rows]]
        table = "ads"
        columns.slug.unique = true
        columns.id.unique = true
    """)
    result = db.gate.run("--deploygate-report", "report.json")
    result.assert_outcomes(passed=2)
    checks = report(db.gate)
    assert checks["main.ads.slug:unique"]["verdict"] == "ads.slug is unique by ads_slug_key (from the catalog, no scan)"
    assert checks["main.ads.id:unique"]["figures"] == {"from_catalog": 1}


def test_a_partial_or_composite_unique_index_does_not_count(db: Backend) -> None:
    db.execute(MARKETPLACE + """
        CREATE UNIQUE INDEX ads_slug_live ON ads (slug) WHERE status = 'published';
        CREATE UNIQUE INDEX ads_title_slug ON ads (title, slug);
        INSERT INTO ads VALUES (50, 1, 'Other', 'dune-11', 1, 'draft', NULL);
    """)
    db.config("""
        [[rows]]
        table = "ads"
        columns.slug.unique = true
    """)
    result = db.gate.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*1 slug value occurs more than once in ads (2 of 5 rows)"])


# -- entry keys ---------------------------------------------------------------------------------


def test_where_limits_the_rows_checked(db: Backend) -> None:
    db.execute(MARKETPLACE + INCIDENT)
    db.config(SLUG_RULES.replace('table = "ads"', 'table = "ads"\nwhere = "id < 21 AND title LIKE \'%bike%\'"'))
    result = db.gate.run()
    result.assert_outcomes(passed=3, failed=1)  # LIKE '%...': a literal % in the user's SQL survives
    result.stdout.fnmatch_lines(["*rows[[]main.ads.slug:not_null[]] - 1 of 2 rows in ads have slug NULL"])


def test_key_chooses_what_identifies_a_row_in_samples(db: Backend) -> None:
    db.execute(MARKETPLACE + INCIDENT)
    db.config(SLUG_RULES.replace('table = "ads"', 'table = "ads"\nkey = ["title"]'))
    result = db.gate.run()
    result.stdout.fnmatch_lines([
        "2 of 8 rows in ads have slug NULL",
        "  title=Map, slug=NULL",
        "  title=Vintage road bike, slug=NULL",
    ])


def test_a_table_without_primary_key_shows_its_physical_row_id(db: Backend) -> None:
    db.execute("CREATE TABLE events (kind TEXT); INSERT INTO events VALUES ('a'), (NULL);")
    db.config('[[rows]]\ntable = "events"\ncolumns.kind.not_null = true\n')
    result = db.gate.run()
    result.stdout.fnmatch_lines(["1 of 2 rows in events have kind NULL",
                                 "  ctid=(0,2), kind=NULL" if db.name == "postgresql" else "  rowid=2, kind=NULL"])


def test_samples_setting_bounds_the_rows_shown(db: Backend) -> None:
    db.execute(MARKETPLACE + INCIDENT)
    db.config(SLUG_RULES, settings="[deploygate]\nsamples = 1\n")
    result = db.gate.run()
    result.stdout.fnmatch_lines(["2 of 8 rows in ads have slug NULL", "  id=20, slug=NULL", "_*"])
    assert "id=23, slug=NULL" not in result.stdout.str()


def test_severity_per_column_and_per_rule(db: Backend) -> None:
    db.execute(MARKETPLACE + INCIDENT)
    db.config("""
        [[rows]]
        table = "ads"
        [rows.columns.slug]
        severity = "warn"
        not_null = true
        not_empty = { severity = "fail" }
        pattern = { value = '^[a-z-]+[0-9]+$', severity = "warn" }
        [rows.columns.title]
        max_length = { value = 5, severity = "warn" }
    """)
    result = db.gate.run()
    assert result.parseoutcomes() == {"failed": 1, "warned": 3}
    result.stdout.fnmatch_lines([
        "WARN *rows[[]main.ads.slug:not_null[]] - 2 of 8 rows in ads have slug NULL",
        "WARN *rows[[]main.ads.slug:pattern[]] - *",
        "WARN *rows[[]main.ads.title:max_length[]] - *",
        "FAILED *rows[[]main.ads.slug:not_empty[]] - *",
    ])


def test_ids_follow_the_entry_name_and_rules(db: Backend) -> None:
    db.execute(MARKETPLACE)
    db.config(SLUG_RULES.replace('table = "ads"', 'table = "ads"\nmin_rows = 1') +
              '\n[[rows]]\nname = "recent"\ntable = "ads"\nwhere = "id > 11"\ncolumns.slug.not_null = true\n')
    result = db.gate.run("--collect-only", "-q")
    result.stdout.fnmatch_lines([
        "deploygate.toml::rows[[]main.ads:min_rows[]]",
        "deploygate.toml::rows[[]main.ads.slug:not_null[]]",
        "deploygate.toml::rows[[]main.ads.slug:not_empty[]]",
        "deploygate.toml::rows[[]main.ads.slug:pattern[]]",
        "deploygate.toml::rows[[]main.ads.slug:unique[]]",
        "deploygate.toml::rows[[]recent.slug:not_null[]]",
    ])


def test_quoted_identifiers_reach_odd_names(db: Backend) -> None:
    schema = "" if db.name == "sqlite" else 'CREATE SCHEMA "Shop";'
    table = '"order"' if db.name == "sqlite" else '"Shop"."order"'
    db.execute(f"""{schema}
        CREATE TABLE {table} ("Select" TEXT, "we""ird" INTEGER, "group" INTEGER PRIMARY KEY);
        INSERT INTO {table} VALUES ('x', NULL, 1), (NULL, 2, 2);
    """)
    name = "order" if db.name == "sqlite" else "Shop.order"
    db.config(f"""
        [[rows]]
        name = "odd"
        table = "{name}"
        columns.Select.not_null = true
        columns.'we"ird'.not_null = true
    """)
    result = db.gate.run()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([f"1 of 2 rows in {name} have Select NULL", "  group=2, Select=NULL"])
    result.stdout.fnmatch_lines([f'1 of 2 rows in {name} have we"ird NULL', '  group=1, we"ird=NULL'])


# -- many rules, failing rules -------------------------------------------------------------------


def test_more_rules_than_one_statement_holds_are_counted_in_chunks(db: Backend) -> None:
    # 700 columns x 3 rules: 2,100 aggregates, past PostgreSQL's 1,664 target entries and
    # SQLite's 2,000 result columns; counted 1,000 per statement, each item finds its figure
    columns = [f"c{i}" for i in range(700)]
    db.execute(f"CREATE TABLE wide (id INTEGER PRIMARY KEY, {', '.join(c + ' INTEGER' for c in columns)});"
               f"INSERT INTO wide VALUES (1, {', '.join('1' for _ in columns)}), (2, {', '.join('2' for _ in columns)});"
               "UPDATE wide SET c0 = -1, c699 = NULL WHERE id = 2;")
    rules = "\n".join(f"columns.{c} = {{ not_null = true, min = 0, max = 5 }}" for c in columns)
    db.config(f'[[rows]]\ntable = "wide"\n{rules}\n', settings="[deploygate]\nsamples = 0\n")  # no sample query
    before = seq_scans(db.pg, "wide") if db.pg is not None else 0
    result = db.gate.run("-q", "--deploygate-report", "report.json")
    result.assert_outcomes(passed=2098, failed=2)
    result.stdout.fnmatch_lines([
        "FAILED *rows[[]main.wide.c0:min[]] - 1 of 2 rows in wide have c0 below 0",
        "FAILED *rows[[]main.wide.c699:not_null[]] - 1 of 2 rows in wide have c699 NULL",
    ])
    checks = report(db.gate)
    assert checks["main.wide.c0:not_null"]["verdict"] == "0 of 2 rows in wide have c0 NULL"
    assert checks["main.wide.c699:max"]["figures"] == {"rows": 2, "violations": 0}
    if db.pg is not None:
        # three statements (1,000 + 1,000 + 100 aggregates), each a scan; no more
        assert seq_scans(db.pg, "wide", before) - before == 3


ENUM_TABLE = """
    CREATE TYPE post_status AS ENUM ('draft', 'published', 'archived');
    CREATE TABLE posts (id INTEGER PRIMARY KEY, status post_status, views INTEGER, pinned BOOLEAN);
    INSERT INTO posts VALUES (1, 'draft', 10, false), (2, 'published', 20, true), (3, 'archived', 10, NULL);
"""


def test_allowed_compares_an_enum_as_text_and_a_failing_rule_fails_alone(pg: PostgresDatabase, gate: Gate) -> None:
    pg.execute(ENUM_TABLE)
    gate.config(f"""
        [databases.main]
        url = "{pg.url}"
        [[rows]]
        table = "posts"
        min_rows = 1
        fresh = {{ column = "pinned", max_age = "1h" }}    # max(boolean) does not exist: fails alone
        [rows.columns.status]
        not_null = true
        allowed = ["draft", "published", "nope"]            # 'nope' is no label of post_status
        [rows.columns.views]
        min = "abc"                                         # not an integer: fails alone
        allowed = [10, 20]                                  # numbers, compared as numbers
        [rows.columns.id]
        max = 100

        [[rows]]
        name = "all-labels"
        table = "posts"
        columns.status.allowed = ["draft", "published", "archived", "gone"]
    """)
    result = gate.run("--deploygate-report", "report.json")
    result.assert_outcomes(passed=5, failed=3)
    result.stdout.fnmatch_lines([
        "1 of 3 rows in posts have status not one of draft, published, nope (not a label of enum post_status: 'nope')",
        "  id=3, status=archived",
    ])
    result.stdout.fnmatch_lines([
        "*rows[[]main.posts:fresh[]] - query failed: function max(boolean) does not exist*",  # FAILED or ERROR
        "FAILED *rows[[]main.posts.status:allowed[]] - 1 of 3 rows *",
        '*rows[[]main.posts.views:min[]] - query failed: invalid input syntax for type integer: "abc"*',
    ])
    checks = report(gate)
    assert checks["main.posts:min_rows"]["verdict"] == "posts has 3 rows (min 1)"
    assert checks["main.posts.id:max"]["verdict"] == "0 of 3 rows in posts have id above 100"
    assert checks["main.posts.views:allowed"]["verdict"] == "0 of 3 rows in posts have views not one of 10, 20"
    assert checks["all-labels.status:allowed"]["verdict"] == (
        "0 of 3 rows in posts have status not one of draft, published, archived, gone "
        "(not a label of enum post_status: 'gone')")
    assert "Traceback" not in result.stdout.str()


def test_isolating_a_failing_rule_costs_a_few_scans_not_one_per_rule(pg: PostgresDatabase, gate: Gate) -> None:
    pg.execute(ENUM_TABLE + "INSERT INTO posts SELECT i, 'draft', i, true FROM generate_series(4, 2000) i;")
    rules = "\n".join(f"columns.views.{rule} = {value}" for rule, value in
                       [("min", '"abc"'), ("not_null", "true"), ("max_length", 9),
                        ("min_length", 1), ("pattern", "'^[0-9]+$'"), ("not_empty", "true")])
    gate.config(f'[databases.main]\nurl = "{pg.url}"\n[[rows]]\ntable = "posts"\n{rules}\n'
                "columns.status.not_null = true\ncolumns.id.max = 5000\n")
    before = seq_scans(pg, "posts")
    result = gate.run()
    result.assert_outcomes(passed=7, failed=1)
    result.stdout.fnmatch_lines(['*rows[[]main.posts.views:min[]] - query failed: invalid input syntax for type integer*'])
    # the shared statement and its first half fail before they scan (a parameter that does not
    # cast); count(*) alone proves the table and `where` sound; the halves that count find the
    # rule: 4 scans (count(*), 2 rules, 1 rule, 4 rules), where a query per rule would be 8
    assert seq_scans(pg, "posts", before) - before <= 4


def test_a_where_that_fails_as_it_runs_fails_every_item_with_one_message(db: Backend) -> None:
    db.execute(MARKETPLACE)
    where = "1 / (price - 12) > 0" if db.pg is not None else "no_such_column > 0"  # division by zero at id 11
    db.config(SLUG_RULES.replace('table = "ads"', f'table = "ads"\nwhere = "{where}"\nmin_rows = 1'))
    result = db.gate.run("--deploygate-report", "report.json")
    result.assert_outcomes(failed=5)
    messages = {check["verdict"] for check in report(db.gate).values()}
    assert len(messages) == 1, messages
    assert ("division by zero" if db.pg is not None else "no such column: no_such_column") in messages.pop()


# -- bad input ----------------------------------------------------------------------------------


def test_an_unknown_table_fails_each_item_naming_it(db: Backend) -> None:
    db.execute(MARKETPLACE)
    db.config(SLUG_RULES.replace('"ads"', '"adz"'))
    result = db.gate.run()
    result.assert_outcomes(failed=4)
    result.stdout.fnmatch_lines(['FAILED *rows[[]main.adz.slug:not_null[]] - table adz does not exist in database "main"'])
    assert "Traceback" not in result.stdout.str()


def test_an_unknown_column_fails_its_rules_and_spares_the_others(db: Backend) -> None:
    db.execute(MARKETPLACE + INCIDENT)
    db.config(SLUG_RULES + "[rows.columns.slugg]\nnot_null = true\n[rows.columns.category_id]\nreferences = \"categories.idd\"\n")
    result = db.gate.run()
    result.assert_outcomes(passed=1, failed=5)
    result.stdout.fnmatch_lines([
        "FAILED *rows[[]main.ads.slug:not_null[]] - 2 of 8 rows in ads have slug NULL",
        "FAILED *rows[[]main.ads.slugg:not_null[]] - column ads.slugg does not exist (columns: id, category_id, title, slug, price, status, created_at)",
        "FAILED *rows[[]main.ads.category_id:references[]] - column categories.idd does not exist (columns: id, name)",
    ])


def test_a_where_that_tries_to_write_fails_and_changes_nothing(db: Backend) -> None:
    db.execute(MARKETPLACE)
    db.config(SLUG_RULES.replace('table = "ads"', 'table = "ads"\nwhere = "true); DELETE FROM ads; SELECT (1"'))
    result = db.gate.run()
    result.assert_outcomes(failed=4)
    result.stdout.fnmatch_lines(["FAILED *rows[[]main.ads.slug:not_null[]] - query failed: *"])
    if db.pg is not None:
        assert db.pg.scalar("SELECT count(*) FROM ads") == 4
    else:
        assert sqlite3.connect(db.gate.path / "app.db").execute("SELECT count(*) FROM ads").fetchone() == (4,)


def test_a_bad_regex_is_a_config_error_at_collection(db: Backend) -> None:
    db.config(SLUG_RULES.replace("pattern = '^[a-z0-9]+", "pattern = '^[a-z0-9+"))
    result = db.gate.run("--collect-only")
    result.stdout.fnmatch_lines(['deploygate.toml: *rows*#1: key "columns.slug.pattern": invalid regular expression *'])
    assert "Traceback" not in result.stdout.str()
    assert result.ret == pytest.ExitCode.INTERRUPTED


# -- one scan per table -------------------------------------------------------------------------

SEVEN_RULES = """
    [[rows]]
    table = "ads"
    [rows.columns.slug]
    not_null = true
    not_empty = true
    pattern = '^[a-z0-9]+(-[a-z0-9]+)*-[0-9]+$'
    max_length = 200
    [rows.columns.title]
    not_null = true
    not_empty = true
    max_length = 200

    [[rows]]
    name = "same-table"
    table = "ads"
    min_rows = 1
    columns.price.min = 0
"""


def seq_scans(pg: PostgresDatabase, table: str, baseline: int | None = None) -> int:
    """Sequential scans of `table` so far. Statistics reach the view asynchronously (a backend
    flushes them when it ends): with a baseline, wait until the count moves, then once more."""
    query = f"SELECT seq_scan FROM pg_stat_user_tables WHERE relname = '{table}'"
    value = int(pg.scalar(query))
    if baseline is None:
        return value
    deadline = time.monotonic() + 10
    while value == baseline and time.monotonic() < deadline:
        time.sleep(0.1)
        value = int(pg.scalar(query))
    time.sleep(1.0)  # a second flush would come from another backend: give it the time to land
    return int(pg.scalar(query))


def test_all_aggregate_rules_of_a_table_share_one_scan(pg: PostgresDatabase, gate: Gate) -> None:
    pg.execute("CREATE TABLE ads (id INTEGER PRIMARY KEY, title TEXT, slug TEXT, price INTEGER);"
               "INSERT INTO ads SELECT i, 'title ' || i, 'ad-' || i, i FROM generate_series(1, 5000) i;")
    gate.config(f'[databases.main]\nurl = "{pg.url}"\n{SEVEN_RULES}')
    before = seq_scans(pg, "ads")
    result = gate.run()
    result.assert_outcomes(passed=9)
    # nine items over two entries, one (database, table, where): one scan
    assert seq_scans(pg, "ads", before) - before == 1


def test_unique_from_the_catalog_scans_nothing(pg: PostgresDatabase, gate: Gate) -> None:
    pg.execute("CREATE TABLE ads (id INTEGER PRIMARY KEY, slug TEXT UNIQUE);"
               "INSERT INTO ads SELECT i, 'ad-' || i FROM generate_series(1, 5000) i;"
               "CREATE TABLE other (id INTEGER PRIMARY KEY, x TEXT); INSERT INTO other VALUES (1, 'x');")
    gate.config(f'[databases.main]\nurl = "{pg.url}"\n[[rows]]\ntable = "ads"\ncolumns.slug.unique = true\n'
                '[[rows]]\ntable = "other"\ncolumns.x.not_null = true\n')
    before, other = seq_scans(pg, "ads"), seq_scans(pg, "other")
    result = gate.run()
    result.assert_outcomes(passed=2)
    seq_scans(pg, "other", other)  # the scan of `other` arrives with every statistic of that run
    assert seq_scans(pg, "ads") == before


def test_under_xdist_each_worker_scans_at_most_once(pg: PostgresDatabase, gate: Gate) -> None:
    pg.execute("CREATE TABLE ads (id INTEGER PRIMARY KEY, title TEXT, slug TEXT, price INTEGER);"
               "INSERT INTO ads SELECT i, 'title ' || i, 'ad-' || i, i FROM generate_series(1, 5000) i;")
    gate.config(f'[databases.main]\nurl = "{pg.url}"\n{SEVEN_RULES}')
    before = seq_scans(pg, "ads")
    result = gate.run_subprocess("-n", "2")
    result.assert_outcomes(passed=9)
    assert 1 <= seq_scans(pg, "ads", before) - before <= 2


def test_under_xdist_the_verdicts_are_those_of_a_serial_run(db: Backend) -> None:
    db.execute(MARKETPLACE + INCIDENT)
    db.config(SLUG_RULES + EVERY_RULE)
    serial = db.gate.run_subprocess()
    parallel = db.gate.run_subprocess("-n", "2")
    assert serial.parseoutcomes() == parallel.parseoutcomes() == {"failed": 8, "passed": 5}

    def failures(result: pytest.RunResult) -> list[str]:
        return sorted(line for line in result.stdout.lines if line.startswith("FAILED"))

    assert failures(serial) == failures(parallel)


def test_results_are_recorded_in_junit(db: Backend) -> None:
    db.execute(MARKETPLACE + INCIDENT)
    db.config(SLUG_RULES)
    db.gate.run("--junitxml", "junit.xml")
    cases = {case.get("name"): case for case in ET.parse(db.gate.path / "junit.xml").iter("testcase")}
    props = {p.get("name"): p.get("value") for p in cases["rows[main.ads.slug:not_null]"].iter("property")}
    assert props["rows"] == "8"
    assert props["violations"] == "2"
    assert props["target"] == "ads.slug"
    assert props["database"] == "main"


# -- the example --------------------------------------------------------------------------------

EXAMPLE = Path(__file__).parent.parent / "conftest_examples" / "rows"


def run_example(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    shutil.copytree(EXAMPLE, pytester.path, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("demo.db", "demo.tmp", "__pycache__"))
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "--deploygate", *args)


def test_the_rows_example_passes_on_healthy_data(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEMO_INCIDENT", raising=False)
    result = run_example(pytester, "-v")
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=13)
    result.stdout.fnmatch_lines(["deploygate.toml::rows[[]main.ads.slug:unique[]] PASSED*"])


def test_the_rows_example_catches_incident_2(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_INCIDENT", "1")
    result = run_example(pytester, "-n", "2")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=8, failed=5)
    result.stdout.fnmatch_lines([
        "1 slug value occurs more than once in ads (2 of 204 rows)",
        "  slug=ad-number-7 (2 rows): id=7, id=204",
    ])
    result.stdout.fnmatch_lines(["FAILED deploygate.toml::rows[[]main.ads.slug:not_null[]] - 1 of 204 rows in ads have slug NULL"])


def test_unique_costs_one_more_scan_run_alongside_the_shared_one(pg: PostgresDatabase, gate: Gate) -> None:
    pg.execute("CREATE TABLE ads (id INTEGER PRIMARY KEY, title TEXT, slug TEXT, price INTEGER);"
               "INSERT INTO ads SELECT i, 'title ' || i, 'ad-' || i, i FROM generate_series(1, 5000) i;")
    gate.config(f'[databases.main]\nurl = "{pg.url}"\n{SLUG_RULES}')
    before = seq_scans(pg, "ads")
    result = gate.run("--deploygate-report", "report.json")
    result.assert_outcomes(passed=4)
    # the aggregate scan, and the GROUP BY of unique on a connection of its own; nothing else
    assert seq_scans(pg, "ads", before) - before == 2
    assert report(gate)["main.ads.slug:unique"]["figures"]["duplicate_values"] == 0
