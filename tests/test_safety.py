"""SPEC's safety promises, one test each that fails if the promise breaks."""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

from .conftest import READER, Gate, PostgresDatabase
from .helpers import FreezingProxy, silent_server

ADS = "CREATE TABLE ads (id int PRIMARY KEY, slug text); INSERT INTO ads VALUES (1, 'a-1'), (2, 'b-2');"


def pg_gate(gate: Gate, pg: PostgresDatabase, checks: str, db_extra: str = "") -> None:
    gate.config(f'[databases.main]\nurl = "{pg.url}"\n{db_extra}\n{checks}')


# -- never writes: PostgreSQL ----------------------------------------------------------------


def test_a_hostile_multi_statement_query_changes_nothing(gate: Gate, pg: PostgresDatabase) -> None:
    pg.execute(ADS)
    pg_gate(gate, pg, '''
        [[sql]]
        name = "hostile"
        query = "COMMIT; SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE; DELETE FROM ads"
    ''')
    result = gate.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*sql[[]hostile[]] - query failed: cannot insert multiple commands*"])
    assert pg.scalar("SELECT count(*) FROM ads") == 2


@pytest.mark.parametrize(
    "query",
    [
        "DELETE FROM ads RETURNING id",
        "WITH gone AS (DELETE FROM ads RETURNING id) SELECT id FROM gone",
        "UPDATE ads SET slug = NULL RETURNING id",
        "SELECT nextval('ads_seq')",
        "SELECT set_config('transaction_read_only', 'off', false)",
    ],
)
def test_writing_queries_fail_their_check_and_change_nothing(gate: Gate, pg: PostgresDatabase, query: str) -> None:
    pg.execute(ADS + "CREATE SEQUENCE ads_seq;")
    pg_gate(gate, pg, f'[[sql]]\nname = "write"\nquery = "{query}"\n')
    result = gate.run()
    result.assert_outcomes(failed=1)
    assert "query failed:" in result.stdout.str()
    assert pg.scalar("SELECT count(*) FROM ads WHERE slug IS NOT NULL") == 2
    assert pg.scalar("SELECT last_value FROM ads_seq") == 1
    assert pg.scalar("SELECT is_called FROM ads_seq") is False


def test_a_check_cannot_make_the_session_writable_for_the_next_one(gate: Gate, pg: PostgresDatabase) -> None:
    pg.execute(ADS)
    pg_gate(gate, pg, '''
        [[sql]]
        name = "a-set-session"
        query = "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE"
        [[sql]]
        name = "b-reset-default"
        query = "SET default_transaction_read_only = off"
        [[sql]]
        name = "c-delete"
        query = "DELETE FROM ads RETURNING id"
    ''')
    result = gate.run("-p", "no:randomly")
    result.stdout.fnmatch_lines(["*sql[[]c-delete[]] - query failed: cannot execute DELETE in a read-only transaction*"])
    assert pg.scalar("SELECT count(*) FROM ads") == 2


def test_sessions_are_read_only_at_session_and_transaction_level(gate: Gate, pg: PostgresDatabase) -> None:
    pg_gate(gate, pg, '''
        [[sql]]
        name = "read-only"
        query = "SELECT 1 WHERE current_setting('default_transaction_read_only') <> 'on' OR current_setting('transaction_read_only') <> 'on'"
    ''')
    gate.run().assert_outcomes(passed=1)


@pytest.mark.parametrize("query", [
    "COPY (SELECT 1) TO PROGRAM 'touch /tmp/deploygate-pwned'",
    "SELECT lo_export(0, '/tmp/deploygate-pwned')",
    "SELECT pg_terminate_backend(pg_backend_pid())",
    "SELECT pg_stat_reset()",
    "SELECT pg_switch_wal()",
    "COPY ads TO '/tmp/deploygate-pwned'",
    "SELECT pg_create_physical_replication_slot('deploygate_slot')",
    "SELECT 1",
])
def test_user_sql_is_refused_on_a_superuser_and_the_message_says_what_to_do(gate: Gate, pg: PostgresDatabase,
                                                                              query: str) -> None:
    pg.execute(ADS)
    gate.config(f'[databases.main]\nurl = "{pg.admin_url}"\n[[sql]]\nname = "q"\nquery = "{query}"\n'
                '[[schema]]\nrequire = { ads = ["id"] }\n')
    result = gate.run("-rA")
    # the built-in check, whose SQL is ours, still runs on the superuser
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(['*sql[[]q[]] - refused: role "*" is a superuser, which a read-only transaction '
                                 "cannot hold back*GRANT pg_read_all_data*allow_privileged = true on [[]databases.main[]]"])
    assert not Path("/tmp/deploygate-pwned").exists()


