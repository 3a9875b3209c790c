"""PostgreSQL through psycopg 3, read-only at the session and at the transaction level."""

from __future__ import annotations

import os
import select
import socket
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import pq, sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ..errors import DatabaseUnavailable, QueryError
from ..wording import format_duration
from . import NO_ROWS, CountedResult, QueryResult
from .sql import quote_ident

if TYPE_CHECKING:
    from .url import DatabaseConfig


def _one_line(exc: BaseException | str) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


# What a role can do that a read-only transaction does not stop: each a reason to refuse running
# SQL a user wrote on it (`COPY ... TO PROGRAM`, `lo_export`, `pg_file_write`, replication slots,
# `pg_terminate_backend` of other sessions). One query at connect, over every role the login can
# become, not only the current one: a query can `SET ROLE` to any of them (`set_config('role', ...)`),
# and a superuser login behind `options=-c role=reader` is still a superuser.
PRIVILEGES = """
WITH reach AS (  -- every role the login (session_user) or the current role can become
  SELECT r.rolname, r.rolsuper, r.rolreplication FROM pg_roles r
  WHERE pg_has_role(session_user, r.oid, 'MEMBER') OR pg_has_role(current_user, r.oid, 'MEMBER'))
SELECT session_user, coalesce(bool_or(rolsuper), false), coalesce(bool_or(rolreplication), false),
  coalesce(bool_or(rolname = 'pg_write_server_files'), false),
  coalesce(bool_or(rolname = 'pg_execute_server_program'), false),
  coalesce(bool_or(rolname = 'pg_signal_backend'), false)
FROM reach
"""
_PRIVILEGE_NAMES = ("a superuser", "allowed replication", "a member of pg_write_server_files",
                    "a member of pg_execute_server_program", "a member of pg_signal_backend")


#: how long past its statement_timeout a statement may go unanswered before the gate gives up on
#: the server: the server enforces statement_timeout, but a server that stops answering (frozen,
#: its host gone) enforces nothing
GRACE = 2.0
#: rows a user query's stream fetches at a time: libpq 17's chunked mode (~5x single-row mode);
#: older libpq fetches one row at a time
STREAM_CHUNK = 1000 if pq.version() >= 170000 else 1


class Watchdog:
    """Cuts the connection's socket when a statement outlives its bound, on the client side.

    A thread timer per statement; cutting (shutdown of the socket) wakes the driver, which fails
    with a connection error the session turns into "database stopped answering".
    """

    def __init__(self, conn: psycopg.Connection[Any], seconds: float) -> None:
        self.conn = conn
        self.seconds = seconds
        self.fired = False
        self._lock = threading.Lock()
        self._watching = False

    def _cut(self) -> None:
        with self._lock:  # a statement that has just finished is not cut after the fact
            if not self._watching:
                return
            self.fired = True
            try:
                with socket.socket(fileno=os.dup(self.conn.pgconn.socket)) as sock:
                    sock.shutdown(socket.SHUT_RDWR)
            except (OSError, psycopg.Error):  # already closed: nothing to wake
                pass

    @contextmanager
    def watching(self) -> Iterator[None]:
        timer = threading.Timer(self.seconds, self._cut)
        timer.daemon = True
        with self._lock:
            self._watching = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()
            with self._lock:
                self._watching = False


def role_privileges(conn: psycopg.Connection[Any], bound: float) -> tuple[str, tuple[str, ...]]:
    """The login role, and what it can do beyond reading (empty for a least-privilege role).

    A server that cannot answer the question (no `pg_has_role`: some PostgreSQL-compatible
    servers) gets "privileges it could not tell": user SQL is refused, built-in checks run.
    """
    watchdog = Watchdog(conn, bound)
    try:
        with watchdog.watching():
            row = conn.execute(PRIVILEGES.encode()).fetchone()
            conn.rollback()
    except psycopg.Error as exc:
        if watchdog.fired or conn.closed:
            raise
        conn.rollback()
        return "?", (f"of privileges the server could not tell ({_one_line(exc)[:80]})",)
    if row is None:  # not reached: the query aggregates
        return "?", ()
    held = tuple(name for name, has in zip(_PRIVILEGE_NAMES, row[1:], strict=True) if has)
    # a superuser is a member of every role: saying so once says it all
    return str(row[0]), held[:1] if row[1] else held


