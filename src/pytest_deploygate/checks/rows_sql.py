"""The SQL of `[[rows]]`: one aggregate scan per table, the duplicates GROUP BY, the anti-join.

Plain Python and no database: every function returns `(sql, params)` for a dialect, so the SQL
is unit-tested as text. Identifiers are always quoted (psycopg.sql on PostgreSQL); values given
by the user (patterns, bounds, allowed lists) are always parameters; the user's `where` is the
only SQL pasted in, in parentheses, and it runs in a read-only session like everything else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..db.sql import Builder, Column, Dialect

# What "blank" means for not_empty: ASCII whitespace. btrim/trim with an explicit set is a plain
# string function, several times cheaper per row than a regex like `!~ '\S'`.
_PG_BLANK = "E' \\t\\n\\r\\f\\v'"
_SQLITE_BLANK = "char(32, 9, 10, 13, 12, 11)"


def as_text(b: Builder, column: Column, ref: str) -> str:
    """The column as text for the text rules (`pattern` on an integer column, ...)."""
    if column.textual or b.dialect == "sqlite":
        return ref
    return f"{ref}::text"


def violation(b: Builder, rule: str, value: Any, column: Column, ref: str) -> str:
    """The condition a row breaks `rule` by; NULL is never a violation except of not_null.

    Args:
        b: the statement being built (receives the parameters).
        rule: a column rule of the scan (not unique/references, which are queries of their own).
        value: the rule's value from the config.
        column: the column, from the catalog.
        ref: the column as an SQL reference (quoted, maybe qualified).
    """
    pg = b.dialect == "postgresql"
    if rule == "not_null":
        return f"{ref} IS NULL"
    if rule == "not_empty":
        if not pg:
            return f"trim({ref}, {_SQLITE_BLANK}) = ''"
        text = as_text(b, column, ref)
        # a blank value is '' (ascii() gives 0) or starts with a code <= 32 (every blank one is):
        # one integer comparison spares nearly every row the btrim; half the cost of `= '' OR
        # ascii() IN (...)` per row (measured: benchmarks/bench_rows.py's table, 2,000,000 rows)
        return f"(ascii({text}) <= 32 AND btrim({text}, {_PG_BLANK}) = '')"
    if rule == "pattern":
        return f"{as_text(b, column, ref)} !~ {b.param(value)}" if pg else f"NOT ({ref} REGEXP {b.param(value)})"
    if rule == "min":
        return f"{ref} < {b.param(value)}"
    if rule == "max":
        return f"{ref} > {b.param(value)}"
    length = f"char_length({as_text(b, column, ref)})" if pg else f"length({ref})"
    if rule == "min_length":
        return f"{length} < {b.param(value)}"
    if rule == "max_length":
        if pg:  # octets >= characters, and octet_length reads only the header: most rows stop there
            return f"(octet_length({as_text(b, column, ref)}) > {b.param(value)} AND {length} > {b.param(value)})"
        return f"{length} > {b.param(value)}"
    if rule == "allowed":
        # NOT IN with one parameter per value: each is typed by the column (enums, varchar...)
        return f"{ref} NOT IN ({', '.join(b.param(v) for v in value)})"
    raise ValueError(f"not a scan rule: {rule}")


@dataclass(frozen=True)
class Aggregate:
    """One figure of the scan: a violation count, or the newest value of a `fresh` column."""

    rule: str
    column: str
    value: Any = None


def scan_query(dialect: Dialect, table: Sequence[str], where: str | None,
               aggregates: Sequence[Aggregate], columns: dict[str, Column]) -> tuple[str, list[Any]]:
    """`SELECT count(*), count(*) FILTER (WHERE <violation>), ..., max(<fresh>) FROM t WHERE (where)`.

    Column n+1 of the result is `aggregates[n]`.
    """
    b = Builder(dialect)
    parts = ["count(*)"]
    for agg in aggregates:
        column = columns[agg.column]
        ref = b.ident(agg.column)
        if agg.rule == "fresh":
            # timestamp and date become timestamptz in the session's time zone (as now() wrote them)
            parts.append(f"max({ref})::timestamptz" if dialect == "postgresql" and _is_datetime(column) else f"max({ref})")
        else:
            parts.append(f"count(*) FILTER (WHERE {violation(b, agg.rule, agg.value, column, ref)})")
    text = f"SELECT {', '.join(parts)} FROM {b.ident(*table)}{b.where(b.user_sql(where) if where else None)}"
    return b.done(text)


def _is_datetime(column: Column) -> bool:
    kind = column.type.lower()
    return kind == "date" or kind.startswith("timestamp")


def samples_query(dialect: Dialect, table: Sequence[str], where: str | None, rule: str, value: Any,
                  column: Column, key: Sequence[str], limit: int) -> tuple[str, list[Any]]:
    """The first `limit` rows (by key) that break a scan rule: key columns, then the column."""
    b = Builder(dialect)
    ref = b.ident(column.name)
    shown = [b.ident(k) if k not in ("ctid", "rowid") else k for k in key]
    if column.name not in key:
        shown.append(ref)
    condition = violation(b, rule, value, column, ref)
    order = f" ORDER BY {', '.join(shown[: len(key)])}" if key else ""
    text = (f"SELECT {', '.join(shown)} FROM {b.ident(*table)}"
            f"{b.where(condition, b.user_sql(where) if where else None)}{order} LIMIT {int(limit)}")
    return b.done(text)


def duplicates_query(dialect: Dialect, table: Sequence[str], where: str | None, column: str,
                     limit: int) -> tuple[str, list[Any]]:
    """Values that occur more than once: one GROUP BY.

    Each row: value, its count, the number of duplicated values, the rows they cover; the
    most repeated first, at most `limit` (at least one row, to carry the totals). NULL is not
    a value here (as in a unique index).
    """
    b = Builder(dialect)
    ref = b.ident(column)
    inner = (f"SELECT {ref} AS v, count(*) AS n FROM {b.ident(*table)}"
             f"{b.where(f'{ref} IS NOT NULL', b.user_sql(where) if where else None)}"
             f" GROUP BY {ref} HAVING count(*) > 1")
    text = (f"SELECT v, n, count(*) OVER (), sum(n) OVER () FROM ({inner}) d"
            f" ORDER BY n DESC, v LIMIT {max(1, int(limit))}")
    return b.done(text)


def duplicate_candidates_query(dialect: Dialect, table: Sequence[str], where: str | None,
                               column: Column) -> tuple[str, list[Any]]:
    """PostgreSQL: how many 64-bit hashes of the values occur more than once (one GROUP BY).

    Equal values have equal hashes, so 0 proves the column unique; anything else is a candidate
    (a duplicate, or a hash collision: about n²/2^65, 1 in 10 million for 2,000,000 rows) that
    the exact :func:`duplicates_query` settles. Grouping 8-byte hashes instead of the values
    keeps the work small; run it with hash aggregation off (a parallel sort is faster here).
    """
    b = Builder(dialect)
    ref = b.ident(column.name)
    group = f"hashtextextended({ref}, 0)" if column.textual else ref
    text = (f"SELECT count(*) FROM (SELECT 1 FROM {b.ident(*table)}"
            f"{b.where(f'{ref} IS NOT NULL', b.user_sql(where) if where else None)}"
            f" GROUP BY {group} HAVING count(*) > 1) d")
    return b.done(text)


def rows_with_values_query(dialect: Dialect, table: Sequence[str], where: str | None, column: str,
                           values: Sequence[Any], key: Sequence[str], limit: int) -> tuple[str, list[Any]]:
    """The keys of the rows holding some values (the duplicates shown), ordered by value then key."""
    b = Builder(dialect)
    ref = b.ident(column)
    keys = [b.ident(k) if k not in ("ctid", "rowid") else k for k in key]
    condition = f"{ref} IN ({', '.join(b.param(v) for v in values)})"
    text = (f"SELECT {ref}, {', '.join(keys)} FROM {b.ident(*table)}"
            f"{b.where(condition, b.user_sql(where) if where else None)}"
            f" ORDER BY {ref}, {', '.join(keys)} LIMIT {int(limit)}")
    return b.done(text)


def orphans_query(dialect: Dialect, table: Sequence[str], where: str | None, column: str,
                  target: Sequence[str], target_column: str, *, key: Sequence[str] = (),
                  limit: int | None = None) -> tuple[str, list[Any]]:
    """Rows whose value has no match in `target.target_column`: one anti-join (NOT EXISTS).

    Without `limit`: their count. With it: the first rows by key (key columns, then the value).
    """
    b = Builder(dialect)
    outer = b.ident(*table)
    ref = f"{outer}.{b.ident(column)}"
    missing = (f"NOT EXISTS (SELECT 1 FROM {b.ident(*target)} r"
               f" WHERE r.{b.ident(target_column)} = {ref})")
    condition = b.where(f"{ref} IS NOT NULL", b.user_sql(where) if where else None, missing)
    if limit is None:
        return b.done(f"SELECT count(*) FROM {outer}{condition}")
    keys = [f"{outer}.{b.ident(k)}" if k not in ("ctid", "rowid") else f"{outer}.{k}" for k in key]
    shown = [*keys, ref] if column not in key else keys
    order = f" ORDER BY {', '.join(keys)}" if keys else ""
    return b.done(f"SELECT {', '.join(shown)} FROM {outer}{condition}{order} LIMIT {int(limit)}")