def test_allow_privileged_lets_user_sql_run_on_a_superuser(gate: Gate, pg: PostgresDatabase) -> None:
    pg.execute(ADS)
    gate.config(f'[databases.main]\nurl = "{pg.admin_url}"\nallow_privileged = true\n'
                '[[sql]]\nquery = "SELECT id FROM ads WHERE slug IS NULL"\n')
    gate.run().assert_outcomes(passed=1)


@pytest.mark.parametrize("query", [
    "LOCK TABLE ads IN ACCESS EXCLUSIVE MODE", "ANALYZE ads", "CLUSTER ads USING ads_pkey",
    "SET transaction_read_only = off", "PREPARE p AS SELECT 1", "LISTEN channel", "DISCARD ALL",
])
def test_a_statement_that_returns_no_rows_is_refused_without_running(gate: Gate, pg: PostgresDatabase,
                                                                    query: str) -> None:
    pg.execute(ADS)
    analyzed = pg.scalar("SELECT coalesce(analyze_count, 0) FROM pg_stat_user_tables WHERE relname = 'ads'")
    pg_gate(gate, pg, f'[[sql]]\nname = "q"\nquery = "{query}"\n')
    result = gate.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*sql[[]q[]] - the query returns no rows, so it was not run*"])
    time.sleep(0.5)  # statistics arrive asynchronously
    assert pg.scalar("SELECT coalesce(analyze_count, 0) FROM pg_stat_user_tables WHERE relname = 'ads'") == analyzed


def test_an_advisory_lock_taken_by_a_query_is_released_before_the_next_check(gate: Gate, pg: PostgresDatabase) -> None:
    pg_gate(gate, pg, """
        [[sql]]
        name = "a-takes-the-lock"
        query = "SELECT 1 FROM (SELECT pg_advisory_lock(4242)) l WHERE false"
        [[sql]]
        name = "b-finds-it-free"
        query = "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242"
    """)
    gate.run("-p", "no:randomly").assert_outcomes(passed=2)


def test_a_query_of_millions_of_rows_is_counted_in_bounded_memory(gate: Gate, pg: PostgresDatabase) -> None:
    pg_gate(gate, pg, '[[sql]]\nname = "many"\nquery = "SELECT g, repeat(\'x\', 100) FROM generate_series(1, 2000000) g"\n')
    # VmHWM, the peak of this process's own memory since its exec: ru_maxrss would also count the
    # parent's (a spawned child inherits the high-water mark of the pytest process that forked it,
    # which grows over a full suite run)
    gate.pytester.makeconftest("""
import re

def pytest_sessionfinish(session):
    with open("/proc/self/status") as status, open("maxrss.txt", "w") as fh:
        fh.write(re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1))
""")
    result = gate.run_subprocess()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*sql[[]many[]] - query returned 2,000,000 rows (expected none)"])
    # 2,000,000 rows of ~110 bytes held would be ~500 MB in Python; streamed, the process stays small
    assert int((gate.path / "maxrss.txt").read_text()) < 150_000  # KiB


# -- never writes: SQLite --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("DELETE FROM ads", "query failed: *"),
        ("UPDATE ads SET slug = NULL", "query failed: *"),
        ("SELECT 1; DELETE FROM ads", "query failed: *one statement*"),
        ("ATTACH DATABASE 'other.db' AS other", "query failed: not authorized (the gate only reads)"),
        ("PRAGMA query_only = 0", "query failed: not authorized (the gate only reads)"),
        ("CREATE TABLE x (id int)", "query failed: *"),
        ("VACUUM INTO 'other.db'", "query failed: not authorized (the gate only reads)"),
        ("ATTACH DATABASE 'file:other.db?mode=rwc' AS other", "query failed: not authorized (the gate only reads)"),
        ("SELECT load_extension('/usr/lib/x86_64-linux-gnu/libsqlite3.so.0')", "query failed: not authorized*"),
    ],
)
def test_sqlite_is_opened_read_only(gate: Gate, query: str, message: str) -> None:
    db = gate.sqlite("CREATE TABLE ads (id INTEGER PRIMARY KEY, slug TEXT); INSERT INTO ads VALUES (1, 'a-1');")
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    gate.config(f'[databases.main]\nurl = "sqlite:///app.db"\n[[sql]]\nname = "w"\nquery = "{query}"\n')
    result = gate.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*sql[[]w[]] - {message}"])
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    assert not (gate.path / "other.db").exists()