class PostgresConnector:
    """One connection. Three locks keep it read-only:

    1. the session default `default_transaction_read_only=on`, set at connection start;
    2. every transaction is begun `READ ONLY` by psycopg (`read_only = True`) and rolled back;
    3. every query is prepared, so one execute is one statement (`COMMIT; ...` cannot run).
    """

    def __init__(self, config: DatabaseConfig) -> None:
        try:
            params: dict[str, Any] = dict(conninfo_to_dict(config.url.conninfo))
            options = params.get("options") or ""
            params["options"] = f"{options} -c default_transaction_read_only=on".strip()
            params["connect_timeout"] = max(1, round(config.connect_timeout))
            params.setdefault("application_name", "pytest-deploygate")
            self.conn = psycopg.connect(make_conninfo(**params), autocommit=False)
        except (psycopg.Error, ValueError) as exc:
            # one line, never a traceback: its frames would show the conninfo, password and all
            # (the Database that raises this masks every secret of the URL in the message)
            raise DatabaseUnavailable(_one_line(exc)) from None
        try:
            self.role, self.privileges = role_privileges(self.conn, config.connect_timeout + GRACE)
        except psycopg.Error as exc:
            self.conn.close()
            raise DatabaseUnavailable(f"no answer to the role's privileges: {_one_line(exc)}") from None
        self.conn.read_only = True
        self.server_version = self.conn.info.server_version
        self.allow_privileged = config.allow_privileged
        self.alias = config.alias

    @contextmanager
    def session(self, timeout: float) -> Iterator[PostgresSession]:
        session: PostgresSession | None = None
        try:
            session = PostgresSession(self.conn, timeout, self)
            with session.watchdog.watching(), self.conn.cursor() as cur:
                cur.execute(sql.SQL("SET LOCAL statement_timeout = {}").format(
                    sql.Literal(f"{max(1, round(timeout * 1000))}ms")))
            yield session
        except psycopg.OperationalError as exc:
            if session is not None and session.watchdog.fired:
                raise session._fail(exc) from None
            if self.conn.closed:
                raise DatabaseUnavailable(f"connection lost: {_one_line(exc)}") from None
            raise
        finally:
            if session is not None and session.watchdog.fired:
                self.conn.close()  # cut by the watchdog: nothing more to say to this server
            elif not self.conn.closed:
                self._clean_up(session, timeout)

    def _clean_up(self, session: PostgresSession | None, timeout: float) -> None:
        """End the session's transaction, bounded like a statement; a connection that fails here
        (a failover, `idle_session_timeout`) is closed, and the next check says it was lost."""
        watchdog = Watchdog(self.conn, timeout + GRACE)
        try:
            with watchdog.watching():
                self.conn.rollback()
                if session is not None and session.ran_user_sql:
                    # a rollback undoes settings, not session-level advisory locks: the next check
                    # starts clean (`SELECT pg_advisory_lock(1)` would hold for the whole run)
                    self.conn.execute(b"SELECT pg_advisory_unlock_all()")
                    self.conn.rollback()
        except psycopg.Error:
            self.conn.close()

    def close(self) -> None:
        self.conn.close()


