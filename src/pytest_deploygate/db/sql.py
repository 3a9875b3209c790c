"""Building SQL as text: identifiers quoted, values as parameters, the user's own SQL fenced.

Plain Python and no database, so every family's SQL can be unit-tested as text. Identifiers are
always quoted; values given by the user (patterns, bounds, lists) are always parameters; the
user's own SQL (`where`) is the only SQL pasted in, in parentheses, and it runs in a read-only
session like everything else.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

Dialect = Literal["postgresql", "sqlite"]

#: pseudo-columns that identify a row where a table has no primary key; never quoted
ROW_IDS = frozenset({"ctid", "rowid"})


def quote_ident(*parts: str) -> str:
    """A quoted, possibly schema-qualified identifier: `"public"."ads"`.

    Both engines quote the same way (double quotes, an inner `"` doubled), as libpq's
    `PQescapeIdentifier` does; no driver is imported for it.
    """
    return ".".join('"' + part.replace('"', '""') + '"' for part in parts)


def dialect_of(name: str) -> Dialect:
    """A session's dialect name as the :data:`Dialect` type."""
    return "postgresql" if name == "postgresql" else "sqlite"


@dataclass(frozen=True)
class Column:
    """A column as the catalog describes it.

    Attributes:
        name: the column's name.
        type: its type as the server prints it (`character varying(80)`, `TEXT`).
        textual: a text-like type: text rules need no cast.
    """

    name: str
    type: str
    textual: bool


class Builder:
    """Builds one statement: quotes identifiers, collects parameters in order."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.params: list[Any] = []

    @property
    def postgres(self) -> bool:
        return self.dialect == "postgresql"

    def ident(self, *parts: str) -> str:
        return quote_ident(*parts)

    def column(self, name: str, table: str | None = None) -> str:
        """A column reference; row-id pseudo-columns (`ctid`, `rowid`) stay bare."""
        ref = name if name in ROW_IDS else self.ident(name)
        return f"{table}.{ref}" if table else ref

    def param(self, value: Any) -> str:
        """A parameter marker for `value` (dates become ISO text on SQLite, which has no date type)."""
        if self.dialect == "sqlite" and isinstance(value, dt.date | dt.datetime | dt.time):
            value = value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
        self.params.append(value)
        return "%s" if self.postgres else "?"

    def user_sql(self, fragment: str) -> str:
        """The user's own SQL (`where`), parenthesised.

        On PostgreSQL every statement is sent with a parameter list (maybe empty), so psycopg
        reads `%` as a placeholder marker everywhere: a literal `%` (`LIKE 'a%'`) is doubled.
        """
        text = fragment.replace("%", "%%") if self.postgres else fragment
        return f"({text})"

    def where(self, *conditions: str | None) -> str:
        """` WHERE a AND b` for the conditions given (None left out), or "" for none."""
        present = [c for c in conditions if c]
        return " WHERE " + " AND ".join(present) if present else ""

    def user_where(self, where: str | None, *conditions: str | None) -> str:
        """:meth:`where` of `conditions` and the user's `where`, fenced by :meth:`user_sql`."""
        return self.where(*conditions, self.user_sql(where) if where else None)

    def done(self, text: str) -> tuple[str, list[Any]]:
        """The statement and its parameters, in order."""
        return text, list(self.params)
