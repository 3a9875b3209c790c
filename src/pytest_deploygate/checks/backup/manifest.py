"""Backup manifests: the teams' own `manifest.json` and ours, `deploygate-manifest.json`, read into
one :class:`Backup`; ours written by `deploygate manifest`.

The teams' "atomic backup" folder, as their scripts write it::

    <dir>/<YYYYmmdd_HHMMSS>/database.dump      pg_dump -F c
                            uploads/           a copy of the uploads folder
                            migrations.csv     COPY _prisma_migrations TO ... CSV HEADER
                            manifest.json      {"timestamp": "20251210_090000", "database_size": "1.2M",
                                                "uploads_count": "5203", "git_commit": "...",
                                                "schema_hash": "<sha256 hex>"}   (every value a string)

Ours records more, so that a backup can be proven whole and consistent (see docs/checks/backup.md,
which holds its JSON Schema): each dump's size, hash and snapshot time, each folder of files with
its count, bytes, copy window and a BagIt-style `manifest-sha256.txt` of every file, the migrations
CSV's hash and count, and the schema file's hash.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import CheckError
from .dump import dump_format, read_header

FORMAT = "pytest-deploygate backup manifest"
VERSION = 1
OURS = "deploygate-manifest.json"
FIXITY_SUFFIX = ".manifest-sha256.txt"
CHUNK = 1 << 20


@dataclass(frozen=True)
class Dump:
    """A database dump of the backup: its path (relative to the backup folder), format, and what
    the manifest recorded (None: not recorded)."""

    path: str
    format: str | None = None
    size: int | None = None
    size_text: str | None = None  # the teams' "1.2M"
    sha256: str | None = None
    snapshot_at: dt.datetime | None = None


@dataclass(frozen=True)
class FilesCopy:
    """A folder of files in the backup (the uploads), and what the manifest recorded."""

    root: str
    count: int | None = None
    bytes: int | None = None
    copy_started_at: dt.datetime | None = None
    copy_finished_at: dt.datetime | None = None
    fixity: str | None = None  # the BagIt-style manifest of every file, relative to the backup folder


@dataclass(frozen=True)
class MigrationsCopy:
    """The tracking table's copy (`COPY _prisma_migrations TO ... CSV HEADER`)."""

    path: str
    sha256: str | None = None
    count: int | None = None


@dataclass(frozen=True)
class SchemaHash:
    algorithm: str
    value: str
    path: str | None = None


@dataclass(frozen=True)
class Backup:
    """One backup, whichever manifest described it.

    Attributes:
        folder: the backup's folder (the manifest's).
        manifest: the manifest file.
        kind: "deploygate" (ours) or "team" (the teams' manifest.json).
        created_at: when the backup was taken, as recorded.
    """

    folder: Path
    manifest: Path
    kind: str
    created_at: dt.datetime
    git_commit: str | None = None
    schema_hash: SchemaHash | None = None
    dumps: tuple[Dump, ...] = ()
    files: tuple[FilesCopy, ...] = ()
    migrations: tuple[MigrationsCopy, ...] = ()

    def path(self, relative: str) -> Path:
        """A component's path, which must stay inside the backup's folder once links are
        resolved (a team's `uploads -> /elsewhere` is refused, not read)."""
        path = self.folder / relative
        try:
            path.resolve().relative_to(self.folder.resolve())
        except ValueError:
            raise CheckError(f"{relative} in backup {self.folder.name} leads outside the backup folder "
                             f"(to {path.resolve()})") from None
        return path


# -- reading -------------------------------------------------------------------------------------


def _time(value: Any, what: str, manifest: Path) -> dt.datetime:
    """An ISO 8601 time (UTC when it has no offset) or the teams' `20251210_090000` (taken as UTC)."""
    if isinstance(value, str):
        text = value.strip()
        for pattern in ("%Y%m%d_%H%M%S", "%Y%m%d%H%M%S", "%Y-%m-%d_%H-%M-%S"):
            try:
                return dt.datetime.strptime(text, pattern).replace(tzinfo=dt.UTC)
            except ValueError:
                pass
        try:
            parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    raise CheckError(f"{manifest.name}: {what} {value!r} is not a time "
                     "(expected ISO 8601, 2025-12-10T09:00:00Z, or 20251210_090000)")