class PostgresSession:
    dialect = "postgresql"
    placeholder = "%s"

    def __init__(self, conn: psycopg.Connection[Any], timeout: float, connector: PostgresConnector) -> None:
        self.conn = conn
        self.timeout = timeout
        self.server_version = conn.info.server_version
        self.connector = connector
        self.ran_user_sql = False
        self.watchdog = Watchdog(conn, timeout + GRACE)
        self.streaming = False  # a stream that holds the connection is open (see stream)

    def _free(self) -> None:
        """Refuse a statement while a stream holds the connection: waiting for it would never end."""
        if self.streaming:
            raise QueryError("another statement of this session is still streaming its rows "
                             "(finish or close that stream first)")

    def guard_user_sql(self) -> None:
        connector = self.connector
        if connector.privileges and not connector.allow_privileged:
            raise QueryError(
                f'refused: role "{connector.role}" is {" and ".join(connector.privileges)}, which a read-only '
                "transaction cannot hold back, so SQL from the config does not run on it: connect as a "
                "least-privilege role (GRANT pg_read_all_data TO deploygate; the safety page has the recipe) "
                f"or set allow_privileged = true on [databases.{connector.alias}]")
        self.ran_user_sql = True

    def describe(self, query: str) -> int:
        self._free()
        """How many columns `query` returns, asked of the server without running it (0: no rows).

        The protocol is driven by hand (libpq's asynchronous calls and a select() with the
        statement's bound): libpq's blocking PQprepare would hold the interpreter while it waits,
        and a server that stopped answering would hang the run.
        """
        results = [*self._exchange(lambda pgconn: pgconn.send_prepare(b"", query.encode())),
                   *self._exchange(lambda pgconn: pgconn.send_describe_prepared(b""))]
        for result in results:
            if result.status != pq.ExecStatus.COMMAND_OK:
                message = (result.error_message or b"").decode("utf-8", "replace")
                raise QueryError(f"query failed: {_one_line(message).removeprefix('ERROR: ')}")
        return results[-1].nfields

    def _exchange(self, send: Callable[[pq.abc.PGconn], None]) -> list[pq.abc.PGresult]:
        """Send one request and read its results, waiting at most the statement's bound."""
        pgconn = self.conn.pgconn
        deadline = time.monotonic() + self.watchdog.seconds
        results: list[pq.abc.PGresult] = []

        def wait(readable: bool) -> None:
            remaining = deadline - time.monotonic()
            ready = select.select([pgconn.socket] if readable else [], [] if readable else [pgconn.socket], [],
                                  max(0.0, remaining))
            if not any(ready):
                self.watchdog.fired = True
                raise self._fail(psycopg.OperationalError("no reply"))

        try:
            send(pgconn)
            while pgconn.flush():
                wait(readable=False)
            while True:
                while pgconn.is_busy():
                    wait(readable=True)
                    pgconn.consume_input()
                result = pgconn.get_result()
                if result is None:
                    return results
                results.append(result)
        except psycopg.Error as exc:
            raise self._fail(exc) from None

    def user_query(self, query: str, *, samples: int) -> CountedResult:
        self.guard_user_sql()
        if self.describe(query) == 0:
            raise QueryError(f"the query {NO_ROWS}")
        count, kept = 0, []
        columns: tuple[str, ...] = ()
        try:
            # rows one at a time (libpq's single-row mode): 20,000,000 rows are counted, not held;
            # the extended protocol still takes one statement only
            with self.watchdog.watching(), self.conn.cursor() as cur:
                for row in cur.stream(query.encode(), size=STREAM_CHUNK):
                    if count == 0:
                        columns = tuple(col.name for col in cur.description or ())
                    if count < samples:
                        kept.append(row)
                    count += 1
        except psycopg.Error as exc:
            raise self._fail(exc) from None
        return CountedResult(columns, count, kept)

    def user_stream(self, query: str) -> Generator[tuple[Any, ...], None, None]:
        self.guard_user_sql()
        if self.describe(query) == 0:
            raise QueryError(f"the query {NO_ROWS}")
        self.streaming = True
        try:
            with self.watchdog.watching(), self.conn.cursor() as cur:
                yield from cur.stream(query.encode(), size=STREAM_CHUNK)
        except psycopg.Error as exc:
            raise self._fail(exc) from None
        finally:
            self.streaming = False

    def _fail(self, exc: psycopg.Error) -> QueryError | DatabaseUnavailable:
        if self.watchdog.fired:
            return DatabaseUnavailable(f"database stopped answering: no reply within "
                                       f"{format_duration(self.watchdog.seconds)} (the statement's timeout "
                                       f"{format_duration(self.timeout)} + {format_duration(GRACE)}); connection closed")
        if isinstance(exc, psycopg.errors.QueryCanceled):
            return QueryError(f"query cancelled after {format_duration(self.timeout)} (statement timeout)")
        return QueryError(f"query failed: {_one_line(exc)}")

    def query(self, query: str, params: Sequence[Any] | None = None, *, limit: int | None = None) -> QueryResult:
        self._free()
        try:
            # prepare=True: the extended protocol takes exactly one statement, and without
            # parameters psycopg leaves `%` in the user's SQL alone
            with self.watchdog.watching():
                cur = self.conn.execute(query.encode(), params, prepare=True)
                columns = tuple(col.name for col in cur.description or ())
                rows = (cur.fetchmany(limit) if limit is not None else cur.fetchall()) if cur.description else []
        except psycopg.Error as exc:
            raise self._fail(exc) from None
        return QueryResult(columns, rows)

    def stream(self, query: str, params: Sequence[Any] | None = None, *, batch: int = 10_000,
               exclusive: bool = False) -> Generator[tuple[Any, ...], None, None]:
        self._free()
        try:
            if exclusive and STREAM_CHUNK > 1:
                # one statement, its rows `batch` at a time (libpq 17's chunked mode): half the
                # time of a server-side cursor's FETCHes; the server's statement_timeout and the
                # watchdog bound the whole read, the reader's time included
                # closed early, the statement is cancelled and the transaction would be left
                # aborted: a savepoint keeps the session usable
                with self.watchdog.watching():
                    self.conn.execute(b"SAVEPOINT deploygate_stream")
                self.streaming = True
                try:
                    with self.watchdog.watching(), self.conn.cursor() as cur:
                        yield from cur.stream(query.encode(), params, size=batch)
                finally:
                    self.streaming = False
                    if self.conn.info.transaction_status == pq.TransactionStatus.INERROR:
                        with self.watchdog.watching():
                            self.conn.execute(b"ROLLBACK TO SAVEPOINT deploygate_stream")
                return
            with self.conn.cursor(name="deploygate_stream") as cur:
                with self.watchdog.watching():
                    cur.execute(query.encode(), params)
                while True:
                    # each FETCH is a statement of its own, bounded on its own
                    with self.watchdog.watching():
                        rows = cur.fetchmany(batch)
                    if not rows:
                        break
                    yield from rows
        except psycopg.Error as exc:
            raise self._fail(exc) from None

    def ident(self, *parts: str) -> str:
        return quote_ident(*parts)
