"""`[[backup]]`: the newest backup is there, fresh, whole, consistent, and restorable.

Incident 3's root cause: the database and the uploads were restored from backups taken at
different times. One entry reads the newest backup a glob finds (its manifest: the teams'
`manifest.json` or ours, `deploygate-manifest.json`) once per process, and each item proves one
thing of it: present, fresh, complete, consistent (the files copied after the database snapshot and
within `max_skew` of it), checksums (every file re-hashed), dump (a whole, readable dump), schema
(the schema file's hash), migrations (nothing applied live that the backup lacks) and references
(every file the dump's table names is in the backup).
"""

from __future__ import annotations

import csv
import datetime as dt
import glob
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...api import AspectKind, Entry, Result, RunContext, Target
from ...config import EntryReader
from ...errors import CheckError
from ...wording import age, count, format_duration, plural
from .. import BUILTIN
from ..migrations import TOOLS, applied_migrations, read_tracking
from ..paths import PathReader, shown, walk
from .dump import (
    dump_format,
    pg_restore,
    plain_is_whole,
    read_header,
    read_whole,
    sqlite_check,
    sqlite_rows,
    table_rows,
)
from .manifest import (
    Backup,
    count_csv_rows,
    files_under,
    hash_all,
    read_fixity,
    read_manifest,
    sha256_of,
)

ASPECTS = ("present", "fresh", "complete", "consistent", "checksums", "dump", "schema", "migrations", "references")


@dataclass(frozen=True)
class References:
    """`references = { table = "ad_images", column = "file_path", root = "uploads" }`."""

    table: str
    column: str
    root: str
    strip_prefix: tuple[str, ...]


@dataclass(frozen=True)
class BackupOptions:
    """A `[[backup]]` entry's own keys.

    Attributes:
        manifest: the manifest path or glob, as written.
        pattern: it, absolute.
        max_age, max_skew: seconds, or None (no `fresh` / `consistent` item).
        schema_file: the schema file whose hash the backup records (no `schema` item without it).
        verify: "structure" (fast) or "fixity" (every file re-hashed, the whole dump read).
        tool: the migration tool whose tracking table the backup copied (`migrations` item).
        references: the table of file paths to find in the backup's files.
    """

    manifest: str
    pattern: str
    max_age: float | None
    max_skew: float | None
    schema_file: Path | None
    verify: str
    tool: str
    references: References | None


@dataclass(frozen=True)
class BackupState:
    """The newest backup, or why there is none to check."""

    backup: Backup | None
    problem: str = ""
    candidates: int = 0


