"""The database layer: one read-only connection per database per process, opened on first use.

Plain Python. A check asks the :class:`DatabasePool` for a :class:`Database` and opens a
:class:`Session` (one read-only transaction, always rolled back) for its queries.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import CheckError, DatabaseUnavailable, QueryError
from .url import DatabaseConfig, DatabaseURL, parse_database_url

if TYPE_CHECKING:
    from ..secrets import Redactor

__all__ = [
    "NO_ROWS", "CountedResult", "Database", "DatabaseConfig", "DatabasePool", "DatabaseURL", "DatabaseUnavailable", "QueryError",
    "QueryResult", "Session", "parse_database_url",
]


@dataclass(frozen=True)
class QueryResult:
    """The columns and rows of one statement (at most `limit` rows when one was given)."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


@dataclass(frozen=True)
class CountedResult:
    """A user's query, streamed: how many rows it returned, and the first few of them."""

    columns: tuple[str, ...]
    count: int
    samples: list[tuple[Any, ...]]


NO_ROWS = ("returns no rows, so it was not run: only a statement that returns rows runs "
           "(SELECT, VALUES, WITH ... SELECT)")


class Session(Protocol):
    """One read-only transaction on one database."""

    dialect: str

    def query(self, sql: str, params: Sequence[Any] | None = None, *, limit: int | None = None) -> QueryResult:
        """Run one statement (never several); fetch at most `limit` rows when given."""

    def stream(self, sql: str, params: Sequence[Any] | None = None, *, batch: int = 10_000,
               exclusive: bool = False) -> Generator[tuple[Any, ...], None, None]:
        """Run one SELECT and yield its rows without holding them all in memory, `batch` at a time.

        `exclusive`: the stream may hold the connection until it ends (PostgreSQL with libpq 17:
        one statement in chunked mode, twice as fast as a server-side cursor): no other
        statement of the session runs meanwhile (one is refused with a QueryError), and the
        generator must be closed (`contextlib.closing`) before the session ends."""

    def user_query(self, sql: str, *, samples: int) -> CountedResult:
        """Run SQL a user wrote (`[[sql]] query`): guarded (:meth:`guard_user_sql`), refused
        without running unless it returns rows, streamed and counted, `samples` rows kept."""

    def user_stream(self, sql: str) -> Generator[tuple[Any, ...], None, None]:
        """Run SQL a user wrote (`[[files]] query`), guarded and refused unless it returns rows
        as :meth:`user_query`, and yield all its rows without holding them in memory. It holds
        the connection as an `exclusive` :meth:`stream` does."""

    def guard_user_sql(self) -> None:
        """Raise QueryError when user-written SQL must not run on this connection's role."""

    def ident(self, *parts: str) -> str:
        """A quoted, possibly schema-qualified identifier: `"public"."ads"`."""

    @property
    def placeholder(self) -> str:
        """The parameter marker of this dialect: `%s` or `?`."""


class Connector(Protocol):
    def session(self, timeout: float) -> Any: ...

    def close(self) -> None: ...


class Database:
    """A configured database; connects once, on first use, and remembers a failure to connect."""

    def __init__(self, config: DatabaseConfig, redactor: Redactor) -> None:
        self.config = config
        self.alias = config.alias
        self.dialect = config.url.dialect
        self._redact = redactor
        self._connector: Connector | None = None
        self._failure: DatabaseUnavailable | None = None

    @property
    def display_url(self) -> str:
        return self.config.url.display

    def _connect(self) -> Connector:
        if self._failure is not None:
            raise self._failure
        if self._connector is None:
            try:
                if self.dialect == "postgresql":
                    from .postgres import PostgresConnector

                    self._connector = PostgresConnector(self.config)
                else:
                    from .sqlite import SQLiteConnector

                    self._connector = SQLiteConnector(self.config)
            except DatabaseUnavailable as exc:
                self._failure = DatabaseUnavailable(self._redact(
                    f'cannot connect to database "{self.alias}" ({self.display_url}): {exc}'))
                raise self._failure from None
        return self._connector

    @contextmanager
    def session(self, timeout: float | None = None) -> Iterator[Session]:
        """A read-only transaction whose statements stop after min(timeout, statement_timeout)."""
        limit = self.config.statement_timeout if timeout is None else min(timeout, self.config.statement_timeout)
        try:
            with self._connect().session(limit) as session:
                yield session
        except DatabaseUnavailable as exc:
            # the connection is gone (the server stopped answering, or dropped it): every later
            # check of this database says why, at once, rather than "the connection is closed"
            if self._failure is None:
                self._failure = DatabaseUnavailable(self._redact(f'database "{self.alias}" was lost: {exc}'))
            raise

    def close(self) -> None:
        if self._connector is not None:
            self._connector.close()
            self._connector = None


class DatabasePool:
    """The databases of one gate in one process (one xdist worker has its own)."""

    def __init__(self, configs: Mapping[str, DatabaseConfig], redactor: Redactor) -> None:
        self._configs = configs
        self._redact = redactor
        self._open: dict[str, Database] = {}

    def get(self, alias: str) -> Database:
        """The database `alias`, connected on its first session; CheckError for an unknown alias."""
        if alias not in self._open:
            if alias not in self._configs:
                raise CheckError(f'no database "{alias}" in the config')
            self._open[alias] = Database(self._configs[alias], self._redact)
        return self._open[alias]

    @contextmanager
    def spare(self, alias: str) -> Iterator[Database]:
        """A second, short-lived connection to `alias`, closed on exit.

        For work that runs beside a query on the pooled connection (PostgreSQL runs one statement
        per connection at a time), e.g. `[[rows]]` proving uniqueness while its scan runs.
        """
        if alias not in self._configs:
            raise CheckError(f'no database "{alias}" in the config')
        database = Database(self._configs[alias], self._redact)
        try:
            yield database
        finally:
            database.close()

    def close(self) -> None:
        for database in self._open.values():
            database.close()
        self._open.clear()