def parse_time(text: str) -> dt.datetime:
    """A time given on the command line (ISO 8601, UTC without an offset); ValueError otherwise."""
    try:
        return _time(text, "time", Path("command line"))
    except CheckError:
        raise ValueError(f"{text!r} is not a time (ISO 8601: 2025-12-10T09:00:00Z)") from None


def _optional_time(value: Any, what: str, manifest: Path) -> dt.datetime | None:
    return None if value is None else _time(value, what, manifest)


def _inside(folder: Path, relative: Any, what: str, manifest: Path) -> str:
    """A path the manifest names, which must stay inside the backup's folder."""
    if not isinstance(relative, str) or not relative.strip():
        raise CheckError(f"{manifest.name}: {what} must be a path inside the backup folder, got {relative!r}")
    parts = Path(relative).parts
    if Path(relative).is_absolute() or ".." in parts or "\x00" in relative:
        raise CheckError(f"{manifest.name}: {what} {relative!r} leaves the backup folder {folder}")
    return relative


def _hex(value: Any, what: str, manifest: Path) -> str | None:
    """A sha256 as recorded: 64 hex digits (a `sha256:` prefix or sha256sum's trailing name allowed)."""
    if value is None:
        return None
    text = str(value).strip().lower().removeprefix("sha256:").split()[0] if str(value).strip() else ""
    if not re.fullmatch(r"[0-9a-f]{64}", text):
        raise CheckError(f"{manifest.name}: {what} {value!r} is not a sha256 (64 hex digits)")
    return text


def _count(value: Any, what: str, manifest: Path) -> int | None:
    if value is None:
        return None
    try:
        number = float(str(value).strip().replace(",", "").replace("_", ""))
    except ValueError:
        raise CheckError(f"{manifest.name}: {what} {value!r} is not a number") from None
    if isinstance(value, bool) or not number.is_integer():
        raise CheckError(f"{manifest.name}: {what} {value!r} is not a whole number")
    if number < 0:
        raise CheckError(f"{manifest.name}: {what} {value!r} is negative")
    return int(number)


