"""`[[schema]]`: the live schema against a snapshot file, another live database, or what must exist.

The live schema is reflected once per database per process (bulk catalog queries, see
:mod:`pytest_deploygate.db.reflect`) and shared by every per-table item. With `against`, the other
database (the reference: staging, where the release was tested) is reflected when the gate is
collected, since its tables are the items, and compared exactly as a snapshot would be.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..api import CheckKind, Entry, Result, RunContext, Target, shared_by_workers
from ..config import EntryReader
from ..db import Database
from ..db.expressions import same_expression
from ..db.reflect import Schema, Table, gc_paused, reflect
from ..errors import CheckError
from ..wording import plural
from . import BUILTIN


@dataclass(frozen=True)
class SchemaOptions:
    """A `[[schema]]` entry's own keys, and what was read for them at collection.

    Attributes:
        snapshot_path: `snapshot`: the snapshot file.
        require: `require`: (table, its required columns).
        ignore: globs of tables and enums left out on both sides.
        expected: the reference schema: the snapshot's content or the `against` database's, read
            at collection; None when the snapshot file is missing or the database could not be read.
        against: `against`: the alias of the reference database.
        privileges: compare grants too (`against` on PostgreSQL).
        unreadable: why the `against` database could not be read at collection.
    """

    snapshot_path: Path | None
    require: tuple[tuple[str, tuple[str, ...]], ...]
    ignore: tuple[str, ...]
    expected: Schema | None
    against: str | None = None
    privileges: bool = False
    unreadable: str = ""

    @property
    def reference(self) -> str:
        """What the live schema is compared with, as messages name it."""
        return self.against if self.against is not None else "the snapshot"


@dataclass(frozen=True)
class RequiredTable:
    """`require`: this table must exist, with these columns."""

    table: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class SnapshotTable:
    """`snapshot`: this table of the snapshot against the live one."""

    table: str


@dataclass(frozen=True)
class SnapshotPart:
    """`snapshot`: the file itself is missing, the enums, or the live tables it does not know."""

    part: Literal["missing", "enums", "unexpected", "unreadable"]


SchemaPayload = RequiredTable | SnapshotTable | SnapshotPart


# -- comparing ----------------------------------------------------------------------------------


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, list):
        return "(" + ", ".join(value) + ")"
    return str(value)


def _compare_named(what: str, table: str, expected: Mapping[str, str], actual: Mapping[str, str],
                   reference: str = "the snapshot") -> list[str]:
    differences = []
    for name in sorted(expected.keys() | actual.keys()):
        if name not in actual:
            differences.append(f"{what} {name} on {table} is missing (expected {expected[name]})")
        elif name not in expected:
            differences.append(f"{what} {name} on {table} is not in {reference} ({actual[name]})")
        elif not same_expression(expected[name], actual[name]):
            differences.append(f"{what} {name} on {table} is {actual[name]}, expected {expected[name]}")
    return differences


def compare_table(name: str, expected: Table, actual: Table, reference: str = "the snapshot") -> list[str]:
    """Each difference between two tables, said as expected vs actual.

    Column order is ignored; expressions (defaults, checks, index definitions) are compared by
    meaning (:func:`~pytest_deploygate.db.expressions.same_expression`); grants only when both
    sides were reflected with them. `reference` names the expected side in messages.
    """
    if expected == actual:  # the usual case, decided by dict equality in C
        return []
    if expected.virtual != actual.virtual:  # a virtual table is its definition (SQLite: FTS5, R*Tree)
        if actual.virtual is None:
            return [f"table {name} is an ordinary table, expected a virtual table ({expected.virtual})"]
        if expected.virtual is None:
            return [f"table {name} is a virtual table ({actual.virtual}), expected an ordinary table"]
        return [f"virtual table {name} is {actual.virtual}, expected {expected.virtual}"]
    differences = []
    for column in sorted(expected.columns.keys() | actual.columns.keys()):
        want, have = expected.columns.get(column), actual.columns.get(column)
        if have is None and want is not None:
            differences.append(f"column {name}.{column} is missing (expected {want['type']})")
        elif want is None and have is not None:
            differences.append(f"column {name}.{column} is not in {reference} ({have['type']})")
        elif want is not None and have is not None:
            for key in sorted(want.keys() | have.keys()):
                if want.get(key) != have.get(key) and not (key == "default" and same_expression(want.get(key), have.get(key))):
                    if key == "nullable":
                        state = "nullable" if have.get(key) else "NOT NULL"
                        differences.append(f"column {name}.{column} is {state}, expected "
                                           f"{'nullable' if want.get(key) else 'NOT NULL'}")
                    else:
                        differences.append(f"column {name}.{column} {key} is {_show(have.get(key))}, "
                                           f"expected {_show(want.get(key))}")
    if expected.primary_key != actual.primary_key:
        differences.append(f"primary key of {name} is {_show(actual.primary_key or None)}, "
                           f"expected {_show(expected.primary_key or None)}")
    differences += _compare_named("unique constraint", name, expected.unique, actual.unique, reference)
    differences += _compare_named("index", name, expected.indexes, actual.indexes, reference)
    differences += _compare_named("foreign key", name, expected.foreign_keys, actual.foreign_keys, reference)
    differences += _compare_named("check constraint", name, expected.checks, actual.checks, reference)
    if expected.privileges is not None and actual.privileges is not None:
        differences += _compare_named("grant to", name, expected.privileges, actual.privileges, reference)
    return differences


def compare_enums(expected: Mapping[str, list[str]], actual: Mapping[str, list[str]],
                  reference: str = "the snapshot") -> list[str]:
    differences = []
    for name in sorted(expected.keys() | actual.keys()):
        want, have = expected.get(name), actual.get(name)
        if have is None and want is not None:
            differences.append(f"enum {name} is missing (expected {', '.join(want)})")
        elif want is None and have is not None:
            differences.append(f"enum {name} is not in {reference} ({', '.join(have)})")
        elif want != have:
            differences.append(f"enum {name} labels are {', '.join(have or [])}, expected {', '.join(want or [])}")
    return differences


def _differences_result(subject: str, differences: list[str]) -> Result:
    if not differences:
        return Result.ok(f"{subject} matches", differences=0)
    if len(differences) == 1:
        return Result.fail(differences[0], differences=1)
    return Result.fail(f"{plural(len(differences), 'difference')} in {subject}: {differences[0]}, ...",
                       differences, differences=len(differences))


# -- snapshot files -----------------------------------------------------------------------------


_string = json.encoder.encode_basestring  # the C escaper, as json.dumps(ensure_ascii=False) uses


_encode = json.JSONEncoder(ensure_ascii=False).encode  # anything _leaf has no branch for (numbers)
_PLAIN_COLUMN = ("type", "nullable", "default")


def _leaf(value: Any) -> str:
    """`value` as `json.dumps(value, ensure_ascii=False)` writes it, for the snapshot's small values."""
    kind = type(value)
    if kind is str:
        return _string(value)
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is dict:
        return "{" + ", ".join([f"{_string(k)}: {_leaf(v)}" for k, v in value.items()]) + "}"
    if kind is list:
        return "[" + ", ".join([_leaf(item) for item in value]) + "]"
    return _encode(value)


