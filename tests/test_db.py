"""The database layer on both engines: `Session.stream` and `DatabasePool.spare`."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_deploygate.db import Database, DatabaseConfig, DatabasePool, parse_database_url
from pytest_deploygate.errors import CheckError, QueryError
from pytest_deploygate.secrets import Redactor

from .conftest import Backend

ROWS = 3_000  # rows in t: three batches of 1,000
TABLE = f"""
    CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
    INSERT INTO t (id, name)
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {ROWS})
        SELECT i, 'name ' || i FROM n;
"""


def config(db: Backend) -> DatabaseConfig:
    return DatabaseConfig("main", parse_database_url(db.url, db.gate.path), connect_timeout=5, statement_timeout=30)


@pytest.fixture
def database(db: Backend) -> Iterator[Database]:
    """`db` holding table t, opened through the database layer (read-only, as the gate opens it)."""
    db.execute(TABLE)
    database = Database(config(db), Redactor())
    try:
        yield database
    finally:
        database.close()


def count_rows(db: Backend) -> int:
    """Rows in t, read on a connection of the test's own."""
    if db.pg is not None:
        return int(db.pg.scalar("SELECT count(*) FROM t"))
    with sqlite3.connect(db.gate.path / "app.db") as conn:
        count = conn.execute("SELECT count(*) FROM t").fetchone()[0]
    conn.close()
    return int(count)


# -- stream -------------------------------------------------------------------------------------


def test_stream_yields_every_row_in_order_across_many_batches(db: Backend, database: Database) -> None:
    if db.name == "postgresql":
        query = "SELECT g, 'row ' || g FROM generate_series(1, 25000) AS g ORDER BY g"
    else:
        query = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 25000) "
                 "SELECT i, 'row ' || i FROM n ORDER BY i")
    with database.session(30) as session:
        rows = session.stream(query, batch=1_000)
        assert next(rows) == (1, "row 1")
        rest = list(rows)
    assert rest == [(i, f"row {i}") for i in range(2, 25_001)]


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)  # server-side cursors are PostgreSQL's
def test_stream_on_postgresql_reads_through_a_server_side_cursor(db: Backend, database: Database) -> None:
    with database.session(30) as session:
        rows = session.stream("SELECT id FROM t ORDER BY id", batch=1_000)
        assert next(rows) == (1,)
        # the rest of the result is still on the server, in a cursor of this transaction
        cursors = session.query("SELECT count(*) FROM pg_cursors WHERE statement LIKE 'DECLARE %FROM t ORDER BY id'")
        assert cursors.rows == [(1,)]
        assert sum(1 for _ in rows) == ROWS - 1


def test_stream_takes_parameters(db: Backend, database: Database) -> None:
    with database.session(30) as session:
        p = session.placeholder
        rows = list(session.stream(f"SELECT id, name FROM t WHERE id > {p} AND name LIKE {p} ORDER BY id",
                                   [1000, "name 2%"], batch=100))
    assert rows == [(i, f"name {i}") for i in range(1001, ROWS + 1) if str(i).startswith("2")]
    assert len(rows) == 1000


def test_stream_of_no_rows_yields_nothing(database: Database) -> None:
    with database.session(30) as session:
        assert list(session.stream("SELECT id FROM t WHERE id < 0", batch=10)) == []


@pytest.mark.parametrize("query", ["SELECT nope FROM t", "SELECT id FROM missing_table", "SELEC 1"])
def test_an_error_in_the_query_raises_query_error(database: Database, query: str) -> None:
    with database.session(30) as session, pytest.raises(QueryError, match=r"^query failed: "):
        list(session.stream(query, batch=100))


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)  # SQLite divides by zero into NULL
def test_an_error_after_the_first_batches_raises_query_error_midway(db: Backend, database: Database) -> None:
    received = 0
    with database.session(30) as session, pytest.raises(QueryError, match="division by zero"):  # noqa: PT012
        for _ in session.stream("SELECT 1 / (id - 2500) FROM t ORDER BY id", batch=1_000):
            received += 1
    # the rows before the failing batch arrived: the result was not fetched whole first
    assert 0 < received < 2500


WRITES = [
    "DELETE FROM t",
    "UPDATE t SET name = 'x'",
    "DROP TABLE t",
    "INSERT INTO t VALUES (0, 'zero')",
    "WITH gone AS (DELETE FROM t RETURNING id) SELECT id FROM gone",
    "SELECT 1; DELETE FROM t",
]


@pytest.mark.parametrize("query", WRITES)
def test_a_write_through_stream_is_refused_and_changes_nothing(db: Backend, database: Database, query: str) -> None:
    with database.session(30) as session, pytest.raises(QueryError):
        list(session.stream(query, batch=100))
    database.close()
    assert count_rows(db) == ROWS
    assert db.pg is None or db.pg.scalar("SELECT count(*) FROM t WHERE name = 'x'") == 0


def test_the_session_still_reads_after_a_refused_write(database: Database) -> None:
    with database.session(30) as session, pytest.raises(QueryError):
        list(session.stream("DELETE FROM t", batch=100))
    with database.session(30) as session:
        assert sum(1 for _ in session.stream("SELECT id FROM t", batch=1_000)) == ROWS