def read_manifest(path: Path) -> Backup:
    """Read either manifest, told apart by content.

    Raises:
        CheckError: the file cannot be read, is not JSON (or is partial), or is not a manifest.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CheckError(f"{path.name} is not valid JSON ({exc.msg} at line {exc.lineno}): "
                         "a partial or corrupt manifest") from None
    if not isinstance(data, dict):
        raise CheckError(f"{path.name} is not a backup manifest (a JSON object)")
    if data.get("format") == FORMAT:
        return _ours(path, data)
    if "timestamp" in data:
        return _teams(path, data)
    raise CheckError(f"{path.name} is not a backup manifest: neither deploygate's (\"format\": \"{FORMAT}\") "
                     "nor a team's (\"timestamp\": \"20251210_090000\", ...)")


def _teams(path: Path, data: dict[str, Any]) -> Backup:
    folder = path.parent
    schema = data.get("schema_hash")
    return Backup(
        folder=folder, manifest=path, kind="team", created_at=_time(data.get("timestamp"), "timestamp", path),
        git_commit=str(data["git_commit"]) if data.get("git_commit") else None,
        schema_hash=SchemaHash("sha256", _hex(schema, "schema_hash", path) or "") if schema else None,
        dumps=(Dump("database.dump", size_text=str(data["database_size"]) if data.get("database_size") else None),),
        files=(FilesCopy("uploads", count=_count(data.get("uploads_count"), "uploads_count", path)),),
        migrations=(MigrationsCopy("migrations.csv"),) if (folder / "migrations.csv").exists() else (),
    )


def _ours(path: Path, data: dict[str, Any]) -> Backup:
    folder = path.parent
    if data.get("version") != VERSION:
        raise CheckError(f"{path.name} is manifest version {data.get('version')!r}; this reads version {VERSION}")

    def items(key: str) -> list[dict[str, Any]]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise CheckError(f"{path.name}: {key} must be a list of objects")
        return value

    schema = data.get("schema_hash")
    if schema is not None and (not isinstance(schema, dict) or not schema.get("value")):
        raise CheckError(f"{path.name}: schema_hash must be an object with algorithm, path and value")
    return Backup(
        folder=folder, manifest=path, kind="deploygate", created_at=_time(data.get("created_at"), "created_at", path),
        git_commit=data.get("git_commit") or None,
        schema_hash=SchemaHash(str(schema.get("algorithm", "sha256")), _hex(schema["value"], "schema_hash.value", path) or "",
                               schema.get("path")) if schema else None,
        dumps=tuple(Dump(_inside(folder, d.get("path"), "dumps[].path", path), d.get("format"),
                         _count(d.get("size"), "dumps[].size", path), None, _hex(d.get("sha256"), "dumps[].sha256", path),
                         _optional_time(d.get("snapshot_at"), "dumps[].snapshot_at", path)) for d in items("dumps")),
        files=tuple(FilesCopy(_inside(folder, f.get("root"), "files[].root", path),
                              _count(f.get("count"), "files[].count", path), _count(f.get("bytes"), "files[].bytes", path),
                              _optional_time(f.get("copy_started_at"), "files[].copy_started_at", path),
                              _optional_time(f.get("copy_finished_at"), "files[].copy_finished_at", path),
                              _inside(folder, f["fixity"], "files[].fixity", path) if f.get("fixity") else None)
                    for f in items("files")),
        migrations=tuple(MigrationsCopy(_inside(folder, m.get("path"), "migrations[].path", path),
                                        _hex(m.get("sha256"), "migrations[].sha256", path),
                                        _count(m.get("count"), "migrations[].count", path)) for m in items("migrations")),
    )


# -- files: walking, hashing ---------------------------------------------------------------------


def files_under(root: Path) -> Iterable[tuple[str, Path]]:
    """(relative path, path) of every regular file under `root`, sorted, links not followed."""
    found = []
    for folder, dirs, names in os.walk(root, followlinks=False):
        dirs.sort()
        for name in names:
            path = Path(folder) / name
            if path.is_file() and not path.is_symlink():
                found.append((path.relative_to(root).as_posix(), path))
    return sorted(found)


def sha256_of(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def hash_all(paths: Sequence[Path], workers: int | None = None,
             progress: Callable[[], None] = lambda: None) -> list[str]:
    """The sha256 of each file, in order; hashed by a few threads (hashlib lets go of the GIL
    while it hashes, and reading overlaps hashing), at most `workers` files in memory at once."""
    workers = workers or min(8, (os.cpu_count() or 2) * 2)
    out: list[str] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for start in range(0, len(paths), 1000):
            progress()
            out.extend(pool.map(sha256_of, paths[start:start + 1000]))
    return out


def read_fixity(path: Path) -> dict[str, str]:
    """A BagIt-style `manifest-sha256.txt`: relative path -> sha256 (one `<hash>  <path>` a line)."""
    try:
        lines = path.read_text(encoding="utf-8", errors="surrogateescape").splitlines()
    except OSError as exc:
        raise CheckError(f"cannot read {path}: {exc.strerror or exc}") from None
    recorded = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        match = re.fullmatch(r"([0-9a-fA-F]{64})[ \t]+(.+)", line)
        if not match:
            raise CheckError(f"{path.name} line {number} is not `<sha256>  <path>`")
        recorded[_unescape(match.group(2))] = match.group(1).lower()
    return recorded


def _escape(name: str) -> str:
    """BagIt's escaping of a path in a manifest line: `%`, CR and LF percent-encoded."""
    return name.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _unescape(name: str) -> str:
    return name.replace("%0A", "\n").replace("%0a", "\n").replace("%0D", "\r").replace("%0d", "\r").replace("%25", "%")


def count_csv_rows(path: Path) -> int:
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        return max(0, sum(1 for _ in csv.reader(fh)) - 1)


# -- writing (deploygate manifest) ---------------------------------------------------------------


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def git_commit(folder: Path) -> str | None:
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True,
                              timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


