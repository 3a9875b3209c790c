"""The SQL of `[[rows]]`: one aggregate scan per table (in chunks past 1,000 rules), the
duplicates GROUP BY, the anti-join.

Plain Python and no database: every function returns `(sql, params)` for a dialect, so the SQL
is unit-tested as text. Built with :class:`~pytest_deploygate.db.sql.Builder` (identifiers quoted,
values as parameters, the user's `where` fenced); each rule's condition comes from the rule table
(:mod:`.rules`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...db.sql import Builder, Column, Dialect
from .rules import condition

#: aggregates counted by one statement of the scan. PostgreSQL allows 1,664 entries in a target
#: list (MaxTupleAttributeNumber) and SQLite 2,000 result columns (SQLITE_MAX_COLUMN's default):
#: more rules on one (table, where) than this are counted by several statements, each a scan.
SCAN_AGGREGATES = 1_000
#: parameters in one statement of the scan (`allowed` lists add up): SQLite's default limit is
#: 32,766 (SQLITE_MAX_VARIABLE_NUMBER), PostgreSQL's 65,535
SCAN_PARAMS = 30_000

#: PostgreSQL: the columns of a table whose type is an enum (or a domain over one), with the
#: enum's name and labels in their order
ENUM_COLUMNS = """
SELECT a.attname, format_type(t.oid, NULL), array_agg(e.enumlabel::text ORDER BY e.enumsortorder)
FROM pg_attribute a
JOIN pg_type c ON c.oid = a.atttypid
JOIN pg_type t ON t.oid = CASE c.typtype WHEN 'd' THEN c.typbasetype ELSE c.oid END
JOIN pg_enum e ON e.enumtypid = t.oid
WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped
GROUP BY a.attname, t.oid
"""


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
            parts.append(f"count(*) FILTER (WHERE {condition(b, agg.rule, agg.value, column, ref)})")
    text = f"SELECT {', '.join(parts)} FROM {b.ident(*table)}{b.user_where(where)}"
    return b.done(text)


def scan_chunks(dialect: Dialect, aggregates: Sequence[Aggregate],
                columns: dict[str, Column]) -> list[list[Aggregate]]:
    """The aggregates split into the statements of the scan, in order: one statement (one scan)
    unless they pass :data:`SCAN_AGGREGATES` aggregates or :data:`SCAN_PARAMS` parameters.

    Always at least one statement (`[[]]`: `count(*)` alone, for the table rules).
    """
    chunks: list[list[Aggregate]] = [[]]
    params = 0
    for agg in aggregates:
        needed = len(scan_query(dialect, ("t",), None, [agg], columns)[1])
        if chunks[-1] and (len(chunks[-1]) >= SCAN_AGGREGATES or params + needed > SCAN_PARAMS):
            chunks.append([])
            params = 0
        chunks[-1].append(agg)
        params += needed
    return chunks


def _is_datetime(column: Column) -> bool:
    kind = column.type.lower()
    return kind == "date" or kind.startswith("timestamp")


def samples_query(dialect: Dialect, table: Sequence[str], where: str | None, rule: str, value: Any,
                  column: Column, key: Sequence[str], limit: int) -> tuple[str, list[Any]]:
    """The first `limit` rows (by key) that break a scan rule: key columns, then the column."""
    b = Builder(dialect)
    ref = b.ident(column.name)
    shown = [b.column(k) for k in key]
    if column.name not in key:
        shown.append(ref)
    violation = condition(b, rule, value, column, ref)
    order = f" ORDER BY {', '.join(shown[: len(key)])}" if key else ""
    text = (f"SELECT {', '.join(shown)} FROM {b.ident(*table)}"
            f"{b.user_where(where, violation)}{order} LIMIT {int(limit)}")
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
             f"{b.user_where(where, f'{ref} IS NOT NULL')}"
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
            f"{b.user_where(where, f'{ref} IS NOT NULL')}"
            f" GROUP BY {group} HAVING count(*) > 1) d")
    return b.done(text)


def rows_with_values_query(dialect: Dialect, table: Sequence[str], where: str | None, column: str,
                           values: Sequence[Any], key: Sequence[str], limit: int) -> tuple[str, list[Any]]:
    """The keys of the rows holding some values (the duplicates shown), ordered by value then key."""
    b = Builder(dialect)
    ref = b.ident(column)
    keys = [b.column(k) for k in key]
    condition = f"{ref} IN ({', '.join(b.param(v) for v in values)})"
    text = (f"SELECT {ref}, {', '.join(keys)} FROM {b.ident(*table)}"
            f"{b.user_where(where, condition)}"
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
    keys = [b.column(k, outer) for k in key]
    shown = [*keys, ref] if column not in key else keys
    order = f" ORDER BY {', '.join(keys)}" if keys else ""
    return b.done(f"SELECT {', '.join(shown)} FROM {outer}{condition}{order} LIMIT {int(limit)}")
