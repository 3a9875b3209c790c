"""PostgreSQL through psycopg 3, read-only at the session and at the transaction level."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ..errors import DatabaseUnavailable, QueryError
from ..wording import format_duration
from . import QueryResult
from .sql import quote_ident

if TYPE_CHECKING:
    from .url import DatabaseConfig


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


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
        self.conn.read_only = True
        self.server_version = self.conn.info.server_version

    @contextmanager
    def session(self, timeout: float) -> Iterator[PostgresSession]:
        try:
            with self.conn.cursor() as cur:
                cur.execute(sql.SQL("SET LOCAL statement_timeout = {}").format(
                    sql.Literal(f"{max(1, round(timeout * 1000))}ms")))
            yield PostgresSession(self.conn, timeout)
        except psycopg.OperationalError as exc:
            if self.conn.closed:
                raise DatabaseUnavailable(f"connection lost: {_one_line(exc)}") from None
            raise
        finally:
            if not self.conn.closed:
                self.conn.rollback()

    def close(self) -> None:
        self.conn.close()


class PostgresSession:
    dialect = "postgresql"
    placeholder = "%s"

    def __init__(self, conn: psycopg.Connection[Any], timeout: float) -> None:
        self.conn = conn
        self.timeout = timeout
        self.server_version = conn.info.server_version

    def _fail(self, exc: psycopg.Error) -> QueryError:
        if isinstance(exc, psycopg.errors.QueryCanceled):
            return QueryError(f"query cancelled after {format_duration(self.timeout)} (statement timeout)")
        return QueryError(f"query failed: {_one_line(exc)}")

    def query(self, query: str, params: Sequence[Any] | None = None, *, limit: int | None = None) -> QueryResult:
        try:
            # prepare=True: the extended protocol takes exactly one statement, and without
            # parameters psycopg leaves `%` in the user's SQL alone
            cur = self.conn.execute(query.encode(), params, prepare=True)
            columns = tuple(col.name for col in cur.description or ())
            rows = (cur.fetchmany(limit) if limit is not None else cur.fetchall()) if cur.description else []
        except psycopg.Error as exc:
            raise self._fail(exc) from None
        return QueryResult(columns, rows)

    def stream(self, query: str, params: Sequence[Any] | None = None, *, batch: int = 10_000) -> Iterator[tuple[Any, ...]]:
        try:
            with self.conn.cursor(name="deploygate_stream") as cur:
                cur.itersize = batch
                cur.execute(query.encode(), params)
                yield from cur
        except psycopg.Error as exc:
            raise self._fail(exc) from None

    def ident(self, *parts: str) -> str:
        return quote_ident(*parts)