# A fresh interpreter, so that the high-water mark starts low: in the test's own process an earlier
# test's peak would hide any growth. VmHWM, not ru_maxrss: a spawned child's ru_maxrss carries the
# peak of the pytest process that forked it. It prints the peak before and after the stream.
STREAM_A_MILLION = textwrap.dedent("""
    import json, re, sys
    from pathlib import Path
    from pytest_deploygate.db import Database, DatabaseConfig, parse_database_url
    from pytest_deploygate.secrets import Redactor

    def peak():
        with open("/proc/self/status") as status:
            return int(re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1)) * 1024

    database = Database(DatabaseConfig("main", parse_database_url(sys.argv[1], Path("/")), 5, 120), Redactor())
    with database.session(120) as session:
        session.query("SELECT 1")
        before, count, last = peak(), 0, None
        for row in session.stream("SELECT g, repeat('x', 100) FROM generate_series(1, 1000000) AS g"):
            count, last = count + 1, row[0]
        after = peak()
    database.close()
    print(json.dumps({"before": before, "after": after, "count": count, "last": last}))
""")


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)  # server-side cursors are PostgreSQL's
def test_a_million_row_stream_on_postgresql_keeps_memory_bounded(db: Backend, database: Database) -> None:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", STREAM_A_MILLION, db.url], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    measured = json.loads(done.stdout.splitlines()[-1])
    assert (measured["count"], measured["last"]) == (1_000_000, 1_000_000)
    # held whole, these rows would take ~230 MB as Python objects (and ~130 MB as one libpq result)
    grown = measured["after"] - measured["before"]
    assert grown < 50 * 2**20, f"RSS grew {grown / 2**20:.0f} MB while streaming 1,000,000 rows"
    assert time.monotonic() - started < 120


# -- spare --------------------------------------------------------------------------------------


def raw_connection(session: Any) -> Any:
    """The driver connection under a session (psycopg or sqlite3)."""
    return session.conn


def backend_pid(session: Any) -> int:
    return int(session.query("SELECT pg_backend_pid()").rows[0][0])


def test_spare_is_a_second_connection_working_beside_the_pooled_one(db: Backend, database: Database) -> None:
    pool = DatabasePool({"main": config(db)}, Redactor())
    try:
        main = pool.get("main")
        with main.session(30) as session:
            scan = session.stream("SELECT id FROM t ORDER BY id", batch=1_000)
            assert next(scan) == (1,)
            with pool.spare("main") as spare:
                assert spare is not main
                with spare.session(30) as beside:
                    # a query on the spare while the pooled connection's stream is open
                    assert beside.query("SELECT count(*) FROM t").rows == [(ROWS,)]
                    assert raw_connection(beside) is not raw_connection(session)
                    if db.name == "postgresql":
                        spare_pid = backend_pid(beside)
                        assert spare_pid != backend_pid(session)
                    spare_conn = raw_connection(beside)
            assert sum(1 for _ in scan) == ROWS - 1
        # the spare is closed on exit; the pooled connection stays open and usable
        if db.name == "postgresql":
            assert spare_conn.closed
            assert db.pg is not None
            deadline = time.monotonic() + 5
            while db.pg.scalar(f"SELECT count(*) FROM pg_stat_activity WHERE pid = {spare_pid}") and time.monotonic() < deadline:
                time.sleep(0.05)
            assert db.pg.scalar(f"SELECT count(*) FROM pg_stat_activity WHERE pid = {spare_pid}") == 0
        else:
            with pytest.raises(sqlite3.ProgrammingError, match="closed"):
                spare_conn.execute("SELECT 1")
        with pool.get("main").session(30) as session:
            assert session.query("SELECT count(*) FROM t").rows == [(ROWS,)]
    finally:
        pool.close()


def test_spare_is_closed_even_when_the_work_beside_fails(db: Backend, database: Database) -> None:
    pool = DatabasePool({"main": config(db)}, Redactor())
    with pytest.raises(QueryError), pool.spare("main") as spare, spare.session(30) as beside:  # noqa: PT012
        spare_conn = raw_connection(beside)
        beside.query("SELECT nope FROM t")
    if db.name == "postgresql":
        assert spare_conn.closed
    else:
        with pytest.raises(sqlite3.ProgrammingError, match="closed"):
            spare_conn.execute("SELECT 1")


def test_spare_of_an_unknown_alias_is_a_check_error(db: Backend, database: Database) -> None:
    pool = DatabasePool({"main": config(db)}, Redactor())
    with pytest.raises(CheckError, match='no database "other" in the config'), pool.spare("other"):
        pass


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_a_statement_during_an_exclusive_stream_is_refused_not_waited_for(db: Backend, database: Database) -> None:
    """An exclusive stream holds the connection: a query meanwhile would wait for it forever."""
    with database.session(30) as session:
        rows = session.stream("SELECT id FROM t ORDER BY id", batch=1_000, exclusive=True)
        assert next(rows) == (1,)
        with pytest.raises(QueryError, match="still streaming"):
            session.query("SELECT 1")
        rows.close()
        assert session.query("SELECT 1").rows == [(1,)]
