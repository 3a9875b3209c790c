"""`[[migrations]]`: the migration tool's tracking table against the migrations folder.

Each tool keeps a tracking table (`_prisma_migrations`, `alembic_version`, ...) and a folder of
migration files. One entry becomes up to five items: the table exists; nothing on disk is pending;
nothing applied is missing on disk; no failed (dirty, half-applied) entry; checksums match, for the
tools that record them. The table is read once and the folder once per entry per process; every
item of the entry shares both (:class:`~pytest_deploygate.api.AspectKind`).

How each tool's state is read mirrors what the tool itself does before it migrates (prisma's
P3009 on a failed migration, flyway's `validate`, golang-migrate's dirty flag, ...), so the gate
fails where `migrate deploy` would, only before the deploy rather than during it.

One module per tool family (:mod:`.prisma`, :mod:`.alembic`, ..., the shared pieces in
:mod:`.base`); this one holds the registry :data:`TOOLS`, the public tracking-table reader
(:func:`read_tracking`, :func:`applied_migrations`, for other families too) and the kind.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...api import AspectKind, Entry, Result, RunContext, Target
from ...db.catalog import table_exists
from ...errors import CheckError
from ...wording import plural
from .. import BUILTIN
from .alembic import Alembic
from .base import DiskMigration, Findings, Record, Row, Tool, compare
from .django import Django
from .flyway import Flyway, flyway_checksum
from .golang_migrate import GolangMigrate
from .prisma import Prisma, prisma_checksum
from .sqlx import Sqlx, sqlx_checksum
from .versioned import Dbmate, Goose, Knex, Rails

if TYPE_CHECKING:
    from ...config import EntryReader
    from ...db import Session

__all__ = [
    "TOOLS", "DiskMigration", "Findings", "MigrationsCheck", "MigrationsOptions", "MigrationsState", "Record",
    "Row", "Tool", "TrackingTable", "applied_migrations", "compare", "flyway_checksum", "prisma_checksum",
    "read_tracking", "sqlx_checksum",
]

#: tool name (the config's `tool` key) -> the tool
TOOLS: dict[str, Tool[Any]] = {tool.name: tool for tool in (
    Alembic(), Dbmate(), Django(), Flyway(), GolangMigrate(), Goose(), Knex(), Prisma(), Rails(), Sqlx())}


def _tool(name: str) -> Tool[Any]:
    if name not in TOOLS:
        raise ValueError(f"unknown migration tool {name!r} (one of {', '.join(TOOLS)})")
    return TOOLS[name]


# -- the tracking table, for this family and others ---------------------------------------------


@dataclass(frozen=True)
class TrackingTable:
    """A tool's tracking table as read.

    Attributes:
        tool: the tool's name (a key of :data:`TOOLS`).
        table: the table read: `(name,)` or `(schema, name)`.
        rows: its rows, read with the tool's SELECT list and in its ORDER BY.
    """

    tool: str
    table: tuple[str, ...]
    rows: tuple[Row, ...]

    @property
    def applied(self) -> list[str]:
        """The applied migrations it records (see :func:`applied_migrations`)."""
        return applied_migrations(self.tool, self.rows)


def read_tracking(session: Session, tool: str, table: Sequence[str] | None = None, *,
                  database: str | None = None) -> TrackingTable | None:
    """Read a migration tool's tracking table, as the tool itself reads it.

    Args:
        session: an open session on the database.
        tool: the tool's name (`prisma`, `flyway`, ...; a key of :data:`TOOLS`).
        table: `(name,)` or `(schema, name)` (a dotted string is split); None: the tool's default
            table (`_prisma_migrations`, ...).
        database: the database's alias, to name it in the error message.

    Returns:
        The table's rows, read with the tool's SELECT list and ORDER BY; None when the table
        does not exist.

    Raises:
        CheckError: "cannot read tracking table ...": the table exists but the SELECT failed
            (not the tool's columns, no permission).
        ValueError: `tool` is not a known tool.
    """
    found = _tool(tool)
    spec = found.tracking
    if table is None:
        parts: tuple[str, ...] = (spec.table,)
    else:
        parts = tuple(table.split(".")) if isinstance(table, str) else tuple(table)
    if not table_exists(session, parts):
        return None
    try:
        rows = session.query(f"SELECT {spec.columns} FROM {session.ident(*parts)} {spec.order}").rows
    except CheckError as exc:
        where = f" in {database}" if database else ""
        raise CheckError(f"cannot read tracking table {'.'.join(parts)}{where} ({found.name}): {exc}") from None
    return TrackingTable(found.name, parts, tuple(rows))


def applied_migrations(tool: str, rows: Sequence[Row]) -> list[str]:
    """The applied, non-failed migrations a tracking table records, named as the tool records them.

    In the order read (a migration recorded twice, at its first place). Names are migration names
    (prisma, knex, sqlx: `<version>_<description>`, flyway: the script without `.sql`), versions
    (rails, dbmate, goose) or `app.name` (django). Two tools store no list:

    - alembic stores only the applied heads: this returns the heads (what they revise is known
      from the revision files alone);
    - golang-migrate stores only the current version: this returns it alone, or nothing when the
      table is empty or the version is dirty (failed midway).

    Flyway's versions below a baseline have no row of their own and are not listed.

    Args:
        tool: the tool's name (a key of :data:`TOOLS`).
        rows: the tracking table, as :func:`read_tracking` read it.

    Raises:
        ValueError: `tool` is not a known tool.
    """
    return _tool(tool).applied(rows)


# -- the check family ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MigrationsOptions:
    """A `[[migrations]]` entry's own keys.

    Attributes:
        tool: the tool's name (a key of :data:`TOOLS`).
        directory: the migrations folder, resolved against the config file.
        directory_text: the folder as the config writes it, for messages.
        table: the tracking table: `(table,)` or `(schema, table)`.
        app_labels: django: an app's folder -> its label, over what its `apps.py` says.
    """

    tool: str
    directory: Path
    directory_text: str
    table: tuple[str, ...]  # (table,) or (schema, table)
    app_labels: tuple[tuple[str, str], ...] = ()

    @property
    def reader(self) -> Tool[Any]:
        """The tool, set up with the entry's own keys."""
        return Django(dict(self.app_labels)) if self.app_labels else TOOLS[self.tool]

    @property
    def table_text(self) -> str:
        """The tracking table as the config writes it: `ops.migrations_log`."""
        return ".".join(self.table)


@dataclass(frozen=True)
class MigrationsState:
    """What the aspects of one entry share.

    Attributes:
        rows: the tracking table's rows; None when the table does not exist (nothing else is read).
        findings: the folder compared with the rows, when both could be read.
        error: why the folder could not be read or compared; every aspect but `table` fails with it.
    """

    rows: tuple[Row, ...] | None
    findings: Findings | None = None
    error: CheckError | None = None


ASPECTS = ("table", "pending", "missing", "failed", "checksums")


class MigrationsCheck(AspectKind[MigrationsOptions, MigrationsState]):
    """`[[migrations]]`: one entry, up to five aspects of one read of the table and the folder."""

    name = "migrations"
    summary = BUILTIN["migrations"].summary
    uses_database = "required"

    def parse(self, reader: EntryReader) -> MigrationsOptions:
        tool = reader.choice("tool", tuple(TOOLS))
        if tool is None:
            raise reader.error("tool", f"is required (one of {', '.join(TOOLS)})")
        text = reader.required_string("directory")
        directory = reader.path("directory", required=True) or Path(text)
        if not directory.exists():
            where = "" if Path(text).is_absolute() else f" (looked for {directory})"
            raise reader.error("directory", f"folder {text} does not exist{where}")
        if not directory.is_dir():
            raise reader.error("directory", f"{text} is not a folder")
        table_text = reader.string("table", TOOLS[tool].tracking.table)
        table = tuple(table_text.split("."))
        if not 1 <= len(table) <= 2 or not all(part.strip() for part in table):
            raise reader.error("table", f'"{table_text}" is not a table name (write "table" or "schema.table")')
        app_labels = reader.string_table("app_labels")
        if app_labels and tool != "django":
            raise reader.error("app_labels", "is for tool = \"django\" only (an app's folder -> its label)")
        return MigrationsOptions(tool, directory, text, table, tuple(sorted(app_labels.items())))

    def default_name(self, options: MigrationsOptions, entry_index: int, database: str | None) -> str:
        return database or f"migrations{entry_index}"

    def aspects(self, entry: Entry[MigrationsOptions]) -> list[str]:
        tool = TOOLS[entry.options.tool]
        return [a for a in ASPECTS if (a != "failed" or tool.tracking.failures)
                and (a != "checksums" or tool.tracking.checksums)]

    def subject(self, entry: Entry[MigrationsOptions], aspect: str) -> str:
        options = entry.options
        return {
            "table": f"tracking table {options.table_text}",
            "pending": f"migrations in {options.directory_text} applied",
            "missing": f"applied migrations present in {options.directory_text}",
            "failed": f"no failed migration in {options.table_text}",
            "checksums": f"checksums in {options.table_text} match {options.directory_text}",
        }[aspect]

    def compute(self, entry: Entry[MigrationsOptions], ctx: RunContext) -> MigrationsState:
        options = entry.options
        with ctx.database(entry.database or "").session(ctx.timeout) as session:
            tracking = read_tracking(session, options.tool, options.table, database=entry.database)
        if tracking is None:
            return MigrationsState(None)  # the folder is not read: every aspect fails on the table
        try:
            findings = options.reader.findings(options.directory, tracking.rows)
        except CheckError as exc:
            # the table was read: its aspect still passes; the others fail with why
            return MigrationsState(tracking.rows, error=exc)
        return MigrationsState(tracking.rows, findings)

    def judge(self, aspect: str, shared: MigrationsState, target: Target[MigrationsOptions, str],
              ctx: RunContext) -> Result:
        entry = target.entry
        options = entry.options
        where = f"{entry.database} ({options.tool})"
        if shared.rows is None:
            # incident 1: a restore without the tracking table; every item says so, none crashes
            return Result.fail(f"tracking table {options.table_text} is missing in {where}")
        if aspect == "table":
            return Result.ok(f"tracking table {options.table_text} exists in {entry.database}",
                             rows=len(shared.rows))
        if shared.error is not None:
            raise shared.error
        assert shared.findings is not None  # compute sets findings or error once the table is read
        return _ASPECT_RESULTS[aspect](shared.findings, where, ctx.samples)


# -- the aspects' results -----------------------------------------------------------------------


def _listed(verdict_many: str, verdict_one: str, names: Sequence[str], samples: int, **figures: int) -> Result:
    if len(names) == 1:
        return Result.fail(f"{verdict_one}: {names[0]}", (), **figures)
    return Result.fail(verdict_many, names[:samples], **figures)


def _pending(findings: Findings, where: str, samples: int) -> Result:
    figures = {"pending": len(findings.pending), "on_disk": findings.on_disk, "applied": findings.applied}
    if findings.pending_unknown:
        return Result.fail(findings.pending_unknown, (), **figures)
    n = len(findings.pending)
    if not n:
        return Result.ok(f"{plural(findings.on_disk, 'migration')} on disk, all applied", **figures)
    return _listed(f"{plural(n, 'migration')} on disk are not applied to {where}",
                   f"1 migration on disk is not applied to {where}", findings.pending, samples, **figures)


def _missing(findings: Findings, where: str, samples: int) -> Result:
    n = len(findings.missing)
    if not n:
        return Result.ok("every applied migration is on disk", missing=0, applied=findings.applied)
    return _listed(f"{plural(n, 'applied migration')} of {where} are missing on disk",
                   f"1 applied migration of {where} is missing on disk", findings.missing, samples,
                   missing=n, applied=findings.applied)


def _failed(findings: Findings, where: str, samples: int) -> Result:
    n = len(findings.failed)
    if not n:
        return Result.ok("no failed migration", failed=0)
    if n == 1:
        what, note = findings.failed[0]
        return Result.fail(what, [note] if note else [], failed=1)
    return Result.fail(f"{n} migrations failed in {where}",
                       [f"{what}: {note}" if note else what for what, note in findings.failed[:samples]], failed=n)


def _checksums(findings: Findings, where: str, samples: int) -> Result:
    n = len(findings.checksums)
    figures = {"mismatched": n, "checked": findings.checksums_checked}
    if not n:
        return Result.ok(f"{plural(findings.checksums_checked, 'checksum')} match", **figures)
    if n == 1:
        return Result.fail(findings.checksums[0], (), **figures)
    return Result.fail(f"{n} applied migrations of {where} differ from disk (checksums)",
                       findings.checksums[:samples], **figures)


_ASPECT_RESULTS: dict[str, Callable[[Findings, str, int], Result]] = {
    "pending": _pending, "missing": _missing, "failed": _failed, "checksums": _checksums,
}
