"""What the catalog says about one table: whether it exists, its columns, key and unique indexes.

Shared by every family that reads a table by name (`[[rows]]`, `[[migrations]]`' tracking
table, `[[files]]`' column): two or three small catalog queries, never a scan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import CheckError
from . import Session
from .sql import Builder, Column, dialect_of

PG_COLUMNS = """
SELECT c.relkind, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), t.typcategory = 'S'
FROM pg_class c
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type t ON t.oid = a.atttypid
WHERE c.oid = to_regclass(%s)
ORDER BY a.attnum
"""

# valid, whole-table (no predicate), plain-column unique indexes; indkey as text: "2 5"
PG_UNIQUE_INDEXES = """
SELECT ic.relname, i.indisprimary, i.indkey::text, i.indnkeyatts
FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
WHERE i.indrelid = to_regclass(%s) AND i.indisunique AND i.indisvalid
  AND i.indpred IS NULL AND i.indexprs IS NULL
ORDER BY i.indisprimary DESC, ic.relname
"""


@dataclass(frozen=True)
class TableInfo:
    """A table as the catalog describes it.

    Attributes:
        name: as the config names it (`ads`, `public.ads`).
        columns: its columns by name, in table order.
        primary_key: the primary key's columns, or ().
        unique: column -> the index or constraint that makes that column alone unique.
        row_id: `ctid` / `rowid` where rows can be named that way (tables, not views), else None.
    """

    name: str
    columns: dict[str, Column]
    primary_key: tuple[str, ...]
    unique: dict[str, str]
    row_id: str | None

    def column(self, name: str) -> Column:
        """The column `name`; CheckError naming the table's columns when it has none such."""
        if name not in self.columns:
            raise CheckError(f"column {self.name}.{name} does not exist "
                             f"(columns: {', '.join(self.columns)})")
        return self.columns[name]

    @property
    def row_key(self) -> tuple[str, ...]:
        """What names a row in samples: the primary key, else the row id, else nothing."""
        return self.primary_key or ((self.row_id,) if self.row_id else ())


def sqlite_pragma(b: Builder, pragma: str, table: Sequence[str], argument: str | None = None) -> str:
    """`PRAGMA "main".table_info("ads")`: the statement form (the gate's authorizer allows it)."""
    schema = f"{b.ident(table[0])}." if len(table) > 1 else ""
    return f"PRAGMA {schema}{pragma}({b.ident(argument if argument is not None else table[-1])})"


def table_exists(session: Session, table: Sequence[str]) -> bool:
    """Whether `table` (`(name,)` or `(schema, name)`) is a table or view, as the server resolves it."""
    b = Builder(dialect_of(session.dialect))
    if b.postgres:
        return bool(session.query("SELECT to_regclass(CAST(%s AS text)) IS NOT NULL", [b.ident(*table)]).rows[0][0])
    schema = b.ident(table[0]) if len(table) == 2 else '"main"'
    found = session.query(f"SELECT count(*) FROM {schema}.sqlite_schema "
                          f"WHERE type IN ('table', 'view') AND name = ? COLLATE NOCASE", [table[-1]]).rows
    return bool(found[0][0])


def table_info(session: Session, table: Sequence[str], alias: str) -> TableInfo:
    """Columns, key and single-column unique indexes of `table`.

    Raises:
        CheckError: the table does not exist in database `alias`.
    """
    name = ".".join(table)
    missing = f'table {name} does not exist in database "{alias}"'
    b = Builder(dialect_of(session.dialect))
    if b.postgres:
        found = session.query(PG_COLUMNS, [b.ident(*table)]).rows
        if not found:
            raise CheckError(missing)
        by_number = {attnum: attname for _, attnum, attname, _, _ in found}
        columns = {attname: Column(attname, kind, bool(textual)) for _, _, attname, kind, textual in found}
        primary: tuple[str, ...] = ()
        unique: dict[str, str] = {}
        for index, is_primary, indkey, key_count in session.query(PG_UNIQUE_INDEXES, [b.ident(*table)]).rows:
            names = tuple(by_number.get(int(n), "?") for n in indkey.split()[:key_count])
            if is_primary and not primary:
                primary = names
            if len(names) == 1:
                unique.setdefault(names[0], index)
        relkind = found[0][0]
        return TableInfo(name, columns, primary, unique, "ctid" if relkind in ("r", "m") else None)

    info = session.query(sqlite_pragma(b, "table_info", table)).rows
    if not info:
        raise CheckError(missing)
    columns = {row[1]: Column(row[1], row[2] or "", True) for row in info}
    primary = tuple(row[1] for row in sorted((r for r in info if r[5]), key=lambda r: r[5]))
    unique = {}
    if len(primary) == 1:
        unique[primary[0]] = "PRIMARY KEY"
    for _, index, is_unique, _, partial in session.query(sqlite_pragma(b, "index_list", table)).rows:
        if not is_unique or partial:
            continue
        index_columns = [r[2] for r in session.query(sqlite_pragma(b, "index_info", table, index)).rows]
        if len(index_columns) == 1 and index_columns[0] is not None:
            unique.setdefault(index_columns[0], index)
    schema = f"{b.ident(table[0])}." if len(table) > 1 else ""
    kind = session.query(f"SELECT type FROM {schema}sqlite_schema WHERE name = ? COLLATE NOCASE", [table[-1]]).rows
    return TableInfo(name, columns, primary, unique, "rowid" if kind and kind[0][0] == "table" else None)
