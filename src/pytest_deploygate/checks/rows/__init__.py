"""`[[rows]]`: data rules on big tables, in about the time of one scan per table.

Every rule is an item (`rows[main.ads.slug:not_null]`), but the items of one (database, table,
where) share their work: the aggregate rules of all of them are counted in one
`count(*) FILTER (WHERE ...)` scan (one statement per 1,000 rules), run by whichever item comes
first in the process and kept in the run's memo; a rule whose own SQL fails is isolated, and fails
alone; `unique` is one GROUP BY (or nothing, when a unique index already says so); `references`
is one anti-join. Samples are fetched only for a failing rule, `LIMIT samples`.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ...api import CheckKind, Entry, Result, RunContext, Severity, Target
from ...config import EntryReader
from ...db import Session
from ...db.catalog import TableInfo, table_info
from ...db.sql import Column, dialect_of, quote_ident
from ...errors import CheckError, QueryError
from ...wording import age, count, format_duration, plural, show_row, show_value
from .. import BUILTIN
from . import sql as rows_sql
from .rules import BOUNDS, COLUMN_RULES, COUNT_RULES, EnumColumn, Reference, pg_text
from .sql import Aggregate

#: column rules counted in the shared scan; the others are queries of their own
SCAN_RULES = frozenset(name for name, rule in COLUMN_RULES.items() if rule.condition is not None)


@dataclass(frozen=True)
class ColumnRule:
    """One rule on one column: `slug:not_null`, `slug:pattern`, `category_id:references`."""

    column: str
    rule: str
    value: Any
    severity: Severity | None = None


@dataclass(frozen=True)
class Freshness:
    column: str
    max_age: float


@dataclass(frozen=True)
class TableRule:
    """One rule on the table: `min_rows`, `max_rows`, `fresh`."""

    rule: str
    value: int | Freshness
    severity: Severity | None = None


RowPayload = ColumnRule | TableRule


@dataclass(frozen=True)
class RowsOptions:
    table: tuple[str, ...]
    where: str | None
    key: tuple[str, ...]
    table_rules: tuple[TableRule, ...]
    column_rules: tuple[ColumnRule, ...]

    @property
    def table_name(self) -> str:
        return ".".join(self.table)


# -- parsing ------------------------------------------------------------------------------------


def _severity(reader: EntryReader) -> Severity | None:
    value = reader.choice("severity", ("fail", "warn"))
    return None if value is None else ("warn" if value == "warn" else "fail")


def _rule_reader(reader: EntryReader, rule: str) -> tuple[EntryReader, str, Severity | None] | None:
    """Where a rule's value is read: the key itself, or `value` of its table form.

    Every rule may be written `rule = { value = ..., severity = "warn" }` for a per-rule severity
    (`value` may be left out for the true/false rules).
    """
    if not reader.has(rule):
        return None
    if isinstance(reader.raw(rule), dict) and rule != "fresh":
        sub = reader.table(rule)
        if sub is None:  # not reached: the value is a table
            return None
        severity = _severity(sub)
        if rule in COLUMN_RULES and COLUMN_RULES[rule].flag and not sub.has("value"):
            sub.unknown_keys()
            return sub, "", severity
        if not sub.has("value"):
            raise sub.error("value", "is required in the table form of a rule")
        return sub, "value", severity
    return reader, rule, None


def _parse_columns(reader: EntryReader) -> list[ColumnRule]:
    rules: list[ColumnRule] = []
    for column, col_reader in reader.tables("columns"):
        if not column.strip():
            raise reader.error("columns", "a column name cannot be empty")
        column_severity = _severity(col_reader)
        found: list[ColumnRule] = []
        for rule, definition in COLUMN_RULES.items():
            source = _rule_reader(col_reader, rule)
            if source is None:
                continue
            rule_reader, key, severity = source
            value = definition.parse(rule_reader, key)
            if rule_reader is not col_reader:
                rule_reader.unknown_keys()
            if value is not None:
                found.append(ColumnRule(column, rule, value, severity or column_severity))
        col_reader.unknown_keys()
        if not found and not col_reader.keys():
            raise col_reader.error(None, f"has no rules (rules: {', '.join(COLUMN_RULES)})")
        by_rule = {r.rule: r.value for r in found}
        for low, high in BOUNDS:
            if low in by_rule and high in by_rule:
                try:
                    inverted = by_rule[low] > by_rule[high]
                except TypeError:
                    raise col_reader.error(high, f"{low} and {high} are not comparable") from None
                if inverted:
                    raise col_reader.error(high, f"is below {low} ({by_rule[high]!r} < {by_rule[low]!r})")
        rules.extend(found)
    return rules


def _parse_table_rules(reader: EntryReader) -> list[TableRule]:
    rules: list[TableRule] = []
    for rule in COUNT_RULES:  # fresh is a table of its own, read below
        source = _rule_reader(reader, rule)
        if source is not None:
            rule_reader, key, severity = source
            value = rule_reader.integer(key, minimum=0)
            if rule_reader is not reader:
                rule_reader.unknown_keys()
            if value is not None:
                rules.append(TableRule(rule, value, severity))
    fresh = reader.table("fresh")
    if fresh is not None:
        column = fresh.required_string("column", interpolate=False)
        max_age = fresh.duration("max_age")
        if max_age is None:
            raise fresh.error("max_age", 'is required (e.g. "24h")')
        severity = _severity(fresh)
        fresh.unknown_keys()
        rules.append(TableRule("fresh", Freshness(column, max_age), severity))
    counts = {rule.rule: rule.value for rule in rules if isinstance(rule.value, int)}
    if counts.get("min_rows", 0) > counts.get("max_rows", counts.get("min_rows", 0)):
        raise reader.error("max_rows", f"is below min_rows ({counts['max_rows']} < {counts['min_rows']})")
    return rules


# -- running: catalog ---------------------------------------------------------------------------


def rule_columns(ctx: RunContext, entry: RowsEntry, session: Session, info: TableInfo) -> dict[str, Column]:
    """The table's columns as its rules compare them: on PostgreSQL, enum columns become
    :class:`EnumColumn` (their enum's name and labels), which `allowed` compares as text.

    The labels are looked up (one catalog query) only when some entry on this table has an
    `allowed` rule on a column that is not text.
    """
    if session.dialect != "postgresql":
        return info.columns
    table = entry.options.table
    wanted = any(
        rule.rule == "allowed" and rule.column in info.columns and not info.columns[rule.column].textual
        for other in ctx.gate.entries_of(ROWS) if other.database == entry.database and other.options.table == table
        for rule in other.options.column_rules)
    if not wanted:
        return info.columns
    columns = dict(info.columns)
    for name, enum, labels in session.query(rows_sql.ENUM_COLUMNS, [quote_ident(*table)]).rows:
        column = columns.get(name)
        if column is not None:
            columns[name] = EnumColumn(column.name, column.type, column.textual, enum, tuple(labels))
    return columns


# -- running: the shared scan -------------------------------------------------------------------


@dataclass(frozen=True)
class ScanResult:
    """The figures of the scan of one (database, table, where).

    Attributes:
        rows: the rows matching `where`.
        figures: each aggregate's figure (a violation count, or the newest value of `fresh`).
        seconds: how long its statements took.
        errors: the aggregates whose own SQL failed, each with its error: their rules fail with
            it, the others have their figures.
    """

    rows: int
    figures: dict[Aggregate, Any]
    seconds: float
    errors: dict[Aggregate, CheckError] = field(default_factory=dict)

    def figure(self, aggregate: Aggregate) -> Any:
        """The figure of `aggregate`; the error of its own SQL when that failed."""
        error = self.errors.get(aggregate)
        if error is not None:
            raise error
        return self.figures[aggregate]


def _aggregate(rule: RowPayload) -> Aggregate | None:
    if isinstance(rule, ColumnRule):
        return Aggregate(rule.rule, rule.column, rule.value) if rule.rule in SCAN_RULES else None
    if isinstance(rule.value, Freshness):
        return Aggregate("fresh", rule.value.column)
    return None


def _scan_key(entry: RowsEntry) -> tuple[Any, ...]:
    return ("rows:scan", entry.database, entry.options.table, entry.options.where)


def _siblings(ctx: RunContext, entry: RowsEntry) -> list[RowsEntry]:
    """The entries (this one included) whose rules the scan of this entry's table serves."""
    key = _scan_key(entry)
    return [other for other in ctx.gate.entries_of(ROWS) if _scan_key(other) == key and not other.skip]


def shared_aggregates(ctx: RunContext, entry: RowsEntry, info: TableInfo) -> list[Aggregate]:
    """Every aggregate the scan of this entry's (database, table, where) serves, over all entries.

    Rules on columns the table does not have are left out (their items fail on their own), so
    that one mistyped column does not break the scan of the others.
    """
    found: dict[Aggregate, None] = {}
    for other in _siblings(ctx, entry):
        rules: list[RowPayload] = [*other.options.table_rules, *other.options.column_rules]
        for rule in rules:
            agg = _aggregate(rule)
            if agg is not None and agg.column in info.columns:
                found[agg] = None
    return list(found)


#: PostgreSQL: where the scan goes back to after a failed statement (which aborts the transaction)
SAVEPOINT = "deploygate_rows_scan"


def _timed_out(error: QueryError) -> bool:
    # how both sessions word a statement timeout (db/postgres.py, db/sqlite.py)
    return str(error).startswith("query cancelled")


class _Stop(Exception):
    """A statement timed out while the scan was isolating a failing rule: count no further."""

    def __init__(self, error: QueryError) -> None:
        super().__init__(str(error))
        self.error = error


class Scan:
    """The statements of the scan of one (database, table, where), and when one fails, the
    queries that find the rules at fault.

    The aggregates are counted in chunks (:func:`.sql.scan_chunks`: one statement unless past
    1,000 of them). When a statement fails with a query error, its aggregates are halved until
    each failing one stands alone: a half that counts keeps its figures, each failing aggregate
    keeps the error of its own SQL (when the first half counts, the failure is in the second: it
    is halved without being run whole). Before the first rule is blamed, while no statement has
    counted yet, `count(*)` alone runs: when it fails too, the table or the `where` is at fault,
    every rule's problem, and the scan raises its error for every item.

    A statement timeout is never isolated (it would only time out again): before any statement
    has counted it fails the whole scan; after, it is the error of every aggregate not counted.
    """

    def __init__(self, session: Session, options: RowsOptions, columns: dict[str, Column]) -> None:
        self.session = session
        self.dialect = dialect_of(session.dialect)
        self.options = options
        self.columns = columns
        self.rows: int | None = None
        self.figures: dict[Aggregate, Any] = {}
        self.errors: dict[Aggregate, CheckError] = {}

    def run(self, aggregates: Sequence[Aggregate]) -> ScanResult:
        start = time.perf_counter()
        if self.dialect == "postgresql":
            self.session.query(f"SAVEPOINT {SAVEPOINT}")
        try:
            for chunk in rows_sql.scan_chunks(self.dialect, aggregates, self.columns):
                self._count(chunk)
        except _Stop as stop:
            if self.rows is None:
                raise stop.error from None
            for agg in aggregates:
                if agg not in self.figures:
                    self.errors.setdefault(agg, stop.error)
        if self.rows is None:  # not reached: a statement counted, or the scan raised
            raise CheckError("the scan counted no rows")
        if self.dialect == "postgresql":
            self.session.query(f"RELEASE SAVEPOINT {SAVEPOINT}")
        return ScanResult(self.rows, self.figures, time.perf_counter() - start, self.errors)

    def _query(self, aggregates: Sequence[Aggregate]) -> None:
        """One statement: `count(*)` and `aggregates`, their figures kept."""
        text, params = rows_sql.scan_query(self.dialect, self.options.table, self.options.where, aggregates, self.columns)
        try:
            row = self.session.query(text, params).rows[0]
        except QueryError as error:
            if self.dialect == "postgresql":
                self.session.query(f"ROLLBACK TO SAVEPOINT {SAVEPOINT}")
            if _timed_out(error):
                raise _Stop(error) from None
            raise
        if self.rows is None:
            self.rows = int(row[0])
        self.figures.update(zip(aggregates, row[1:], strict=True))

    def _try(self, aggregates: Sequence[Aggregate]) -> QueryError | None:
        try:
            self._query(aggregates)
        except QueryError as error:
            return error
        return None

    def _sound(self) -> None:
        """Before a rule is blamed: while no statement has counted, `count(*)` alone (raises when
        it fails too: the table or `where` is at fault)."""
        if self.rows is None:
            self._query([])

    def _count(self, chunk: Sequence[Aggregate]) -> None:
        failed = self._try(chunk)
        if failed is not None:
            if not chunk:  # count(*) alone failed
                raise failed
            self._isolate(chunk, failed)

    def _isolate(self, aggregates: Sequence[Aggregate], error: QueryError) -> None:
        """`aggregates` fail together with `error`: find those that fail on their own, by halves."""
        if len(aggregates) == 1:
            self._sound()
            self.errors[aggregates[0]] = error
            return
        half = len(aggregates) // 2
        first, second = aggregates[:half], aggregates[half:]
        failed = self._try(first)
        if failed is None:
            self._isolate(second, error)  # the first half counts: what failed is in the second
            return
        self._sound()
        self._isolate(first, failed)
        failed = self._try(second)
        if failed is not None:
            self._isolate(second, failed)


def run_scan(session: Session, options: RowsOptions, columns: dict[str, Column],
             aggregates: Sequence[Aggregate]) -> ScanResult:
    """Count `aggregates` over the rows of `options.table` matching `options.where` (see :class:`Scan`)."""
    return Scan(session, options, columns).run(aggregates)


# -- running: unique alongside the scan ----------------------------------------------------------


def _overlap(ctx: RunContext) -> bool:
    # under pytest-xdist the workers already keep the cores busy, and the unique item may run in
    # another worker than the scan: a query started here could be work for nobody
    return not ctx.options.xdist_worker


def _candidates_key(entry: RowsEntry, column: str) -> tuple[Any, ...]:
    return ("rows:unique", *_scan_key(entry)[1:], column)


def duplicate_candidates(session: Session, options: RowsOptions, column: Column) -> int:
    """PostgreSQL: hashes that occur more than once (0 proves `column` unique)."""
    # a sort of 8-byte hashes beats a spilling hash aggregate here (measured: benchmarks/bench_rows.py)
    session.query("SET LOCAL enable_hashagg = off")
    text, params = rows_sql.duplicate_candidates_query("postgresql", options.table, options.where, column)
    candidates = int(session.query(text, params).rows[0][0])
    session.query("RESET enable_hashagg")
    return candidates


def start_unique(ctx: RunContext, entry: RowsEntry, info: TableInfo) -> None:
    """Start the proof of uniqueness of each `unique` column of this scan, each on its own connection.

    The scan and the GROUP BY are both CPU-bound and PostgreSQL runs one statement per connection:
    side by side they finish sooner than one after the other. Each item then takes its answer
    (or the CheckError it raised) from `ctx.cache`.
    """
    columns: dict[str, None] = {}
    for other in _siblings(ctx, entry):
        for rule in other.options.column_rules:
            if rule.rule == "unique" and rule.column in info.columns and rule.column not in info.unique:
                columns[rule.column] = None
    if not columns:
        return
    options = entry.options
    alias = entry.database or ""

    def prove(column: Column) -> int:
        with ctx.databases.spare(alias) as database, database.session(ctx.timeout) as session:
            return duplicate_candidates(session, options, column)

    pool = ThreadPoolExecutor(max_workers=len(columns), thread_name_prefix="deploygate-unique")
    for column in columns:
        ctx.cache[_candidates_key(entry, column)] = pool.submit(prove, info.columns[column])
    pool.shutdown(wait=False)  # its threads end with their query


# -- running: verdicts --------------------------------------------------------------------------


def describe(rule: ColumnRule) -> str:
    """What a violating row has, after `3 of 120,412 rows in ads have`."""
    return COLUMN_RULES[rule.rule].describe(rule.column, rule.value)


def _as_utc(value: Any) -> dt.datetime | None:
    """The newest value of a `fresh` column as an aware datetime (naive values are UTC)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        # epoch seconds, or milliseconds (what JavaScript ORMs store in SQLite)
        seconds = value / 1000 if abs(value) > 100_000_000_000 else value
        return dt.datetime.fromtimestamp(seconds, dt.UTC)
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise CheckError(f"newest value {value!r} is not a date or time") from None
    else:
        raise CheckError(f"newest value {value!r} is not a date or time")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _label_note(rule: ColumnRule, column: Column) -> str:
    """` (not a label of enum post_status: 'nope')`: `allowed` values an enum column cannot hold."""
    if rule.rule != "allowed" or not isinstance(column, EnumColumn):
        return ""
    missing = [repr(pg_text(value)) for value in rule.value if pg_text(value) not in column.labels]
    if not missing:
        return ""
    return f" ({'not a label' if len(missing) == 1 else 'not labels'} of enum {column.enum}: {', '.join(missing)})"


RowsEntry = Entry[RowsOptions]
RowsTarget = Target[RowsOptions, RowPayload]


class RowsCheck(CheckKind[RowsOptions, RowPayload]):
    name = "rows"
    summary = BUILTIN["rows"].summary
    uses_database = "required"

    def parse(self, reader: EntryReader) -> RowsOptions:
        table = reader.dotted_name("table", reader.required_string("table", interpolate=False), parts=(1, 2))
        where = reader.string("where")
        if where is not None and not where.strip():
            raise reader.error("where", "is empty (leave it out to check every row)")
        key = reader.strings("key", interpolate=False)
        table_rules = _parse_table_rules(reader)
        column_rules = _parse_columns(reader)
        if not table_rules and not column_rules:
            raise reader.error("columns", "no rules: add [rows.columns.<column>] rules, "
                                          "or min_rows / max_rows / fresh")
        return RowsOptions(table, where.strip() if where else None, key, tuple(table_rules), tuple(column_rules))

    def default_name(self, options: RowsOptions, entry_index: int, database: str | None) -> str:
        return f"{database}.{options.table_name}"

    def expand(self, entry: RowsEntry) -> list[RowsTarget]:
        options = entry.options
        targets: list[RowsTarget] = [
            Target.at(entry, aspect=rule.rule, payload=rule, subject=options.table_name, severity=rule.severity)
            for rule in options.table_rules]
        targets += [Target.at(entry, rule.column, aspect=rule.rule, payload=rule,
                              subject=f"{options.table_name}.{rule.column}", severity=rule.severity)
                    for rule in options.column_rules]
        return targets

    def group(self, target: RowsTarget) -> str:
        # one scan serves every rule on a (database, table, where)
        return f"rows:{target.entry.database}.{target.entry.options.table_name}"

    def run(self, target: RowsTarget, ctx: RunContext) -> Result:
        entry = target.entry
        options = entry.options
        rule = target.payload
        alias = entry.database or ""
        with ctx.database(alias).session(ctx.timeout) as session:
            if options.where:
                session.guard_user_sql()  # the user's own SQL: not on a role a read-only transaction cannot hold back
            info = ctx.memo(("rows:catalog", entry.database, options.table), lambda: table_info(session, options.table, alias))
            if isinstance(rule, TableRule):
                if isinstance(rule.value, Freshness):
                    info.column(rule.value.column)
                return self._table_rule(self._scan(session, ctx, entry, info), options, rule)
            column = info.column(rule.column)
            if rule.rule == "unique":
                return self._unique(session, ctx, entry, options, info, rule)
            if rule.rule == "references":
                return self._references(session, ctx, entry, options, info, rule, column)
            scan = self._scan(session, ctx, entry, info)
            column = self._columns(session, ctx, entry, info)[rule.column]
            return self._scan_rule(session, ctx, options, info, rule, column, scan)

    # -- one method per way of answering ------------------------------------------------------

    def _scan(self, session: Session, ctx: RunContext, entry: RowsEntry, info: TableInfo) -> ScanResult:
        """The one scan of this entry's (database, table, where), run by the first item that needs it.

        On PostgreSQL, the proofs of uniqueness of the same table start first, each on a
        connection of its own, so that they run while the scan does (see :func:`start_unique`).
        """
        key = _scan_key(entry)
        if key not in ctx.cache and session.dialect == "postgresql" and _overlap(ctx):
            start_unique(ctx, entry, info)
        return ctx.memo(key, lambda: run_scan(session, entry.options, self._columns(session, ctx, entry, info),
                                              shared_aggregates(ctx, entry, info)))

    def _columns(self, session: Session, ctx: RunContext, entry: RowsEntry, info: TableInfo) -> dict[str, Column]:
        """The table's columns as the rules compare them (:func:`rule_columns`), once per process."""
        return ctx.memo(("rows:columns", entry.database, entry.options.table),
                        lambda: rule_columns(ctx, entry, session, info))

    def _key(self, options: RowsOptions, info: TableInfo) -> tuple[str, ...]:
        key = options.key or info.primary_key or ((info.row_id,) if info.row_id else ())
        for name in options.key:
            info.column(name)
        return key

    def _samples(self, session: Session, ctx: RunContext, build: Callable[[int], tuple[str, list[Any]]]) -> list[str]:
        if ctx.samples <= 0:
            return []
        text, params = build(ctx.samples)
        result = session.query(text, params, limit=ctx.samples)
        return [show_row(result.columns, row) for row in result.rows]

    def _scan_rule(self, session: Session, ctx: RunContext, options: RowsOptions, info: TableInfo,
                   rule: ColumnRule, column: Column, scan: ScanResult) -> Result:
        bad = int(scan.figure(Aggregate(rule.rule, rule.column, rule.value)))
        verdict = (f"{count(bad)} of {count(scan.rows)} rows in {options.table_name} have {describe(rule)}"
                   f"{_label_note(rule, column)}")
        if not bad:
            return Result.ok(verdict, rows=scan.rows, violations=0)
        key = self._key(options, info)
        samples = self._samples(session, ctx, lambda n: rows_sql.samples_query(
            dialect_of(session.dialect), options.table, options.where, rule.rule, rule.value, column, key, n))
        return Result.fail(verdict, samples, rows=scan.rows, violations=bad)

    def _table_rule(self, scan: ScanResult, options: RowsOptions, rule: TableRule) -> Result:
        name = options.table_name
        if isinstance(rule.value, int):
            limit_rows = rule.value
            if rule.rule == "min_rows":
                verdict = f"{name} has {plural(scan.rows, 'row')} (min {count(limit_rows)})"
                return (Result.ok if scan.rows >= limit_rows else Result.fail)(verdict, rows=scan.rows)
            verdict = f"{name} has {plural(scan.rows, 'row')} (max {count(limit_rows)})"
            return (Result.ok if scan.rows <= limit_rows else Result.fail)(verdict, rows=scan.rows)
        fresh = rule.value
        newest = _as_utc(scan.figure(Aggregate("fresh", fresh.column)))
        limit = format_duration(fresh.max_age)
        if newest is None:
            return Result.fail(f"no row of {name} has {fresh.column} set (fresh: the newest must be "
                               f"at most {limit} old)", rows=scan.rows)
        seconds = max(0.0, (dt.datetime.now(dt.UTC) - newest).total_seconds())
        verdict = (f"newest {name}.{fresh.column} is {age(seconds)} old (max {limit}): "
                   f"{newest.isoformat(sep=' ', timespec='seconds')}")
        return (Result.ok if seconds <= fresh.max_age else Result.fail)(verdict, rows=scan.rows, age_s=round(seconds, 3))

    def _unique(self, session: Session, ctx: RunContext, entry: RowsEntry, options: RowsOptions, info: TableInfo,
                rule: ColumnRule) -> Result:
        name = options.table_name
        index = info.unique.get(rule.column)
        if index is not None:
            # a unique index or constraint already forbids duplicates: nothing to scan
            return Result.ok(f"{name}.{rule.column} is unique by {index} (from the catalog, no scan)",
                             from_catalog=1)
        dialect = dialect_of(session.dialect)
        # first the scan: it starts this rule's proof of uniqueness alongside itself (PostgreSQL)
        scan = self._scan(session, ctx, entry, info)
        candidates = 1
        if dialect == "postgresql":
            started: Future[int] | None = ctx.cache.get(_candidates_key(entry, rule.column))
            column = info.column(rule.column)
            candidates = started.result() if started is not None else duplicate_candidates(session, options, column)
        text, params = rows_sql.duplicates_query(dialect, options.table, options.where, rule.column, ctx.samples)
        duplicated = session.query(text, params).rows if candidates else []
        values = int(duplicated[0][2]) if duplicated else 0
        involved = int(duplicated[0][3]) if duplicated else 0
        verdict = (f"{plural(values, rule.column + ' value')} {'occurs' if values == 1 else 'occur'} more than once "
                   f"in {name} ({count(involved)} of {count(scan.rows)} rows)")
        figures = {"rows": scan.rows, "duplicate_values": values, "duplicate_rows": involved}
        if not values:
            return Result.ok(verdict, **figures)
        return Result.fail(verdict, self._duplicate_samples(session, ctx, options, info, rule, duplicated), **figures)

    def _duplicate_samples(self, session: Session, ctx: RunContext, options: RowsOptions, info: TableInfo,
                           rule: ColumnRule, duplicated: list[tuple[Any, ...]]) -> list[str]:
        """`slug=summer-1 (3 rows): id=4, id=9, id=12`: each value with its count and the rows holding it."""
        shown = duplicated[: ctx.samples]
        if not shown:
            return []
        key = self._key(options, info)
        per_value = 5
        holders: dict[Any, list[str]] = {}
        if key:
            text, params = rows_sql.rows_with_values_query(
                dialect_of(session.dialect), options.table, options.where, rule.column, [row[0] for row in shown], key,
                per_value * len(shown) * 4)
            result = session.query(text, params)
            for row in result.rows:
                holders.setdefault(row[0], []).append(show_row(result.columns[1:], row[1:]))
        lines = []
        for value, n, *_ in shown:
            rows = holders.get(value, [])
            more = ", …" if int(n) > per_value and rows else ""
            listed = ", ".join(rows[:per_value])
            lines.append(f"{rule.column}={show_value(value)} ({plural(int(n), 'row')})" + (f": {listed}{more}" if listed else ""))
        return lines

    def _references(self, session: Session, ctx: RunContext, entry: RowsEntry, options: RowsOptions, info: TableInfo,
                    rule: ColumnRule, column: Column) -> Result:
        ref = rule.value
        if not isinstance(ref, Reference):  # parse() makes one for every references rule
            raise TypeError(f"references rule of {rule.column} holds {ref!r}")
        target = ctx.memo(("rows:catalog", entry.database, ref.table), lambda: table_info(session, ref.table, entry.database or ""))
        target.column(ref.column)
        dialect = dialect_of(session.dialect)
        text, params = rows_sql.orphans_query(dialect, options.table, options.where, rule.column, ref.table, ref.column)
        bad = int(session.query(text, params).rows[0][0])
        scan = self._scan(session, ctx, entry, info)
        verdict = f"{count(bad)} of {count(scan.rows)} rows in {options.table_name} have {describe(rule)}"
        if not bad:
            return Result.ok(verdict, rows=scan.rows, violations=0)
        key = self._key(options, info)
        samples = self._samples(session, ctx, lambda n: rows_sql.orphans_query(
            dialect, options.table, options.where, rule.column, ref.table, ref.column, key=key, limit=n))
        return Result.fail(verdict, samples, rows=scan.rows, violations=bad)


ROWS = RowsCheck()  # the kind, for reading its sibling entries (GateConfig.entries_of)
