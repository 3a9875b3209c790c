"""`[[migrations]]`: the migration tool's tracking table against the migrations folder.

Each tool keeps a tracking table (`_prisma_migrations`, `alembic_version`, ...) and a folder of
migration files. One entry becomes up to five items: the table exists; nothing on disk is pending;
nothing applied is missing on disk; no failed (dirty, half-applied) entry; checksums match, for the
tools that record them. The table is read once and the folder once per entry per process; every
item of the entry shares both (:meth:`RunContext.memo`).

How each tool's state is read mirrors what the tool itself does before it migrates (prisma's
P3009 on a failed migration, flyway's `validate`, golang-migrate's dirty flag, ...), so the gate
fails where `migrate deploy` would, only before the deploy rather than during it.
"""

from __future__ import annotations

import ast
import hashlib
import re
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..api import CheckKind, Entry, Result, RunContext, Target
from ..config import EntryReader
from ..db.catalog import table_exists
from ..errors import CheckError
from ..wording import plural
from . import BUILTIN

# -- checksums, as each tool computes them ------------------------------------------------------


def prisma_checksum(script: bytes) -> str:
    """Prisma's `checksum` column: the SHA-256 of `migration.sql`, in hex."""
    return hashlib.sha256(script).hexdigest()


def _prisma_checksums(script: bytes) -> frozenset[str]:
    """Every checksum Prisma accepts for a script (prisma-engines `script_matches_checksum`).

    Prisma also accepts the script with its line endings swapped (a checkout with `autocrlf`), and
    checksums written by old engines, which dropped the leading zero of each byte's hex.
    """
    lf = script.replace(b"\r\n", b"\n")
    accepted = set()
    for variant in (script, lf, lf.replace(b"\n", b"\r\n")):
        digest = hashlib.sha256(variant).digest()
        accepted.add(digest.hex())
        accepted.add("".join(f"{byte:x}" for byte in digest))
    return frozenset(accepted)


def flyway_checksum(script: bytes) -> int:
    """Flyway's `checksum` column: CRC32 over the script's lines, as a signed 32-bit integer.

    Flyway reads the file line by line (`BufferedReader.readLine`, so `\\n`, `\\r\\n` and `\\r` all
    end a line and none is hashed), drops a byte-order mark, and feeds each line's UTF-8 bytes
    to one CRC32; the Java `int` cast makes it signed.
    """
    text = script.decode("utf-8", errors="replace").removeprefix("\ufeff")
    crc = 0
    for line in re.split(r"\r\n|\r|\n", text):
        crc = zlib.crc32(line.encode("utf-8"), crc)
    return crc - (1 << 32) if crc >= (1 << 31) else crc


def sqlx_checksum(script: bytes) -> bytes:
    """sqlx's `checksum` column: the SHA-384 of the (up) migration file."""
    return hashlib.sha384(script).digest()


def _show_checksum(value: Any) -> str:
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
    """

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


def _unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))


def compare(disk: Sequence[DiskMigration], records: Sequence[Record]) -> Findings:
    """The usual comparison: by key, every applied record against every file."""
    on_disk = {m.key: m for m in disk}
    applied = {r.key: r for r in records if not r.failed}
    findings = Findings(on_disk=len(disk), applied=len(applied))
    findings.pending = [m.name for m in disk if m.key not in applied]
    findings.missing = _unique(r.name for r in applied.values() if r.key not in on_disk)
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
            findings.checksums.append(f"checksum of {migration.name} differs: database {_show_checksum(stored)}, "
                                      f"disk {migration.shown_checksum}")
    return findings


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CheckError(f"cannot read {path}: {exc.strerror or exc}") from None


def _files(directory: Path, pattern: str, *, recursive: bool = False) -> list[Path]:
    found = directory.rglob(pattern) if recursive else directory.glob(pattern)
    return sorted(p for p in found if p.is_file() and "__pycache__" not in p.parts)


def _no_duplicates(migrations: Sequence[DiskMigration], what: str = "version") -> None:
    seen: dict[Any, str] = {}
    for migration in migrations:
        if migration.key in seen:
            raise CheckError(f"two migrations on disk have {what} {migration.key}: "
                             f"{seen[migration.key]} and {migration.name}")
        seen[migration.key] = migration.name


def _first_line(text: Any) -> str:
    for line in str(text or "").splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= 160 else line[:159] + "…"
    return ""


# -- the tools ----------------------------------------------------------------------------------


class Tool:
    """One migration tool: its tracking table, its folder layout and how it reads them."""

    name: ClassVar[str]
    table: ClassVar[str]
    #: the SELECT list and ORDER BY that read the tracking table
    columns: ClassVar[str]
    order: ClassVar[str] = ""
    records_failures: ClassVar[bool] = False
    records_checksums: ClassVar[bool] = False
    #: for the README and messages: what the tool stores
    layout: ClassVar[str] = ""

    def scan(self, directory: Path) -> Any:
        """Read the migrations folder (once per entry per process)."""
        raise NotImplementedError

    def compare(self, disk: Any, rows: Sequence[tuple[Any, ...]]) -> Findings:
        """Compare the folder with the tracking table's rows."""
        raise NotImplementedError