class BackupCheck(AspectKind[BackupOptions, BackupState]):
    """`[[backup]]`: up to nine aspects of one read of the newest backup's manifest."""

    name = "backup"
    summary = BUILTIN["backup"].summary
    uses_database = "optional"

    def parse(self, reader: EntryReader) -> BackupOptions:
        text = reader.required_string("manifest")
        pattern = text if Path(text).is_absolute() else str(reader.base_dir / text)
        schema_file = reader.path("schema_file")
        if schema_file is not None and not schema_file.is_file():
            raise reader.error("schema_file", f"file {schema_file} does not exist")
        tool = reader.choice("tool", tuple(TOOLS), "prisma")
        refs = reader.table("references")
        references = None
        if refs is not None:
            table = refs.required_string("table", interpolate=False)
            column = refs.required_string("column", interpolate=False)
            root = refs.required_string("root", interpolate=False).strip("/")
            if not root or ".." in Path(root).parts:
                raise refs.error("root", f'"{root}" must name a folder inside the backup ("uploads")')
            strip = refs.one_or_more("strip_prefix") or (f"/{root}/", f"{root}/")
            refs.unknown_keys()
            references = References(table, column, root, strip)
        return BackupOptions(
            manifest=text, pattern=pattern, max_age=reader.duration("max_age"), max_skew=reader.duration("max_skew"),
            schema_file=schema_file, verify=reader.choice("verify", ("structure", "fixity"), "structure"),
            tool=tool, references=references)

    def default_name(self, options: BackupOptions, entry_index: int, database: str | None) -> str:
        # /backups/marketplace/*/manifest.json -> marketplace: the folder before the first wildcard
        parts = Path(options.manifest).parts
        cut = next((i for i, part in enumerate(parts) if any(c in part for c in "*?[")), len(parts) - 1)
        name = parts[cut - 1] if cut > 0 else ""
        return name.strip("/") or f"backup{entry_index}"

    def aspects(self, entry: Entry[BackupOptions]) -> list[str]:
        options = entry.options
        wanted = {"present", "complete", "dump", "consistent"}
        wanted |= {"fresh"} if options.max_age is not None else set()
        wanted |= {"checksums"} if options.verify == "fixity" else set()
        wanted |= {"schema"} if options.schema_file is not None else set()
        wanted |= {"migrations"} if entry.database is not None else set()
        wanted |= {"references"} if options.references is not None else set()
        if options.max_skew is None:
            wanted.discard("consistent")
        return [a for a in ASPECTS if a in wanted]

    def subject(self, entry: Entry[BackupOptions], aspect: str) -> str:
        return f"{aspect} of the newest backup matching {entry.options.manifest}"

    # -- the shared read ------------------------------------------------------------------------

    def compute(self, entry: Entry[BackupOptions], ctx: RunContext) -> BackupState:
        matches = sorted(glob.glob(entry.options.pattern))
        if not matches:
            return BackupState(None, f"no backup matches {entry.options.manifest}")
        # the newest: timestamped folders (20251210_090000) sort by time
        newest = Path(matches[-1])
        try:
            return BackupState(read_manifest(newest), candidates=len(matches))
        except CheckError as exc:
            return BackupState(None, f"backup {newest.parent.name}: {exc}", len(matches))

    def judge(self, aspect: str, shared: BackupState, target: Target[BackupOptions, str], ctx: RunContext) -> Result:
        backup = shared.backup
        if backup is None:
            return Result.fail(shared.problem) if aspect == "present" else Result.error(shared.problem)
        options = target.entry.options
        method = getattr(self, f"_{aspect}")
        result: Result = method(backup, options, target.entry, ctx)
        return result

    # -- the items ------------------------------------------------------------------------------

    @staticmethod
    def _name(backup: Backup) -> str:
        return backup.folder.name

    def _present(self, backup: Backup, options: BackupOptions, entry: Entry[BackupOptions], ctx: RunContext) -> Result:
        parts = [plural(len(backup.dumps), "dump"), plural(len(backup.files), "folder") + " of files"]
        if backup.migrations:
            parts.append("migrations")
        return Result.ok(f"backup {self._name(backup)} ({backup.kind} manifest): {', '.join(parts)}")

    def _fresh(self, backup: Backup, options: BackupOptions, entry: Entry[BackupOptions], ctx: RunContext) -> Result:
        # the database's snapshot is the backup's age when the manifest records it (the manifest
        # itself may be written later); else the time the manifest records
        snapshots = [d.snapshot_at for d in backup.dumps if d.snapshot_at is not None]
        taken = min(snapshots) if snapshots else backup.created_at
        seconds = (dt.datetime.now(dt.UTC) - taken).total_seconds()
        limit = options.max_age or 0.0
        figures = {"age_seconds": int(seconds)}
        if seconds > limit:
            return Result.fail(f"backup {self._name(backup)} is {_age(seconds)} old (max {format_duration(limit)})",
                               (), **figures)
        if seconds < -300:
            return Result.fail(f"backup {self._name(backup)} is dated {age(-seconds)} in the future "
                               f"({taken.isoformat()}): a clock or a timestamp is wrong", (), **figures)
        return Result.ok(f"backup {self._name(backup)} is {_age(max(0.0, seconds))} old (max {format_duration(limit)})",
                         **figures)

    def _complete(self, backup: Backup, options: BackupOptions, entry: Entry[BackupOptions], ctx: RunContext) -> Result:
        problems: list[str] = []
        folder = backup.folder
        for dump in backup.dumps:
            path = backup.path(dump.path)
            if not path.is_file():
                problems.append(f"dump {dump.path} is missing")
                continue
            stat = path.stat()
            size = stat.st_size
            if dump.size is not None and size != dump.size:
                problems.append(f"dump {dump.path} is {plural(size, 'byte')}, the manifest says {count(dump.size)}")
            elif dump.size_text is not None and not (_size_matches(size, dump.size_text)
                                                     or _size_matches(stat.st_blocks * 512, dump.size_text)):
                # `du -h` counts the blocks a file takes, `du -h --apparent-size` its bytes: either
                problems.append(f"dump {dump.path} is {_human(size)}, the manifest says {dump.size_text}")
        for files in backup.files:
            root = backup.path(files.root)
            if not root.is_dir():
                problems.append(f"folder {files.root} is missing")
                continue
            listed = list(files_under(root))
            ctx.check_deadline(f"counting {files.root}")
            if files.count is not None and len(listed) != files.count:
                problems.append(f"{files.root} holds {plural(len(listed), 'file')}, the manifest says {count(files.count)}")
            if files.bytes is not None:
                total = sum(p.stat().st_size for _, p in listed)
                if total != files.bytes:
                    problems.append(f"{files.root} holds {plural(total, 'byte')}, the manifest says {count(files.bytes)}")
            if files.fixity and not (folder / files.fixity).is_file():
                problems.append(f"fixity file {files.fixity} is missing")
        for migrations in backup.migrations:
            path = backup.path(migrations.path)
            if not path.is_file():
                problems.append(f"migrations {migrations.path} is missing")
            elif migrations.count is not None and (rows := count_csv_rows(path)) != migrations.count:
                problems.append(f"migrations {migrations.path} holds {plural(rows, 'row')}, "
                                f"the manifest says {count(migrations.count)}")
        if problems:
            return Result.fail(f"backup {self._name(backup)} is incomplete: {problems[0]}"
                               + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
                               problems[1:ctx.samples + 1], problems=len(problems))
        return Result.ok(f"backup {self._name(backup)} has every component its manifest lists", problems=0)

    def _consistent(self, backup: Backup, options: BackupOptions, entry: Entry[BackupOptions], ctx: RunContext) -> Result:
        skew = options.max_skew or 0.0
        snapshots = [(d.path, d.snapshot_at) for d in backup.dumps if d.snapshot_at is not None]
        windows = [f for f in backup.files if f.copy_started_at and f.copy_finished_at]
        if backup.kind == "team":
            return Result.skip("the manifest records no copy window of the files: write deploygate-manifest.json "
                               "(`deploygate manifest BACKUP_DIR`) to have the backup's consistency proven")
        if not snapshots:
            return Result.skip("no dump of the backup records when it was taken (a plain SQL dump does not): "
                               "dump with pg_dump -F c to have the backup's consistency proven")
        if not windows:
            return Result.skip("the manifest records no copy window of the files "
                               "(deploygate manifest --copy-started ... --copy-finished ...)")
        problems = []
        worst = 0.0
        for dump_path, snapshot in snapshots:
            for files in windows:
                assert files.copy_started_at is not None  # windows holds only copies with both
                assert files.copy_finished_at is not None
                if files.copy_started_at < snapshot:
                    problems.append(f"{files.root} was copied from {files.copy_started_at:%H:%M:%S}, before the "
                                    f"database snapshot of {dump_path} at {snapshot:%H:%M:%S}: the files are older "
                                    "than the database that names them")
                spread = (files.copy_finished_at - snapshot).total_seconds()
                worst = max(worst, spread)
                if spread > skew:
                    problems.append(f"{files.root} finished copying {age(spread)} after the database snapshot of "
                                    f"{dump_path} (max {format_duration(skew)})")
        if problems:
            return Result.fail(f"backup {self._name(backup)} is not consistent: {problems[0]}", problems[1:],
                               skew_seconds=int(worst))
        return Result.ok(f"files copied within {age(worst)} after the database snapshot (max {format_duration(skew)})",
                         skew_seconds=int(worst))

    def _checksums(self, backup: Backup, options: BackupOptions, entry: Entry[BackupOptions], ctx: RunContext) -> Result:
        problems: list[str] = []
        checked = 0
        recorded_files = [(f"dump {d.path}", d.path, d.sha256) for d in backup.dumps] + \
            [(f"migrations {m.path}", m.path, m.sha256) for m in backup.migrations]
        for what, relative, digest in recorded_files:
            if digest and backup.path(relative).is_file():
                checked += 1
                if sha256_of(backup.path(relative)) != digest:
                    problems.append(f"{what} differs from its recorded sha256")
        for files in backup.files:
            if not files.fixity:
                continue
            recorded = read_fixity(backup.path(files.fixity))
            listed = dict(files_under(backup.path(files.root)))
            names = sorted(set(recorded) & set(listed))
            digests = hash_all([listed[n] for n in names], progress=lambda: ctx.check_deadline("hashing the backup"))
            checked += len(names)
            problems += [f"{files.root}/{shown(n)} differs from its recorded sha256"
                         for n, d in zip(names, digests, strict=True) if d != recorded[n]]
            problems += [f"{files.root}/{shown(n)} is missing" for n in sorted(set(recorded) - set(listed))]
            problems += [f"{files.root}/{shown(n)} is not in the fixity manifest" for n in sorted(set(listed) - set(recorded))]
        if not checked and not problems:
            return Result.skip("the manifest records no checksums (a team's manifest.json): write "
                               "deploygate-manifest.json to have every file re-hashed")
        if problems:
            return Result.fail(f"{plural(len(problems), 'file')} of backup {self._name(backup)} "
                               f"{'does' if len(problems) == 1 else 'do'} not match the manifest: {problems[0]}",
                               problems[1:ctx.samples + 1], checked=checked, mismatched=len(problems))
        return Result.ok(f"{plural(checked, 'file')} match their recorded sha256", checked=checked, mismatched=0)

    def _dump(self, backup: Backup, options: BackupOptions, entry: Entry[BackupOptions], ctx: RunContext) -> Result:
        notes = []
        for dump in backup.dumps:
            path = backup.path(dump.path)
            if not path.is_file():
                raise CheckError(f"dump {dump.path} is missing")
            kind = dump_format(path)
            if kind == "custom":
                header = read_header(path)
                read = ""
                if options.verify == "fixity":
                    if pg_restore() is None:
                        read = ", not read to its end: no pg_restore on PATH"
                    else:
                        complaint = read_whole(path, ctx.remaining() or 600)
                        if complaint:
                            return Result.fail(f"dump {dump.path} cannot be read to its end: {complaint}")
                        read = ", read to its end"
                notes.append(f"{dump.path}: pg_dump {header.dump_version} of {header.database}, archive "
                             f"{header.version[0]}.{header.version[1]}{read}")
            elif kind == "sqlite":
                complaint = sqlite_check(path, full=options.verify == "fixity")
                if complaint:
                    return Result.fail(f"SQLite copy {dump.path} is damaged: {complaint}")
                notes.append(f"{dump.path}: a SQLite copy, "
                             + ("integrity_check ok" if options.verify == "fixity" else "quick_check ok"))
            elif kind in ("plain", "plain-gz"):
                if not plain_is_whole(path):
                    return Result.fail(f"dump {dump.path} ends without pg_dump's completion line "
                                       "(-- PostgreSQL database dump complete): it was cut short")
                notes.append(f"{dump.path}: plain SQL, complete")
            elif kind == "tar":
                return Result.fail(f"dump {dump.path} is a tar archive (pg_dump -F t), which this reads not: "
                                   "dump with -F c (or plain SQL)")
            else:
                return Result.fail(f"dump {dump.path} is not a pg_dump archive or SQL dump")
        if not notes:
            return Result.fail(f"backup {self._name(backup)} lists no dump")
        return Result.ok("; ".join(notes))

    def _schema(self, backup: Backup, options: BackupOptions, entry: Entry[BackupOptions], ctx: RunContext) -> Result:
        assert options.schema_file is not None  # the aspect exists only with it
        if backup.schema_hash is None:
            return Result.fail(f"backup {self._name(backup)} records no schema hash to compare {options.schema_file.name} with")
        live = sha256_of(options.schema_file)
        if live != backup.schema_hash.value:
            return Result.fail(f"{options.schema_file.name} has changed since backup {self._name(backup)}: sha256 "
                               f"{live[:12]}…, the backup recorded {backup.schema_hash.value[:12]}…")
        return Result.ok(f"{options.schema_file.name} is as backup {self._name(backup)} recorded it")

    def _migrations(self, backup: Backup, options: BackupOptions, entry: Entry[BackupOptions], ctx: RunContext) -> Result:
        if not backup.migrations:
            return Result.fail(f"backup {self._name(backup)} holds no copy of the migrations table")
        in_backup: set[str] = set()
        for copy in backup.migrations:
            in_backup.update(_applied_in_csv(options.tool, backup.path(copy.path)))
        with ctx.database(entry.database or "").session(ctx.timeout) as session:
            tracking = read_tracking(session, options.tool, database=entry.database)
        if tracking is None:
            raise CheckError(f"tracking table {TOOLS[options.tool].tracking.table} is missing in {entry.database}")
        live = tracking.applied
        newer = [name for name in live if name not in in_backup]
        if newer:
            return Result.fail(f"{plural(len(newer), 'migration')} applied to {entry.database} "
                               f"{'is' if len(newer) == 1 else 'are'} not in backup {self._name(backup)}: a restore "
                               "would roll the schema back", newer[:ctx.samples], newer=len(newer))
        return Result.ok(f"backup {self._name(backup)} holds all {plural(len(live), 'applied migration')}", newer=0)

    def _references(self, backup: Backup, options: BackupOptions, entry: Entry[BackupOptions], ctx: RunContext) -> Result:
        refs = options.references
        assert refs is not None  # the aspect exists only with it
        readable = {"custom", "sqlite"}
        dumps = [(path, kind) for path in (backup.path(d.path) for d in backup.dumps) if path.is_file()
                 for kind in (dump_format(path),) if kind in readable]
        if not dumps:
            raise CheckError("the backup has no custom-format dump (or SQLite copy) to read the table from")
        root = backup.path(refs.root)
        if not root.is_dir():
            raise CheckError(f"the backup has no folder {refs.root}")
        found = walk(root, progress=lambda: ctx.check_deadline(f"walking the backup's {refs.root}"))
        paths = PathReader([root], refs.strip_prefix)
        referenced = missing = 0
        samples: list[str] = []
        dump, kind = dumps[0]
        rows = (sqlite_rows(dump, refs.table, (refs.column,)) if kind == "sqlite"
                else table_rows(dump, refs.table, (refs.column,), ctx.remaining() or 600))
        for (value,) in rows:
            if value is None:
                continue
            relative, why = paths.relative(value)
            if why == "empty":
                continue
            referenced += 1
            if why or relative not in found.files:
                missing += 1
                if len(samples) < ctx.samples:
                    samples.append(shown(value) + (f" ({why})" if why else ""))
        figures = {"referenced": referenced, "missing": missing, "files": len(found.files)}
        where = f"{refs.table}.{refs.column} in the backup's {dump.name}"
        if missing:
            return Result.fail(f"{count(missing)} of {count(referenced)} files referenced by {where} "
                               f"{'is' if missing == 1 else 'are'} missing from the backup's {refs.root}", samples, **figures)
        return Result.ok(f"{plural(referenced, 'file')} referenced by {where} {'is' if referenced == 1 else 'are'} in "
                         f"the backup's {refs.root}", **figures)