def _column(spec: dict[str, Any]) -> str:
    """`_leaf(spec)` for a column, by one f-string for the usual three keys: 20,000 columns make
    this the writer's inner loop, and the fast path halves it."""
    if tuple(spec) == _PLAIN_COLUMN:
        kind, nullable, default = spec.values()
        if type(kind) is str and type(nullable) is bool and (default is None or type(default) is str):
            return (f'{{"type": {_string(kind)}, "nullable": {"true" if nullable else "false"}, '
                    f'"default": {"null" if default is None else _string(default)}}}')
    return _leaf(spec)


def _block(entries: list[str], pad: str) -> str:
    """A JSON object of entries already indented by `pad` + two spaces; `pad` indents its brace."""
    if not entries:
        return "{}"
    return "{\n" + ",\n".join(entries) + "\n" + pad + "}"


def schema_json(schema: Schema) -> str:
    """The snapshot file's text: sorted, one column or constraint per line, one trailing newline.

    One line per column, constraint and enum, so that a diff of two snapshots shows one changed
    line per changed thing. Written by hand for this one shape: `json.dumps(indent=...)` falls back
    to the pure-Python encoder and took longer than the catalog queries on 1,000 tables.
    """
    document = schema.to_json()
    tables = []
    for name, table in document["tables"].items():
        sections = []
        for section, value in table.items():
            if isinstance(value, dict):
                render = _column if section == "columns" else _leaf
                body = _block([f"        {_string(k)}: {render(v)}" for k, v in value.items()], "      ")
            else:
                body = _leaf(value)
            sections.append(f"      {_string(section)}: {body}")
        tables.append(f"    {_string(name)}: {_block(sections, '    ')}")
    head = [f"  {_string(key)}: {_leaf(document[key])}" for key in ("format", "version", "dialect")]
    enums = _block([f"    {_string(k)}: {_leaf(v)}" for k, v in document["enums"].items()], "  ")
    return _block([*head, f'  "tables": {_block(tables, "  ")}', f'  "enums": {enums}'], "") + "\n"


