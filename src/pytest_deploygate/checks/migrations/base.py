"""What every migration tool shares: the two sides to compare, the usual comparison, file helpers.

A tool (:class:`Tool`) reads its migrations folder into a value of its own type (a list of
:class:`DiskMigration`, alembic's revision graph, ...), understands its tracking table's rows
(often as :class:`Record` s) and compares the two into :class:`Findings`, which the aspects of
`[[migrations]]` judge.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from ...errors import CheckError

#: one row of a tracking table, as the tool's SELECT list reads it (database values of any type)
Row = tuple[Any, ...]
#: what a tool's :meth:`Tool.scan` returns: the folder, read its own way
DiskT = TypeVar("DiskT")


def show_checksum(value: Any) -> str:
    """A checksum as messages show it: hex for bytes, the first 8 characters of a long one.

    Args:
        value: the checksum as stored (text, an integer, bytes).
    """
    if isinstance(value, bytes | bytearray | memoryview):
        value = bytes(value).hex()
    text = str(value)
    return text[:8] + "…" if len(text) > 12 else text


# -- what each side holds -------------------------------------------------------------------


@dataclass(frozen=True)
class DiskMigration:
    """One migration file (or folder) on disk.

    Attributes:
        key: what the tracking table records for it (a name, a version), normalised to compare.
        name: how messages show it (the file or folder name, without the suffix).
        checksums: the checksums the tool would accept for it (empty: the tool records none).
        shown_checksum: its checksum as messages show it (see :func:`show_checksum`).
    """

    # Any: a key is a name, a version number, a version tuple or an (app, name) pair, by tool
    key: Any
    name: str
    checksums: frozenset[Any] = frozenset()
    shown_checksum: str = ""


@dataclass(frozen=True)
class Record:
    """One entry of the tracking table, as the tool understands it.

    Attributes:
        key: as :attr:`DiskMigration.key`.
        name: how messages show it.
        failed: a failed, dirty or half-applied entry (not applied).
        checksum: the recorded checksum, or None.
        note: for a failed entry, what the tool logged (first line), else "".
        detail: for a failed entry, how it failed.
    """

    key: Any
    name: str
    failed: bool = False
    checksum: Any = None
    note: str = ""
    detail: str = ""


@dataclass
class Findings:
    """The comparison of one entry: what each of its items reports."""

    on_disk: int
    applied: int
    pending: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (what failed, the tool's note)
    checksums: list[str] = field(default_factory=list)
    checksums_checked: int = 0
    pending_unknown: str = ""  # why pending cannot be decided (alembic, an unknown applied head)


def unique(names: Iterable[str]) -> list[str]:
    """`names` without repeats, in their first order."""
    return list(dict.fromkeys(names))


def compare(disk: Sequence[DiskMigration], records: Sequence[Record]) -> Findings:
    """The usual comparison: by key, every applied record against every file.

    Args:
        disk: the migrations on disk.
        records: the tracking table's entries, failed ones included.
    """
    on_disk = {m.key: m for m in disk}
    applied = {r.key: r for r in records if not r.failed}
    findings = Findings(on_disk=len(disk), applied=len(applied))
    findings.pending = [m.name for m in disk if m.key not in applied]
    findings.missing = unique(r.name for r in applied.values() if r.key not in on_disk)
    findings.failed = [(r.detail or f"migration {r.name} failed", r.note) for r in records if r.failed]
    for key, record in applied.items():
        migration = on_disk.get(key)
        if migration is None or record.checksum is None or not migration.checksums:
            continue
        findings.checksums_checked += 1
        stored = bytes(record.checksum) if isinstance(record.checksum, memoryview | bytearray) else record.checksum
        if isinstance(stored, str):
            stored = stored.lower()
        if stored not in migration.checksums:
            findings.checksums.append(f"checksum of {migration.name} differs: database {show_checksum(stored)}, "
                                      f"disk {migration.shown_checksum}")
    return findings


# -- reading the folder -------------------------------------------------------------------------


def read(path: Path) -> bytes:
    """The bytes of `path`; CheckError naming it when it cannot be read."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CheckError(f"cannot read {path}: {exc.strerror or exc}") from None