# -- bounded ---------------------------------------------------------------------------------


def test_statement_timeout_stops_a_slow_query(gate: Gate, pg: PostgresDatabase) -> None:
    pg_gate(gate, pg, '[[sql]]\nname = "slow"\nquery = "SELECT 1 FROM pg_sleep(30)"\n',
            db_extra='statement_timeout = "300ms"')
    start = time.monotonic()
    result = gate.run()
    assert time.monotonic() - start < 10
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*sql[[]slow[]] - query cancelled after 300ms (statement timeout)"])


def _server_socket(pg: PostgresDatabase) -> Callable[[], socket.socket]:
    """How to reach `pg`'s server: its unix socket (pgserver) or its TCP port."""
    params = conninfo_to_dict(pg.admin_url)
    host, port = str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432)

    def connect() -> socket.socket:
        if host.startswith("/"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(f"{host}/.s.PGSQL.{port}")
        else:
            sock = socket.create_connection((host, port))
        return sock

    return connect


def test_a_server_that_stops_answering_mid_run_ends_the_run_in_bounded_time(gate: Gate, pg: PostgresDatabase) -> None:
    pg.execute(ADS)
    proxy = FreezingProxy(_server_socket(pg))
    try:
        url = f"postgresql://{READER}@127.0.0.1:{proxy.port}/{pg.name}"
        gate.config(f"""
            [databases.main]
            url = "{url}"
            statement_timeout = "1s"
            [[sql]]
            name = "a-answers"
            query = "SELECT id FROM ads WHERE slug IS NULL"
            [[sql]]
            name = "b-freezes-the-server"
            query = "SELECT 'FREEZE_NOW'"
            [[sql]]
            name = "c-after"
            query = "SELECT 1 WHERE false"
        """)
        start = time.monotonic()
        result = gate.run("-p", "no:randomly")
        elapsed = time.monotonic() - start
    finally:
        proxy.close()
    assert proxy.frozen.is_set()
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines([
        "*sql[[]b-freezes-the-server[]] - database stopped answering: no reply within 3s "
        "(the statement's timeout 1s + 2s); connection closed",
        '*sql[[]c-after[]] - database "main" was lost: database stopped answering*',
    ])
    assert elapsed < 15  # one bound (3s) for the frozen statement, then every check fails at once


def test_a_check_timeout_shorter_than_the_statement_timeout_wins(gate: Gate, pg: PostgresDatabase) -> None:
    pg_gate(gate, pg, '[[sql]]\nname = "slow"\ntimeout = "200ms"\nquery = "SELECT 1 FROM pg_sleep(30)"\n')
    result = gate.run()
    result.stdout.fnmatch_lines(["*sql[[]slow[]] - query cancelled after 200ms (statement timeout)"])


def test_sqlite_statement_timeout_interrupts_a_runaway_query(gate: Gate) -> None:
    gate.sqlite("CREATE TABLE t (id INTEGER);")
    gate.config('''
        [databases.main]
        url = "sqlite:///app.db"
        statement_timeout = "200ms"
        [[sql]]
        name = "runaway"
        query = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT i FROM n WHERE i < 0"
    ''')
    start = time.monotonic()
    result = gate.run()
    assert time.monotonic() - start < 10
    result.stdout.fnmatch_lines(["*sql[[]runaway[]] - query cancelled after 200ms (statement timeout)"])


def test_an_unreachable_database_fails_each_check_once_without_reconnecting(gate: Gate) -> None:
    with silent_server() as server:
        gate.config(f'''
            [databases.main]
            url = "postgresql://app:pa55word-xyz@127.0.0.1:{server.port}/prod?sslmode=disable&gssencmode=disable"
            connect_timeout = "2s"
            [[sql]]
            name = "one"
            query = "SELECT 1"
            [[sql]]
            name = "two"
            query = "SELECT 2"
            [[sql]]
            name = "three"
            query = "SELECT 3"
            [[environment]]
            require = ["PATH"]
        ''')
        start = time.monotonic()
        result = gate.run()
        elapsed = time.monotonic() - start
        assert server.connections == 1
    assert elapsed < 2 * 2 + 2  # one connect_timeout, not three
    result.assert_outcomes(passed=1, failed=3)
    message = (f'cannot connect to database "main" (postgresql://app:***@127.0.0.1:{server.port}/prod'
               '?sslmode=disable&gssencmode=disable): *timeout*')
    result.stdout.fnmatch_lines([f"*sql[[]{name}[]] - {message}" for name in ("one", "two", "three")],
                                consecutive=False)
    assert "pa55word-xyz" not in result.stdout.str()


def test_a_refused_connection_is_reported_at_once(gate: Gate) -> None:
    gate.config('''
        [databases.main]
        url = "postgresql://app@127.0.0.1:1/prod"
        [[sql]]
        name = "q"
        query = "SELECT 1"
    ''')
    result = gate.run()
    result.stdout.fnmatch_lines(['*sql[[]q[]] - cannot connect to database "main" (postgresql://app@127.0.0.1:1/prod): *refused*'])


def test_a_missing_sqlite_file_is_a_failed_check_not_a_new_file(gate: Gate) -> None:
    gate.config('[databases.main]\nurl = "sqlite:///missing.db"\n[[sql]]\nname = "q"\nquery = "SELECT 1"\n')
    result = gate.run()
    result.stdout.fnmatch_lines(['*sql[[]q[]] - cannot connect to database "main" (sqlite:///missing.db): no SQLite file at *missing.db'])
    assert not (gate.path / "missing.db").exists()


# -- never leaks secrets ---------------------------------------------------------------------

SECRET_PASSWORD = "Pg-Pa55word-0001"
SECRET_TOKEN = "tok_live_abcdef123456"


def test_secrets_never_appear_in_output_junit_or_reports(gate: Gate, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_PASSWORD", SECRET_PASSWORD)
    monkeypatch.setenv("API_TOKEN", SECRET_TOKEN)
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_live_should_never_show")
    gate.config('''
        [databases.unreachable]
        url = "postgresql://app:${DB_PASSWORD}@127.0.0.1:1/prod"
        connect_timeout = "1s"
        [databases.main]
        url = "sqlite:///app.db"

        [[sql]]
        name = "down"
        database = "unreachable"
        query = "SELECT 1"

        [[sql]]
        name = "token-in-a-row"
        database = "main"
        query = "SELECT 'Bearer ${API_TOKEN}' AS header, 'sk_live_should_never_show' AS key"

        [[sql]]
        name = "token-warned"
        database = "main"
        severity = "warn"
        query = "SELECT '${API_TOKEN}' AS token"

        [[environment]]
        require = ["STRIPE_SECRET_KEY"]
        pattern = "^sk_test_"
    ''')
    gate.sqlite("CREATE TABLE t (id INTEGER);")
    result = gate.run("-v", "-rA", "--junitxml=junit.xml", "--deploygate-report=report.json")
    gate.run("--deploygate-report=report.md")
    result.assert_outcomes(failed=3)
    assert "1 warned" in result.stdout.str()
    outputs = {
        "terminal": result.stdout.str() + result.stderr.str(),
        "junit": (gate.path / "junit.xml").read_text(),
        "json": (gate.path / "report.json").read_text(),
        "markdown": (gate.path / "report.md").read_text(),
    }
    for where, text in outputs.items():
        for secret in (SECRET_PASSWORD, SECRET_TOKEN, "sk_live_should_never_show"):
            assert secret not in text, f"{secret} leaked into the {where}"
        assert "***" in text, f"nothing was masked in the {where}: the test proves nothing"
    checks = {c["id"]: c for c in json.loads(outputs["json"])["checks"]}
    assert checks["token-in-a-row"]["samples"] == ["header=Bearer ***, key=***"]


URL_PASSWORD = "Sp ace-Pa55word-77"  # unencoded space: libpq's URI parser refuses it
QUERY_PASSWORD = "QueryPa55-in-the-url"
UPPER_TOKEN = "TOK_ABCDEF123456"  # PostgreSQL folds it to lower case in its error message
SLASHED_KEY = "Key/With+Plus=42"  # shown percent-encoded: Key%2FWith%2BPlus%3D42


def _with_password(url: str, password: str, extra_query: str) -> str:
    scheme, rest = url.split("://", 1)
    userinfo, _, hostpart = rest.partition("@")
    user = userinfo.split(":", 1)[0]
    joiner = "&" if "?" in hostpart else "?"
    return f"{scheme}://{user}:{password}@{hostpart}{joiner}{extra_query}"


def test_every_form_of_a_secret_stays_out_of_every_output(gate: Gate, pg: PostgresDatabase,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Prisma's URL form with an unencoded space in the password and ?password=, a token that
    comes back lower-cased from PostgreSQL, and its URL-encoded form: terminal (-v -rA,
    --collect-only), JUnit, JSON, Markdown, the pytest cache and `deploygate snapshot`."""
    pg.execute("CREATE TABLE ads (id INTEGER PRIMARY KEY)")
    url = _with_password(pg.url, URL_PASSWORD, f"schema=public&connection_limit=5&pool_timeout=10&password={QUERY_PASSWORD}")
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("API_TOKEN", UPPER_TOKEN)
    monkeypatch.setenv("SIGNING_KEY", SLASHED_KEY)
    gate.config('''
        [databases.main]
        url = "${DATABASE_URL}"

        [[sql]]
        name = "reads-through-prisma-url"
        query = "SELECT id FROM ads"

        [[sql]]
        name = "token-as-identifier"
        query = "SELECT ${API_TOKEN} FROM ads"

        [[sql]]
        name = "key-url-encoded"
        query = "SELECT 'https://x/?k=' || replace(replace(replace('${SIGNING_KEY}', '/', '%2F'), '+', '%2B'), '=', '%3D') AS link"
    ''')
    run = gate.pytester.runpytest("--deploygate", "-v", "-rA", "--junitxml=junit.xml",
                                  "--deploygate-report=report.json")
    collect = gate.pytester.runpytest("--deploygate", "--collect-only", "-q")
    gate.pytester.runpytest("--deploygate", "--deploygate-report=report.md")
    run.assert_outcomes(passed=1, failed=2)
    checks = {c["id"]: c for c in json.loads((gate.path / "report.json").read_text())["checks"]}
    assert checks["token-as-identifier"]["verdict"] == 'query failed: column "***" does not exist LINE 1: SELECT *** FROM ads ^'
    snapshot_out = subprocess.run([sys.executable, "-m", "pytest_deploygate.cli", "snapshot", url, "-o", "schema.json"],
                                  cwd=gate.path, capture_output=True, text=True, check=False)
    bad = subprocess.run([sys.executable, "-m", "pytest_deploygate.cli", "snapshot", url + "&no_such_option=1"],
                         cwd=gate.path, capture_output=True, text=True, check=False)
    assert snapshot_out.returncode == 0, snapshot_out.stderr
    assert bad.returncode == 1
    assert "Traceback" not in bad.stderr
    cache = "".join(p.read_text(errors="replace") for p in (gate.path / ".pytest_cache").rglob("*") if p.is_file())
    outputs = {
        "terminal": run.stdout.str() + run.stderr.str(),
        "collect-only": collect.stdout.str() + collect.stderr.str(),
        "junit": (gate.path / "junit.xml").read_text(),
        "json": (gate.path / "report.json").read_text(),
        "markdown": (gate.path / "report.md").read_text(),
        "pytest cache": cache,
        "deploygate snapshot": snapshot_out.stdout + snapshot_out.stderr + bad.stdout + bad.stderr,
    }
    forms = {URL_PASSWORD, URL_PASSWORD.replace(" ", "%20"), URL_PASSWORD.replace(" ", "+"), QUERY_PASSWORD,
             UPPER_TOKEN, UPPER_TOKEN.lower(), SLASHED_KEY, "Key%2FWith%2BPlus%3D42"}
    for where, text in outputs.items():
        for secret in forms:
            assert secret.lower() not in text.lower(), f"{secret} leaked into the {where}"
    assert "***" in outputs["deploygate snapshot"]


def test_a_url_libpq_refuses_is_one_masked_line_per_check(gate: Gate, pg: PostgresDatabase) -> None:
    url = _with_password(pg.url, URL_PASSWORD, "no_such_option=1")
    gate.config(f'[databases.main]\nurl = "{url}"\n[[sql]]\nquery = "SELECT 1"\n')
    result = gate.run("-rA")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(['*cannot connect to database "main" (postgresql://*:***@*): *no_such_option*'])
    text = result.stdout.str()
    assert "Traceback" not in text
    assert URL_PASSWORD not in text


# -- could not check is not a pass -----------------------------------------------------------


WARN_ONLY_GATE = '''
    {settings}
    [databases.down]
    url = "postgresql://app@127.0.0.1:1/prod"
    connect_timeout = "1s"

    [[sql]]
    name = "advisory"
    severity = "warn"
    query = "SELECT 1"
'''


def test_a_warn_only_gate_whose_database_is_down_fails(gate: Gate) -> None:
    gate.config(WARN_ONLY_GATE.format(settings=""))
    result = gate.run("--deploygate-report=report.json")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["sql  1 error", 'FAILED deploygate.toml::sql[[]advisory[]] - cannot connect to database "down"*'])
    report = json.loads((gate.path / "report.json").read_text())
    assert report["outcome"] == "failed"
    assert report["checks"][0]["status"] == "error"


def test_could_not_check_can_be_made_a_warning_on_purpose(gate: Gate) -> None:
    gate.config(WARN_ONLY_GATE.format(settings='[deploygate]\ncould_not_check = "warn"'))
    result = gate.run()
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(['WARN deploygate.toml::sql[[]advisory[]] - cannot connect to database "down"*'])


def test_a_rows_where_is_user_sql_and_refused_on_a_superuser(gate: Gate, pg: PostgresDatabase) -> None:
    pg.execute(ADS)
    gate.config(f'[databases.main]\nurl = "{pg.admin_url}"\n[[rows]]\ntable = "ads"\nwhere = "id > 0"\n'
                'columns.slug.not_null = true\n[[rows]]\nname = "no-where"\ntable = "ads"\ncolumns.slug.not_null = true\n')
    result = gate.run()
    # the built-in scan without a `where` is the gate's own SQL: it runs
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(['*rows[[]main.ads.slug:not_null[]] - refused: role "*" is a superuser*'])


@pytest.mark.parametrize(("url", "secret"), [
    ("postgresql://app:Zx9/kQ+2pL@127.0.0.1:1/prod", "Zx9/kQ+2pL"),  # base64 passwords have "/"
    ("postgresql://app:Zx9?kQ2pL#w@127.0.0.1:1/prod", "Zx9?kQ2pL#w"),
    ("postgresql://app@127.0.0.1:1/prod?PASSWORD=Sekrit-123", "Sekrit-123"),
    ("postgresql://app:Pa${ss123@127.0.0.1:1/prod", "ss123@127"),  # a "${" that is no variable
])
def test_a_password_that_breaks_url_parsing_is_still_never_shown(gate: Gate, url: str, secret: str) -> None:
    gate.config(f'[databases.main]\nurl = "{url}"\nconnect_timeout = "1s"\n[[sql]]\nquery = "SELECT 1"\n')
    result = gate.run("-rA", "--junitxml=junit.xml")
    text = result.stdout.str() + result.stderr.str() + (gate.path / "junit.xml").read_text()
    assert secret not in text
    assert "Traceback" not in text


@pytest.mark.parametrize("how", ["a member of a superuser role", "a superuser login with options=-c role"])
def test_a_role_that_can_become_a_superuser_is_refused_user_sql(gate: Gate, pg: PostgresDatabase, how: str) -> None:
    if how == "a member of a superuser role":
        pg.execute("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dg_admin_group') THEN "
                   "CREATE ROLE dg_admin_group SUPERUSER NOLOGIN; END IF; "
                   "IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dg_app') THEN CREATE ROLE dg_app LOGIN; END IF; END $$;"
                   "GRANT dg_admin_group TO dg_app;")
        url = pg.url.replace(f"{READER}@", "dg_app@")
    else:
        joiner = "&" if "?" in pg.admin_url else "?"
        url = f"{pg.admin_url}{joiner}options=-c%20role%3D{READER}"
    gate.config(f'[databases.main]\nurl = "{url}"\n[[sql]]\nname = "q"\nquery = "SELECT 1 WHERE false"\n')
    result = gate.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(['*sql[[]q[]] - refused: role "*" is a superuser*'])


def test_the_redactor_masks_escaped_secrets_and_the_start_of_one_cut_short() -> None:
    from pytest_deploygate.secrets import Redactor

    redact = Redactor(["tok_abcdef123456\n", "PREFIXOFTHESECRETzzzz"])
    # an error message that quotes a value with its trailing newline escaped
    assert redact("value: 'Bearer tok_abcdef123456\\n'") == "value: 'Bearer ***'"
    # a message cut (…) just inside a secret: its start is masked too, other text is not
    assert redact("token=PREFIXOF…") == "token=***…"
    assert redact("a plain text cut…") == "a plain text cut…"
    assert redact("PRE…") == "PRE…"  # shorter than a secret worth masking