def write_snapshot(path: Path, schema: Schema) -> None:
    """Write atomically: xdist workers may all update the same file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(schema_json(schema))
    os.replace(tmp, path)


def read_snapshot(path: Path) -> Schema:
    """Raises ValueError saying what is wrong with the file."""
    return parse_snapshot(path.read_text(encoding="utf-8"))


def parse_snapshot(text: str) -> Schema:
    """A snapshot file's text as a :class:`Schema`; raises ValueError saying what is wrong."""
    with gc_paused():
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"is not valid JSON ({exc.msg} at line {exc.lineno})") from None
        except RecursionError:  # json's parser on arrays nested ~1,000 deep (tests/test_config_fuzz.py)
            raise ValueError("is not a snapshot (JSON nested too deeply)") from None
        return Schema.from_json(data)


# -- the kind -----------------------------------------------------------------------------------


class SchemaCheck(CheckKind[SchemaOptions, SchemaPayload]):
    name = "schema"
    summary = BUILTIN["schema"].summary
    uses_database = "required"

    def parse(self, reader: EntryReader) -> SchemaOptions:
        snapshot_path = reader.path("snapshot")
        require_table = reader.raw("require")
        against = reader.database("against") if reader.has("against") else None
        ignore = reader.strings("ignore", interpolate=False)
        privileges = reader.boolean("privileges")
        given = [key for key, value in (("snapshot", snapshot_path), ("require", require_table), ("against", against))
                 if value is not None]
        if len(given) != 1:
            raise reader.error(given[1] if len(given) > 1 else "snapshot",
                               "give one of snapshot (a file), against (another database) or require (tables and columns)")
        if privileges and against is None:
            raise reader.error("privileges", "compares the grants of two live databases: it goes with against "
                                             "(snapshots do not record grants)")
        require: list[tuple[str, tuple[str, ...]]] = []
        if require_table is not None:
            if not isinstance(require_table, dict) or not require_table:
                raise reader.error("require", "expected a table: { categories = [\"id\", \"name\"], user_favorites = [] }")
            for table, columns in require_table.items():
                if not table.strip() or any(c in table for c in "[] "):
                    raise reader.error("require", f'"{table}" is not a table name (it becomes an item id: '
                                                  "no spaces or brackets)")
                if not isinstance(columns, list) or not all(isinstance(c, str) and c.strip() for c in columns):
                    raise reader.error(f"require.{table}", "expected a list of column names ([] for the table alone)")
                require.append((table, tuple(columns)))
        if against is not None:
            return self._parse_against(reader, against, ignore, privileges)
        expected = None
        if snapshot_path is not None and snapshot_path.exists():
            try:
                expected = read_snapshot(snapshot_path)
            except (OSError, ValueError) as exc:
                raise reader.error("snapshot", f"{snapshot_path} {exc}") from None
            database = reader.database()
            dialect = reader.database_config(database).url.dialect
            if expected.dialect != dialect:
                raise reader.error("snapshot", f"{snapshot_path} is a snapshot of a {expected.dialect} database, "
                                               f'but database "{database}" is {dialect}')
            expected = expected.without(ignore)
        return SchemaOptions(snapshot_path, tuple(require), ignore, expected)

    @staticmethod
    def _parse_against(reader: EntryReader, against: str, ignore: tuple[str, ...], privileges: bool) -> SchemaOptions:
        """Reflect the reference database now: its tables are the items. A database that cannot be
        read is not a config error; the entry becomes one item that says why."""
        database = reader.database()
        if against == database:
            raise reader.error("against", f'is database "{database}" itself: name another database (staging)')
        config, other = reader.database_config(database), reader.database_config(against)
        if config.url.dialect != other.url.dialect:
            raise reader.error("against", f'database "{against}" is {other.url.dialect}, but database "{database}" '
                                          f"is {config.url.dialect}: schemas compare within one engine")
        if privileges and config.url.dialect != "postgresql":
            raise reader.error("privileges", "SQLite has no grants to compare")
        def read() -> dict[str, Any]:
            reference = Database(other, reader.redactor)
            try:
                with reference.session() as session:
                    return {"schema": reflect(session, ignore, privileges=privileges).to_json()}
            except CheckError as exc:  # DatabaseUnavailable, QueryError: said, redacted, by the database
                return {"unreadable": str(exc)}
            finally:
                reference.close()

        key = json.dumps([str(reader.base_dir), against, other.url.display, ignore, privileges])
        found = shared_by_workers(key, read)
        if "unreadable" in found:
            return SchemaOptions(None, (), ignore, None, against, privileges, unreadable=str(found["unreadable"]))
        return SchemaOptions(None, (), ignore, Schema.from_json(found["schema"]), against, privileges)

    def expand(self, entry: Entry[SchemaOptions]) -> list[Target[SchemaOptions, SchemaPayload]]:
        options = entry.options
        if options.require:
            return [Target.at(entry, table, payload=RequiredTable(table, columns), subject=table)
                    for table, columns in options.require]
        if options.unreadable:
            return [Target.at(entry, aspect="against", payload=SnapshotPart("unreadable"),
                              subject=f"schema of {options.against}")]
        if options.expected is None:
            return [Target.at(entry, aspect="snapshot", payload=SnapshotPart("missing"),
                              subject=str(options.snapshot_path))]
        targets: list[Target[SchemaOptions, SchemaPayload]] = [
            Target.at(entry, table, payload=SnapshotTable(table), subject=table) for table in sorted(options.expected.tables)]
        if options.expected.dialect == "postgresql":
            targets.append(Target.at(entry, aspect="enums", payload=SnapshotPart("enums"), subject="enums"))
        targets.append(Target.at(entry, aspect="unexpected-tables", payload=SnapshotPart("unexpected"),
                                 subject="unexpected tables"))
        return targets

    def group(self, target: Target[SchemaOptions, SchemaPayload]) -> str:
        # every item of a database compares against its one reflection
        return f"schema:{target.entry.database}"

    def _live(self, entry: Entry[SchemaOptions], ctx: RunContext) -> Schema:
        alias = entry.database or ""

        ignore, privileges = entry.options.ignore, entry.options.privileges

        def compute() -> Schema:
            with ctx.database(alias).session(ctx.timeout) as session:
                return reflect(session, ignore, privileges=privileges)  # ignored tables are never touched

        return ctx.memo(("schema", alias, ignore, privileges), compute)

    def run(self, target: Target[SchemaOptions, SchemaPayload], ctx: RunContext) -> Result:
        entry = target.entry
        options = entry.options
        payload = target.payload
        if isinstance(payload, SnapshotPart) and payload.part == "unreadable":  # said before reading main
            return Result.error(f"cannot read the schema of {options.against} to compare with: {options.unreadable}")
        live = self._live(entry, ctx)
        alias = entry.database

        if isinstance(payload, RequiredTable):
            table, columns = payload.table, payload.columns
            actual = live.tables.get(table)
            if actual is None:
                return Result.fail(f"table {table} is missing in {alias}", missing_columns=len(columns))
            missing = [column for column in columns if column not in actual.columns]
            if not missing:
                return Result.ok(f"table {table} has {plural(len(columns), 'required column')}", missing_columns=0)
            if len(missing) == 1:
                return Result.fail(f"column {table}.{missing[0]} is missing", missing_columns=1)
            return Result.fail(f"{len(missing)} columns of {table} are missing: {', '.join(missing)}",
                               missing, missing_columns=len(missing))

        path = options.snapshot_path
        if ctx.options.update_snapshots and path is not None:
            ctx.memo(("schema-written", str(path)), lambda: write_snapshot(path, live))
            return Result.ok(f"snapshot {path.name} updated from {alias}", tables=len(live.tables))

        expected = options.expected
        if expected is None or (isinstance(payload, SnapshotPart) and payload.part == "missing"):
            return Result.fail(
                f"snapshot file {options.snapshot_path} does not exist: create it with "
                f"`deploygate snapshot URL -o {options.snapshot_path}` or run with --deploygate-update-snapshots")
        if isinstance(payload, SnapshotTable):
            table = payload.table
            actual = live.tables.get(table)
            if actual is None:
                return Result.fail(f"table {table} is missing in {alias}")
            return _differences_result(f"table {table}", compare_table(table, expected.tables[table], actual,
                                                                       options.reference))
        if payload.part == "enums":
            return _differences_result(f"enums of {alias}", compare_enums(expected.enums, live.enums, options.reference))
        unexpected = sorted(set(live.tables) - set(expected.tables))
        if not unexpected:
            return Result.ok(f"no tables in {alias} beyond {options.reference}", tables=0)
        return Result.fail(f"{plural(len(unexpected), 'table')} in {alias} {'is' if len(unexpected) == 1 else 'are'} "
                           f"not in {options.reference}: {', '.join(unexpected[:5])}{', ...' if len(unexpected) > 5 else ''}",
                           unexpected, tables=len(unexpected))