# -- helpers ----------------------------------------------------------------------------------------


def _age(seconds: float) -> str:
    """A backup's age as `max_age` is written: 31h (not 1d 7h) up to three days."""
    return f"{int(seconds // 3600)}h" if 3600 <= seconds < 3 * 86400 else age(seconds)


def _human(size: int) -> str:
    """A size as `du -h` writes it: 1.2M, 530K, 3G."""
    value = float(size)
    for unit in ("", "K", "M", "G", "T"):
        if value < 1024 or unit == "T":
            return f"{value:.0f}{unit}" if unit == "" or value >= 10 else f"{value:.1f}{unit}"
        value /= 1024
    return f"{size}"  # pragma: no cover


_UNITS = {"": 1, "B": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def _size_matches(size: int, text: str) -> bool:
    """A size against a human one ("1.2M", "530K"): equal to the written precision (one decimal)."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?)i?B?\s*", text, re.IGNORECASE)
    if not match:
        return False
    number, unit = float(match.group(1)), _UNITS[match.group(2).upper()]
    decimals = len(match.group(1).partition(".")[2])
    step = unit * (10 ** -decimals if decimals else 1)
    return abs(size - number * unit) <= step  # du -h rounds up: within one step of what it wrote


def _applied_in_csv(tool: str, path: Path) -> list[str]:
    """The applied migrations a CSV copy of the tracking table (COPY ... CSV HEADER) records."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CheckError(f"cannot read {path.name}: {exc}") from None

    def value(row: dict[str, Any], column: str) -> str:
        if column not in row:
            raise CheckError(f"{path.name} has no column {column} (a copy of the {tool} tracking table?)")
        return str(row[column] or "")

    if tool == "prisma":
        return [value(r, "migration_name") for r in rows if value(r, "finished_at") and not value(r, "rolled_back_at")]
    if tool == "django":
        return [f"{value(r, 'app')}.{value(r, 'name')}" for r in rows]
    first = TOOLS[tool].tracking.columns.split(",")[0].strip()
    tuples = [(value(r, first),) for r in rows]
    return applied_migrations(tool, tuples) if tool in ("alembic",) else [t[0] for t in tuples]
