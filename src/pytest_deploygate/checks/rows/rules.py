"""The rules of `[[rows]]`, each defined once: how its value is read, how a violation is worded,
and the SQL condition a violating row meets.

Adding a column rule is one :class:`RowRule` in :data:`COLUMN_RULES`: its items, its config
validation, its place in the shared scan and its verdict all follow from the entry.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...config import EntryReader
from ...db.sql import Builder, Column
from ...wording import describe_value, plural, show_value

# What "blank" means for not_empty: ASCII whitespace. btrim/trim with an explicit set is a plain
# string function, several times cheaper per row than a regex like `!~ '\S'`.
_PG_BLANK = "E' \\t\\n\\r\\f\\v'"
_SQLITE_BLANK = "char(32, 9, 10, 13, 12, 11)"
_SCALARS = (str, int, float, dt.date, dt.datetime, dt.time)

Condition = Callable[[Builder, Any, Column, str], str]


@dataclass(frozen=True)
class Reference:
    """`references = "categories.id"`: the table (maybe schema-qualified) and its column."""

    table: tuple[str, ...]
    column: str

    def __str__(self) -> str:
        return ".".join((*self.table, self.column))


@dataclass(frozen=True)
class RowRule:
    """One column rule.

    Attributes:
        name: its key under `[rows.columns.<column>]`, and the aspect of its item id.
        parse: reads its value from `reader[key]`; None turns the rule off (`not_null = false`).
        describe: what a violating row has, after `3 of 120,412 rows in ads have`.
        condition: the SQL a violating row meets (NULL never violates but not_null), counted in
            the table's one scan; None for a rule answered by a query of its own.
        flag: a true/false rule, whose table form may leave out `value`.
    """

    name: str
    parse: Callable[[EntryReader, str], Any]
    describe: Callable[[str, Any], str]
    condition: Condition | None = None
    flag: bool = False


@dataclass(frozen=True)
class EnumColumn(Column):
    """A PostgreSQL column whose type is an enum (or a domain over one): `enum` names the type,
    `labels` are its values. `allowed` compares it as text (see :func:`_not_allowed`)."""

    enum: str = ""
    labels: tuple[str, ...] = ()


def pg_text(value: Any) -> str:
    """What PostgreSQL's `value::text` gives for a string, number or boolean of the config."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def as_text(b: Builder, column: Column, ref: str) -> str:
    """The column as text for the text rules (`pattern` on an integer column, ...)."""
    if column.textual or not b.postgres:
        return ref
    return f"{ref}::text"


# -- reading values -------------------------------------------------------------------------------


def _flag(reader: EntryReader, key: str) -> bool | None:
    # key "" is the table form without `value` (`unique = { severity = "warn" }`): the rule is on
    return True if not key else (reader.boolean(key) or None)


def _pattern(reader: EntryReader, key: str) -> str | None:
    pattern = reader.string(key, interpolate=False)
    if pattern is not None:
        reader.check_regex(key, pattern)
    return pattern


