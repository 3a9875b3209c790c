"""SQLite (stdlib), opened read-only, with an authorizer that refuses anything but reading."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DatabaseUnavailable, QueryError
from ..wording import format_duration
from . import NO_ROWS, CountedResult, QueryResult
from .sql import quote_ident

if TYPE_CHECKING:
    from .url import DatabaseConfig

# What a reading query may do; anything else (INSERT, ATTACH, a pragma that sets, ...) is denied.
_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
# Pragmas that only read (also reachable as table-valued functions: pragma_table_info(...)).
# Those in _ARGUMENT_PRAGMAS take an argument that names what to read, not a value to set.
_ARGUMENT_PRAGMAS = {
    "table_info", "table_xinfo", "index_list", "index_info", "index_xinfo", "foreign_key_list",
    "foreign_key_check", "integrity_check", "quick_check",
}
_READ_PRAGMAS = _ARGUMENT_PRAGMAS | {
    "collation_list", "database_list", "function_list", "table_list", "compile_options", "user_version",
    "schema_version", "application_id", "encoding", "page_count", "page_size", "freelist_count",
    "data_version",  # FTS5 reads it on every query of a full-text table
}


_SCHEMA_TABLES = {"sqlite_master", "sqlite_schema"}


def _authorize(action: int, arg1: str | None, arg2: str | None, _db: str | None, _trigger: str | None) -> int:
    if action in _ALLOWED:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_UPDATE and arg1 in _SCHEMA_TABLES:
        # SQLite asks this when a pragma table function is joined with sqlite_schema; it writes
        # nothing, and sqlite_schema cannot be written without `PRAGMA writable_schema` (denied
        # below), besides the file being open read-only with query_only on
        return sqlite3.SQLITE_OK
    pragma = (arg1 or "").lower()
    # `PRAGMA user_version = 5` passes a value (arg2): that is a write
    if action == sqlite3.SQLITE_PRAGMA and (pragma in _ARGUMENT_PRAGMAS or (pragma in _READ_PRAGMAS and arg2 is None)):
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _regexp(pattern: str | None, value: Any) -> bool | None:
    """SQL `value REGEXP pattern` (Python `re.search`); NULL in, NULL out."""
    if pattern is None or value is None:
        return None
    return _compiled(pattern).search(str(value)) is not None


class SQLiteConnector:
    def __init__(self, config: DatabaseConfig) -> None:
        target = config.url.conninfo
        try:
            if target == ":memory:":
                self.conn = sqlite3.connect(":memory:", check_same_thread=False)
            else:
                if not Path(target).is_file():
                    raise DatabaseUnavailable(f"no SQLite file at {target}")
                uri = Path(target).resolve().as_uri() + "?mode=ro"
                self.conn = sqlite3.connect(uri, uri=True, check_same_thread=False,
                                            timeout=config.connect_timeout)
            self.conn.execute("PRAGMA query_only = ON")
            self.conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()  # not a database: fail now
        except sqlite3.Error as exc:
            raise DatabaseUnavailable(str(exc)) from None
        self.conn.create_function("regexp", 2, _regexp, deterministic=True)
        self.conn.set_authorizer(_authorize)
        self.server_version = sqlite3.sqlite_version_info

    @contextmanager
    def session(self, timeout: float) -> Iterator[SQLiteSession]:
        deadline = time.monotonic() + timeout
        # a statement past its deadline is interrupted, as statement_timeout does on PostgreSQL
        self.conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        try:
            yield SQLiteSession(self.conn, timeout)
        finally:
            self.conn.set_progress_handler(None, 0)
            self.conn.rollback()

    def close(self) -> None:
        self.conn.close()


class SQLiteSession:
    dialect = "sqlite"
    placeholder = "?"

    def __init__(self, conn: sqlite3.Connection, timeout: float) -> None:
        self.conn = conn
        self.timeout = timeout

    def _fail(self, exc: Exception) -> QueryError:
        if isinstance(exc, sqlite3.OperationalError) and "interrupted" in str(exc):
            return QueryError(f"query cancelled after {format_duration(self.timeout)} (statement timeout)")
        if isinstance(exc, sqlite3.DatabaseError) and ("not authorized" in str(exc) or "authorization denied" in str(exc)):
            return QueryError("query failed: not authorized (the gate only reads)")
        return QueryError(f"query failed: {exc}")

    def query(self, query: str, params: Sequence[Any] | None = None, *, limit: int | None = None) -> QueryResult:
        try:
            cur = self.conn.execute(query, tuple(params or ()))
            columns = tuple(col[0] for col in cur.description or ())
            rows = cur.fetchmany(limit) if limit is not None else cur.fetchall()
        except (sqlite3.Error, sqlite3.Warning) as exc:  # Warning: several statements in one query
            raise self._fail(exc) from None
        return QueryResult(columns, [tuple(r) for r in rows])

    def stream(self, query: str, params: Sequence[Any] | None = None, *, batch: int = 10_000,
               exclusive: bool = False) -> Generator[tuple[Any, ...], None, None]:
        try:
            cur = self.conn.execute(query, tuple(params or ()))
            while rows := cur.fetchmany(batch):
                yield from rows
        except (sqlite3.Error, sqlite3.Warning) as exc:
            raise self._fail(exc) from None

    def guard_user_sql(self) -> None:
        """SQLite has no roles: the file is open read-only and the authorizer allows only reading."""

    def user_query(self, query: str, *, samples: int) -> CountedResult:
        count, kept = 0, []
        try:
            cur = self.conn.execute(query)
            if cur.description is None:
                # sqlite3 cannot describe before it runs; the authorizer let nothing but reading run
                raise QueryError(f"the query {NO_ROWS}")
            columns = tuple(col[0] for col in cur.description)
            while rows := cur.fetchmany(10_000):
                for row in rows:
                    if count < samples:
                        kept.append(tuple(row))
                    count += 1
        except (sqlite3.Error, sqlite3.Warning) as exc:
            raise self._fail(exc) from None
        return CountedResult(columns, count, kept)

    def user_stream(self, query: str) -> Generator[tuple[Any, ...], None, None]:
        try:
            cur = self.conn.execute(query)
            if cur.description is None:
                raise QueryError(f"the query {NO_ROWS}")
            while rows := cur.fetchmany(10_000):
                yield from rows
        except (sqlite3.Error, sqlite3.Warning) as exc:
            raise self._fail(exc) from None

    def ident(self, *parts: str) -> str:
        return quote_ident(*parts)