def files(directory: Path, pattern: str, *, recursive: bool = False) -> list[Path]:
    """The files in `directory` matching `pattern`, sorted, `__pycache__` left out.

    Args:
        directory: the folder to look in.
        pattern: a glob pattern (`*.sql`, `*/migration.sql`).
        recursive: look in every subfolder too.
    """
    found = directory.rglob(pattern) if recursive else directory.glob(pattern)
    return sorted(p for p in found if p.is_file() and "__pycache__" not in p.parts)


def no_duplicates(migrations: Sequence[DiskMigration], what: str = "version") -> None:
    """CheckError when two migrations on disk have one key: the tool would refuse to run.

    Args:
        migrations: the migrations on disk.
        what: what the key is, for the message (`version`, `the name`).
    """
    seen: dict[Any, str] = {}
    for migration in migrations:
        if migration.key in seen:
            raise CheckError(f"two migrations on disk have {what} {migration.key}: "
                             f"{seen[migration.key]} and {migration.name}")
        seen[migration.key] = migration.name


def first_line(text: Any) -> str:
    """The first non-blank line of `text` (a tool's log), stripped and cut to 160 characters."""
    for line in str(text or "").splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= 160 else line[:159] + "…"
    return ""


# -- reading Python migration files without running them ----------------------------------------


def literal(node: ast.expr) -> Any:
    """The value of a literal expression, else None (a call, a name: nothing is evaluated)."""
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def names(value: Any) -> tuple[str, ...]:
    """A name or a list of names (alembic's `down_revision`, `depends_on`) as a tuple of names."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        return tuple(v for v in value if isinstance(v, str))
    return ()


def parse_python(path: Path) -> ast.Module:
    """The syntax tree of a Python file; CheckError naming the file when it does not parse."""
    try:
        return ast.parse(read(path), filename=str(path))
    except (SyntaxError, ValueError) as exc:
        raise CheckError(f"cannot read {path.name}: {exc}") from None


def module_assignments(path: Path, wanted: set[str]) -> dict[str, Any]:
    """Top-level `name = <literal>` (or annotated) assignments of a Python file, without running it.

    Args:
        path: the Python file.
        wanted: the names to read; a name assigned something else than a literal reads as None.
    """
    values: dict[str, Any] = {}
    for node in parse_python(path).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in wanted:
            values[target.id] = literal(value)
    return values


# -- the tools ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrackingSpec:
    """A tool's tracking table and how it is read.

    Attributes:
        table: its default name.
        columns: the SELECT list that reads it.
        order: the ORDER BY that reads it (or "").
        failures: whether it marks failed (dirty, half-applied) migrations.
        checksums: whether it stores each migration's checksum.
    """

    table: str
    columns: str
    order: str = ""
    failures: bool = False
    checksums: bool = False


class Tool(Generic[DiskT]):
    """One migration tool: its tracking table, its folder layout and how it reads them.

    Subclass it as `Tool[WhatScanReturns]`, set `name` and `tracking`, implement :meth:`scan`,
    :meth:`compare` and either :meth:`records` (one row per migration) or :meth:`applied`.

    Attributes:
        name: the tool's name, as the config's `tool` key gives it.
        tracking: its tracking table and how it is read.
    """

    name: ClassVar[str]
    tracking: ClassVar[TrackingSpec]

    def scan(self, directory: Path) -> DiskT:
        """Read the migrations folder (once per entry per process).

        Args:
            directory: the folder the config's `directory` names.
        """
        raise NotImplementedError

    def compare(self, disk: DiskT, rows: Sequence[Row]) -> Findings:
        """Compare the folder with the tracking table's rows.

        Args:
            disk: what :meth:`scan` read.
            rows: the tracking table, read as :attr:`tracking` says.
        """
        raise NotImplementedError

    def records(self, rows: Sequence[Row]) -> list[Record]:
        """The tracking table's rows as the tool understands them (tools with a row per migration).

        Args:
            rows: the tracking table, read as :attr:`tracking` says.
        """
        raise NotImplementedError

    def applied(self, rows: Sequence[Row]) -> list[str]:
        """The applied, non-failed migrations the rows record, by name, in the order read.

        Args:
            rows: the tracking table, read as :attr:`tracking` says.
        """
        return unique(record.name for record in self.records(rows) if not record.failed)

    def findings(self, directory: Path, rows: Sequence[Row]) -> Findings:
        """Scan `directory` and compare it with `rows`: what the aspects of an entry judge.

        Args:
            directory: the migrations folder.
            rows: the tracking table, read as :attr:`tracking` says.
        """
        return self.compare(self.scan(directory), rows)