class Prisma(Tool):
    name = "prisma"
    table = "_prisma_migrations"
    columns = ("migration_name, checksum, finished_at IS NOT NULL, rolled_back_at IS NOT NULL, "
               "CASE WHEN finished_at IS NULL THEN logs END")
    order = "ORDER BY started_at, migration_name"
    records_failures = True
    records_checksums = True

    def scan(self, directory: Path) -> list[DiskMigration]:
        migrations = []
        for script in _files(directory, "*/migration.sql"):
            content = _read(script)
            migrations.append(DiskMigration(script.parent.name, script.parent.name, _prisma_checksums(content),
                                            _show_checksum(prisma_checksum(content))))
        return migrations

    def compare(self, disk: list[DiskMigration], rows: Sequence[tuple[Any, ...]]) -> Findings:
        records = []
        for name, checksum, finished, rolled_back, logs in rows:
            if rolled_back:  # `migrate resolve --rolled-back`: neither applied nor failed
                continue
            if not finished:  # P3009: migrate deploy refuses to run while this row exists
                records.append(Record(name, name, failed=True, note=_first_line(logs),
                                      detail=f"migration {name} failed (finished_at NULL, not rolled back)"))
            else:
                records.append(Record(name, name, checksum=checksum))
        return compare(disk, records)


@dataclass(frozen=True)
class AlembicRevision:
    revision: str
    file: str
    down: tuple[str, ...]
    depends: tuple[str, ...]