def _bound(reader: EntryReader, key: str) -> Any:
    value = reader.raw(key)
    if isinstance(value, bool) or not isinstance(value, _SCALARS):
        raise reader.error(key, f"expected a number, a string or a date, got {describe_value(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise reader.error(key, "must be a finite number")
    return value


def _length(reader: EntryReader, key: str) -> int | None:
    return reader.integer(key, minimum=0)


def _allowed(reader: EntryReader, key: str) -> tuple[Any, ...]:
    values = reader.raw(key)
    if not isinstance(values, list) or not values:
        raise reader.error(key, f"expected a non-empty list of values, got {describe_value(values)}")
    for value in values:
        if not isinstance(value, (*_SCALARS, bool)):
            raise reader.error(key, f"expected a list of strings or numbers, got {describe_value(value)} in it")
    return tuple(values)


def _reference(reader: EntryReader, key: str) -> Reference | None:
    text = reader.string(key, interpolate=False)
    if text is None:
        return None
    names = reader.dotted_name(key, text, parts=(2, 3))
    return Reference(names[:-1], names[-1])


# -- SQL conditions ---------------------------------------------------------------------------------


def _is_null(b: Builder, value: Any, column: Column, ref: str) -> str:
    return f"{ref} IS NULL"


def _is_empty(b: Builder, value: Any, column: Column, ref: str) -> str:
    if not b.postgres:
        return f"trim({ref}, {_SQLITE_BLANK}) = ''"
    text = as_text(b, column, ref)
    # a blank value is '' (ascii() gives 0) or starts with a code <= 32 (every blank one is):
    # one integer comparison spares nearly every row the btrim; half the cost of `= '' OR
    # ascii() IN (...)` per row (measured: benchmarks/bench_rows.py's table, 2,000,000 rows)
    return f"(ascii({text}) <= 32 AND btrim({text}, {_PG_BLANK}) = '')"


def _mismatch(b: Builder, value: Any, column: Column, ref: str) -> str:
    if b.postgres:
        return f"{as_text(b, column, ref)} !~ {b.param(value)}"
    return f"NOT ({ref} REGEXP {b.param(value)})"


def _below(b: Builder, value: Any, column: Column, ref: str) -> str:
    return f"{ref} < {b.param(value)}"


def _above(b: Builder, value: Any, column: Column, ref: str) -> str:
    return f"{ref} > {b.param(value)}"


def _char_length(b: Builder, column: Column, ref: str) -> str:
    return f"char_length({as_text(b, column, ref)})" if b.postgres else f"length({ref})"


def _shorter(b: Builder, value: Any, column: Column, ref: str) -> str:
    return f"{_char_length(b, column, ref)} < {b.param(value)}"


def _longer(b: Builder, value: Any, column: Column, ref: str) -> str:
    if b.postgres:  # octets >= characters, and octet_length reads only the header: most rows stop there
        return (f"(octet_length({as_text(b, column, ref)}) > {b.param(value)} "
                f"AND {_char_length(b, column, ref)} > {b.param(value)})")
    return f"{_char_length(b, column, ref)} > {b.param(value)}"


def _not_allowed(b: Builder, value: Any, column: Column, ref: str) -> str:
    if b.postgres and isinstance(column, EnumColumn):
        # an enum as text: a value that is not one of its labels simply never matches (as a
        # parameter typed by the enum, it would fail the query: invalid input value for enum)
        return f"{ref}::text NOT IN ({', '.join(b.param(v) + '::text' for v in value)})"
    # NOT IN with one parameter per value: each is typed by the column (varchar, integer, uuid,
    # date...), so numbers compare as numbers; a value that is not of that type fails this rule
    return f"{ref} NOT IN ({', '.join(b.param(v) for v in value)})"


# -- the table --------------------------------------------------------------------------------------

#: the column rules, in the order their items appear
COLUMN_RULES: dict[str, RowRule] = {rule.name: rule for rule in (
    RowRule("not_null", _flag, lambda col, _: f"{col} NULL", _is_null, flag=True),
    RowRule("not_empty", _flag, lambda col, _: f"{col} empty ('' or only whitespace)", _is_empty, flag=True),
    RowRule("pattern", _pattern, lambda col, value: f"{col} not matching {value!r}", _mismatch),
    RowRule("min", _bound, lambda col, value: f"{col} below {show_value(value)}", _below),
    RowRule("max", _bound, lambda col, value: f"{col} above {show_value(value)}", _above),
    RowRule("min_length", _length, lambda col, value: f"{col} shorter than {plural(value, 'character')}", _shorter),
    RowRule("max_length", _length, lambda col, value: f"{col} longer than {plural(value, 'character')}", _longer),
    RowRule("allowed", _allowed,
            lambda col, value: f"{col} not one of {', '.join(show_value(v) for v in value)}", _not_allowed),
    RowRule("unique", _flag, lambda col, _: f"{col} duplicated", flag=True),
    RowRule("references", _reference, lambda col, value: f"{col} with no match in {value}"),
)}

#: the table rules on the row count, in item order (before `fresh`, then the column rules)
COUNT_RULES = ("min_rows", "max_rows")

#: pairs of rules whose values must be in order
BOUNDS = (("min", "max"), ("min_length", "max_length"))


def condition(b: Builder, rule: str, value: Any, column: Column, ref: str) -> str:
    """The SQL a row violating the scan rule `rule` meets (parameters go to `b`).

    Raises:
        ValueError: `rule` is not counted in the scan (unique, references).
    """
    found = COLUMN_RULES.get(rule)
    if found is None or found.condition is None:
        raise ValueError(f"not a scan rule: {rule}")
    return found.condition(b, value, column, ref)