@dataclass
class ManifestPlan:
    """What `deploygate manifest` writes about: found in the folder, or named by options."""

    folder: Path
    dumps: list[Path] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    migrations: list[Path] = field(default_factory=list)
    schema_file: Path | None = None
    copy_started_at: dt.datetime | None = None
    copy_finished_at: dt.datetime | None = None
    created_at: dt.datetime | None = None


def discover(folder: Path) -> ManifestPlan:
    """The components of a backup folder: `*.dump`, `*.sql`, `*.sql.gz` dumps, folders of files,
    and a migrations CSV (a `*.csv` whose name says migrations)."""
    plan = ManifestPlan(folder)
    for entry in sorted(folder.iterdir()):
        name = entry.name
        if name == OURS or name.endswith(FIXITY_SUFFIX) or name.startswith("."):
            continue
        if entry.is_dir() and not entry.is_symlink():
            plan.files.append(entry)
        elif entry.is_file() and name.endswith((".dump", ".sql", ".sql.gz", ".backup", ".pgdump", ".db", ".sqlite")):
            plan.dumps.append(entry)
        elif entry.is_file() and name.endswith(".csv") and "migration" in name.lower():
            plan.migrations.append(entry)
    return plan


def _window(paths: Sequence[Path]) -> tuple[dt.datetime | None, dt.datetime | None]:
    """When a copy ran, by its files' change times (set when a copy creates a file; `cp -a` keeps
    modification times, not change times)."""
    times = [p.stat().st_ctime for p in paths]
    if not times:
        return None, None
    return (dt.datetime.fromtimestamp(min(times), dt.UTC), dt.datetime.fromtimestamp(max(times), dt.UTC))


def write_manifest(plan: ManifestPlan, workers: int | None = None) -> tuple[Path, dict[str, Any]]:
    """Write `<folder>/deploygate-manifest.json` (and a fixity file per folder of files),
    atomically: a temporary file renamed into place."""
    folder = plan.folder
    document: dict[str, Any] = {
        "format": FORMAT, "version": VERSION,
        "created_at": _iso(plan.created_at or dt.datetime.now(dt.UTC)),
        "git_commit": git_commit(Path.cwd()),
        "schema_hash": None, "dumps": [], "files": [], "migrations": [],
    }
    if plan.schema_file is not None:
        document["schema_hash"] = {"algorithm": "sha256", "path": plan.schema_file.name,
                                   "value": sha256_of(plan.schema_file)}
    for dump in plan.dumps:
        kind = dump_format(dump)
        # a custom dump records when pg_dump started; a SQLite copy was taken when it was written
        snapshot = (read_header(dump).started if kind == "custom" else
                    dt.datetime.fromtimestamp(dump.stat().st_mtime, dt.UTC) if kind == "sqlite" else None)
        document["dumps"].append({"path": dump.relative_to(folder).as_posix(), "format": kind,
                                  "size": dump.stat().st_size, "sha256": sha256_of(dump),
                                  "snapshot_at": _iso(snapshot) if snapshot else None})
    for root in plan.files:
        listed = list(files_under(root))
        digests = hash_all([p for _, p in listed], workers)
        label = root.relative_to(folder).as_posix().replace("/", "_")
        fixity = folder / f"{label}{FIXITY_SUFFIX}"
        _write_atomically(fixity, "".join(f"{d}  {_escape(name)}\n" for (name, _), d in zip(listed, digests, strict=True)))
        started, finished = _window([p for _, p in listed])
        started, finished = plan.copy_started_at or started, plan.copy_finished_at or finished
        document["files"].append({
            "root": root.relative_to(folder).as_posix(), "count": len(listed),
            "bytes": sum(p.stat().st_size for _, p in listed),
            "copy_started_at": _iso(started) if started else None,
            "copy_finished_at": _iso(finished) if finished else None,
            "fixity": fixity.name})
    for migrations in plan.migrations:
        document["migrations"].append({"path": migrations.relative_to(folder).as_posix(),
                                       "sha256": sha256_of(migrations), "count": count_csv_rows(migrations)})
    target = folder / OURS
    _write_atomically(target, json.dumps(document, indent=2) + "\n")
    return target, document


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as fh:
        fh.write(text)
    os.replace(tmp, path)