def _literal(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def _names(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        return tuple(v for v in value if isinstance(v, str))
    return ()


def _module_assignments(path: Path, names: set[str]) -> dict[str, Any]:
    """Top-level `name = <literal>` (or annotated) assignments of a Python file, without running it."""
    try:
        tree = ast.parse(_read(path), filename=str(path))
    except (SyntaxError, ValueError) as exc:
        raise CheckError(f"cannot read {path.name}: {exc}") from None
    values: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in names:
            values[target.id] = _literal(value)
    return values


class Alembic(Tool):
    name = "alembic"
    table = "alembic_version"
    columns = "version_num"

    def scan(self, directory: Path) -> dict[str, AlembicRevision]:
        # `directory` may be the alembic folder (with env.py and versions/) or versions/ itself
        versions = directory / "versions" if (directory / "versions").is_dir() else directory
        revisions: dict[str, AlembicRevision] = {}
        for path in _files(versions, "*.py", recursive=True):
            values = _module_assignments(path, {"revision", "down_revision", "depends_on"})
            revision = values.get("revision")
            if not isinstance(revision, str):
                continue  # not a revision file (a helper module)
            if revision in revisions:
                raise CheckError(f"two files on disk define revision {revision}: "
                                 f"{revisions[revision].file} and {path.name}")
            revisions[revision] = AlembicRevision(revision, path.name, _names(values.get("down_revision")),
                                                  _names(values.get("depends_on")))
        return revisions

    @staticmethod
    def _in_order(revisions: dict[str, AlembicRevision]) -> list[str]:
        """Revisions from base to heads (each after everything it revises)."""
        ordered: list[str] = []
        state: dict[str, int] = {}
        for start in sorted(revisions):
            stack = [(start, False)]
            while stack:
                rev, done = stack.pop()
                if done:
                    state[rev] = 2
                    ordered.append(rev)
                    continue
                if state.get(rev) or rev not in revisions:
                    continue
                state[rev] = 1
                stack.append((rev, True))
                parents = (*revisions[rev].down, *revisions[rev].depends)
                stack.extend((parent, False) for parent in sorted(parents, reverse=True) if not state.get(parent))
        return ordered

    def compare(self, disk: dict[str, AlembicRevision], rows: Sequence[tuple[Any, ...]]) -> Findings:
        heads = [str(row[0]) for row in rows]
        unknown = [head for head in heads if head not in disk]
        applied: set[str] = set()
        stack = [head for head in heads if head in disk]
        while stack:  # everything a recorded head revises is applied
            rev = stack.pop()
            if rev in applied or rev not in disk:
                continue
            applied.add(rev)
            stack.extend((*disk[rev].down, *disk[rev].depends))
        findings = Findings(on_disk=len(disk), applied=len(applied), missing=unknown)
        if unknown:
            findings.pending_unknown = (f"cannot tell which migrations are pending: applied revision "
                                        f"{unknown[0]} is not on disk")
        findings.pending = [f"{rev} ({disk[rev].file})" for rev in self._in_order(disk) if rev not in applied]
        return findings


class Django(Tool):
    name = "django"
    table = "django_migrations"
    columns = "app, name"
    order = "ORDER BY id"
    _skip = frozenset({"node_modules", "site-packages", "venv", ".venv", "__pycache__"})

    def _migration_folders(self, directory: Path) -> list[Path]:
        if directory.name == "migrations":
            return [directory]
        found = []
        for init in directory.rglob("migrations/__init__.py"):
            relative = init.relative_to(directory).parts
            if any(part.startswith(".") or part in self._skip for part in relative):
                continue
            found.append(init.parent)
        return sorted(found)

    def scan(self, directory: Path) -> tuple[list[DiskMigration], frozenset[str], dict[tuple[str, str], tuple[tuple[str, str], ...]]]:
        migrations = []
        replaces: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {}
        for folder in self._migration_folders(directory):
            app = folder.parent.name  # the default app label: the app package's last name
            for path in _files(folder, "*.py"):
                if path.name.startswith(("_", "~")):
                    continue
                key = (app, path.stem)
                migrations.append(DiskMigration(key, f"{app}.{path.stem}"))
                if b"replaces" in _read(path):  # a squashed migration
                    replaced = self._replaces(path)
                    if replaced:
                        replaces[key] = replaced
        _no_duplicates(migrations, "the name")
        apps = frozenset(m.key[0] for m in migrations)
        return sorted(migrations, key=lambda m: m.key), apps, replaces

    @staticmethod
    def _replaces(path: Path) -> tuple[tuple[str, str], ...]:
        try:
            tree = ast.parse(_read(path), filename=str(path))
        except (SyntaxError, ValueError) as exc:
            raise CheckError(f"cannot read {path.name}: {exc}") from None
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and node.name == "Migration":
                for statement in node.body:
                    if (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                            and isinstance(statement.targets[0], ast.Name) and statement.targets[0].id == "replaces"):
                        value = _literal(statement.value)
                        if isinstance(value, list | tuple):
                            return tuple((str(a), str(n)) for a, n in value)
        return ()

    def compare(self, disk: tuple[list[DiskMigration], frozenset[str], dict[tuple[str, str], tuple[tuple[str, str], ...]]],
                rows: Sequence[tuple[Any, ...]]) -> Findings:
        migrations, apps, replaces = disk
        recorded = [(str(app), str(name)) for app, name in rows]
        applied = set(recorded)
        on_disk = {m.key for m in migrations}
        replaced = {pair for pairs in replaces.values() for pair in pairs}
        findings = Findings(on_disk=len(migrations), applied=len(applied & on_disk))
        for migration in migrations:
            # a squashed migration counts as applied once everything it replaces is
            squashed = replaces.get(migration.key)
            if migration.key not in applied and not (squashed and all(pair in applied for pair in squashed)):
                findings.pending.append(migration.name)
        # apps whose migrations live elsewhere (django.contrib, installed packages) are not compared
        findings.missing = _unique(f"{app}.{name}" for app, name in recorded
                                   if app in apps and (app, name) not in on_disk and (app, name) not in replaced)
        return findings


def _flyway_version(text: str) -> tuple[int, ...] | None:
    """Flyway's MigrationVersion: `1_1` and `1.1` are one version, trailing zeros do not count."""
    try:
        parts = [int(part) for part in text.replace("_", ".").split(".")]
    except ValueError:
        return None
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


class Flyway(Tool):
    name = "flyway"
    table = "flyway_schema_history"
    columns = "version, description, type, script, checksum, success"
    order = "ORDER BY installed_rank"
    records_failures = True
    records_checksums = True
    _name = re.compile(r"^(?P<prefix>[VR])(?P<version>[0-9][0-9._]*?)?__(?P<description>.+)\.sql$")

    def scan(self, directory: Path) -> tuple[list[DiskMigration], list[DiskMigration]]:
        versioned: list[DiskMigration] = []
        repeatable: list[DiskMigration] = []
        for path in _files(directory, "*.sql", recursive=True):
            match = self._name.match(path.name)
            if not match:
                continue  # undo (U), baseline (B) or not a migration: Flyway ignores it too
            checksum = flyway_checksum(_read(path))
            if match["prefix"] == "R" and match["version"] is None:
                description = match["description"].replace("_", " ")
                repeatable.append(DiskMigration(description, path.stem, frozenset({checksum}), str(checksum)))
                continue
            version = _flyway_version(match["version"] or "")
            if match["prefix"] == "V" and version is not None:
                versioned.append(DiskMigration(version, path.stem, frozenset({checksum}), str(checksum)))
        versioned.sort(key=lambda m: m.key)
        _no_duplicates(versioned)
        repeatable.sort(key=lambda m: m.key)
        _no_duplicates(repeatable, "the description")
        return versioned, repeatable

    def compare(self, disk: tuple[list[DiskMigration], list[DiskMigration]], rows: Sequence[tuple[Any, ...]]) -> Findings:
        versioned, repeatable = disk
        baseline: tuple[int, ...] = ()
        state: dict[Any, Record] = {}  # the latest row of each version (or repeatable description)
        for version_text, description, kind, script, checksum, success in rows:
            kind = str(kind or "").upper()
            version = _flyway_version(str(version_text)) if version_text is not None else None
            key: Any = version if version is not None else ("R", description)
            if kind == "SCHEMA":
                continue
            if kind in ("BASELINE", "SQL_BASELINE"):  # everything up to a baseline counts as applied
                baseline = max(baseline, version or ())
                continue
            if kind == "DELETE" or (kind.startswith("UNDO") and success):  # `repair` / `undo`: not applied
                state.pop(key, None)
                continue
            name = script or f"{version_text} {description}"
            name = str(name).rsplit("/", 1)[-1].removesuffix(".sql")
            state[key] = Record(key, name, failed=not success, checksum=checksum,
                                detail=f"migration {name} failed (success = false)")
        versioned_state = {k: r for k, r in state.items() if not (isinstance(k, tuple) and k[:1] == ("R",))}
        findings = compare([m for m in versioned if m.key > baseline or m.key in versioned_state],
                           list(versioned_state.values()))
        findings.on_disk = len(versioned) + len(repeatable)
        # repeatable migrations: applied again whenever their checksum changes
        for migration in repeatable:
            record = state.get(("R", migration.key))
            if record is None or record.failed:
                findings.pending.append(migration.name)
            elif record.checksum not in migration.checksums:
                findings.pending.append(f"{migration.name} (changed since it was applied)")
            else:
                findings.applied += 1
        on_disk = {m.key for m in repeatable}
        for key, record in state.items():
            if isinstance(key, tuple) and key[:1] == ("R",):
                if record.failed:
                    findings.failed.append((record.detail, ""))
                elif key[1] not in on_disk:
                    findings.missing.append(record.name)
        return findings


class GolangMigrate(Tool):
    name = "golang-migrate"
    table = "schema_migrations"
    columns = "version, dirty"
    order = "ORDER BY version DESC"
    records_failures = True
    _name = re.compile(r"^([0-9]+)_(.*)\.(up|down)\.(.*)$")

    def scan(self, directory: Path) -> tuple[list[DiskMigration], frozenset[int]]:
        ups = []
        versions = set()
        for path in _files(directory, "*"):
            match = self._name.match(path.name)
            if not match:
                continue
            versions.add(int(match[1]))
            if match[3] == "up":
                ups.append(DiskMigration(int(match[1]), f"{match[1]}_{match[2]}"))
        ups.sort(key=lambda m: m.key)
        _no_duplicates(ups)
        return ups, frozenset(versions)

    def compare(self, disk: tuple[list[DiskMigration], frozenset[int]], rows: Sequence[tuple[Any, ...]]) -> Findings:
        ups, versions = disk
        if not rows:  # nothing migrated yet
            return Findings(on_disk=len(ups), applied=0, pending=[m.name for m in ups])
        # only the current version is stored: everything up to it counts as applied
        current, dirty = int(rows[0][0]), bool(rows[0][1])
        names = {m.key: m.name for m in ups}
        findings = Findings(on_disk=len(ups), applied=sum(1 for m in ups if m.key <= current),
                            pending=[m.name for m in ups if m.key > current])
        if current not in versions:
            findings.missing = [str(current)]
        if dirty:
            findings.failed = [(f"migration {names.get(current, current)} is dirty (it failed midway)",
                                f"fix the database by hand, then `migrate force {current}`")]
        return findings


class _VersionFiles(Tool):
    """Tools whose table holds one row per applied migration, keyed by the file's version or name."""

    pattern: ClassVar[re.Pattern[str]]
    recursive: ClassVar[bool] = False
    glob: ClassVar[str] = "*"
    #: messages name a migration by its file name with (knex) or without its suffix
    keep_suffix: ClassVar[bool] = False

    def key(self, match: re.Match[str], path: Path) -> Any:
        return int(match[1])

    def row_key(self, value: Any) -> Any:
        return int(value)

    def scan(self, directory: Path) -> list[DiskMigration]:
        migrations = []
        for path in _files(directory, self.glob, recursive=self.recursive):
            match = self.pattern.match(path.name)
            if match:
                migrations.append(DiskMigration(self.key(match, path), path.name if self.keep_suffix else path.stem))
        migrations.sort(key=lambda m: m.key)
        _no_duplicates(migrations)
        return migrations

    def records(self, rows: Sequence[tuple[Any, ...]]) -> list[Record]:
        return [Record(self.row_key(row[0]), str(row[0])) for row in rows]

    def compare(self, disk: list[DiskMigration], rows: Sequence[tuple[Any, ...]]) -> Findings:
        return compare(disk, self.records(rows))


class Rails(_VersionFiles):
    name = "rails"
    table = "schema_migrations"
    columns = "version"
    order = "ORDER BY version"
    # ActiveRecord::Migrator: db/migrate/**/[0-9]*_*.rb, `<version>_<name>[.<scope>].rb`
    pattern = re.compile(r"^([0-9]+)_([_a-z0-9]*)\.?([_a-z0-9]*)?\.rb$")
    recursive = True
    glob = "*.rb"


class Dbmate(_VersionFiles):
    name = "dbmate"
    table = "schema_migrations"
    columns = "version"
    order = "ORDER BY version"
    pattern = re.compile(r"^([0-9]+)_.*\.sql$")
    glob = "*.sql"

    def key(self, match: re.Match[str], path: Path) -> Any:
        return match[1]  # dbmate stores the version as text, leading zeros and all

    def row_key(self, value: Any) -> Any:
        return str(value)


class Knex(_VersionFiles):
    name = "knex"
    table = "knex_migrations"
    columns = "name"
    order = "ORDER BY id"
    # knex's default loadExtensions (plus .mjs/.cjs/.mts/.cts, which newer knex loads)
    pattern = re.compile(r"^[^.].*\.(co|coffee|eg|iced|js|cjs|mjs|litcoffee|ls|ts|cts|mts)$")
    keep_suffix = True

    def key(self, match: re.Match[str], path: Path) -> Any:
        return path.name  # knex records the file name, extension included

    def row_key(self, value: Any) -> Any:
        return str(value)


class Goose(_VersionFiles):
    name = "goose"
    table = "goose_db_version"
    columns = "version_id, is_applied"
    order = "ORDER BY id"
    pattern = re.compile(r"^([0-9]+)_.*(?<!_test)\.(sql|go)$")

    def records(self, rows: Sequence[tuple[Any, ...]]) -> list[Record]:
        latest: dict[int, bool] = {}
        for version, is_applied in rows:  # the latest row of a version decides (old goose: is_applied = false on down)
            latest[int(version)] = bool(is_applied)
        return [Record(version, str(version)) for version, on in latest.items() if on and version != 0]


class Sqlx(Tool):
    name = "sqlx"
    table = "_sqlx_migrations"
    columns = "version, description, success, checksum"
    order = "ORDER BY version"
    records_failures = True
    records_checksums = True
    _name = re.compile(r"^([0-9]+)_(.+?)(\.up)?\.sql$")

    def scan(self, directory: Path) -> list[DiskMigration]:
        migrations = []
        for path in _files(directory, "*.sql"):
            if path.name.endswith(".down.sql"):
                continue
            match = self._name.match(path.name)
            if match:
                digest = sqlx_checksum(_read(path))
                migrations.append(DiskMigration(int(match[1]), path.name.removesuffix(".sql").removesuffix(".up"),
                                                frozenset({digest}), _show_checksum(digest)))
        migrations.sort(key=lambda m: m.key)
        _no_duplicates(migrations)
        return migrations

    def compare(self, disk: list[DiskMigration], rows: Sequence[tuple[Any, ...]]) -> Findings:
        names = {m.key: m.name for m in disk}
        records = []
        for version, description, success, checksum in rows:
            name = names.get(int(version), f"{version}_{str(description).replace(' ', '_')}")
            records.append(Record(int(version), name, failed=not success,
                                  checksum=bytes(checksum) if checksum is not None else None,
                                  detail=f"migration {name} is partially applied (success = false)"))
        return compare(disk, records)


TOOLS: dict[str, Tool] = {tool.name: tool for tool in (
    Alembic(), Dbmate(), Django(), Flyway(), GolangMigrate(), Goose(), Knex(), Prisma(), Rails(), Sqlx())}


# -- the check family ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MigrationsOptions:
    tool: str
    directory: Path
    directory_text: str
    table: tuple[str, ...]  # (table,) or (schema, table)

    @property
    def table_text(self) -> str:
        return ".".join(self.table)


@dataclass(frozen=True)
class Tracking:
    """The tracking table as read: None rows when it does not exist."""

    rows: list[tuple[Any, ...]] | None


ASPECTS = ("table", "pending", "missing", "failed", "checksums")


class MigrationsCheck(CheckKind):
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
        table_text = reader.string("table", TOOLS[tool].table)
        table = tuple(table_text.split("."))
        if not 1 <= len(table) <= 2 or not all(part.strip() for part in table):
            raise reader.error("table", f'"{table_text}" is not a table name (write "table" or "schema.table")')
        return MigrationsOptions(tool, directory, text, table)

    def default_name(self, options: MigrationsOptions, entry_index: int, database: str | None) -> str:
        return database or f"migrations{entry_index}"

    def expand(self, entry: Entry) -> list[Target]:
        options: MigrationsOptions = entry.options
        tool = TOOLS[options.tool]
        aspects = [a for a in ASPECTS if (a != "failed" or tool.records_failures)
                   and (a != "checksums" or tool.records_checksums)]
        subjects = {
            "table": f"tracking table {options.table_text}",
            "pending": f"migrations in {options.directory_text} applied",
            "missing": f"applied migrations present in {options.directory_text}",
            "failed": f"no failed migration in {options.table_text}",
            "checksums": f"checksums in {options.table_text} match {options.directory_text}",
        }
        return [Target(entry, suffix=f":{aspect}", subject=subjects[aspect], payload=aspect) for aspect in aspects]

    # -- reading, once per entry per process --------------------------------------------------
    def _tracking(self, entry: Entry, ctx: RunContext) -> Tracking:
        options: MigrationsOptions = entry.options
        tool = TOOLS[options.tool]
        with ctx.database(entry.database or "").session(ctx.timeout) as session:
            table = session.ident(*options.table)
            if not table_exists(session, options.table):
                return Tracking(None)
            try:
                rows = session.query(f"SELECT {tool.columns} FROM {table} {tool.order}").rows
            except CheckError as exc:
                raise CheckError(f"cannot read tracking table {options.table_text} in {entry.database} "
                                 f"({tool.name}): {exc}") from None
        return Tracking(rows)

    def _findings(self, entry: Entry, rows: list[tuple[Any, ...]], ctx: RunContext) -> Findings:
        options: MigrationsOptions = entry.options
        tool = TOOLS[options.tool]
        key = (self.name, str(entry.source), entry.name)
        disk = ctx.memo((*key, "disk"), lambda: tool.scan(options.directory))
        return ctx.memo((*key, "findings"), lambda: tool.compare(disk, rows))

    def run(self, target: Target, ctx: RunContext) -> Result:
        entry = target.entry
        options: MigrationsOptions = entry.options
        aspect: str = target.payload
        where = f"{entry.database} ({options.tool})"
        key = (self.name, str(entry.source), entry.name)
        tracking = ctx.memo((*key, "table"), lambda: self._tracking(entry, ctx))
        if tracking.rows is None:
            # incident 1: a restore without the tracking table; every item says so, none crashes
            return Result.fail(f"tracking table {options.table_text} is missing in {where}")
        if aspect == "table":
            return Result.ok(f"tracking table {options.table_text} exists in {entry.database}",
                             rows=len(tracking.rows))
        findings = self._findings(entry, tracking.rows, ctx)
        return _ASPECT_RESULTS[aspect](findings, where, ctx.samples)


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
