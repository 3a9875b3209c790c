"""Database dumps as files: what their header says, whether they are whole, and one table's data.

A custom-format dump (`pg_dump -F c`) starts with a header (`PGDMP`, the archive version, the
sizes of its integers, its format, its compression, the time the dump started and the database's
name and version), read here without any server or tool. Whether it is whole needs a full read:
`pg_restore --list` reads only the table of contents at the start and passes a truncated dump,
`pg_restore -f /dev/null` reads every data block. A plain `.sql` dump (or `.sql.gz`) is whole when
it ends with pg_dump's completion trailer.
"""

from __future__ import annotations

import datetime as dt
import glob
import gzip
import importlib.util
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ...errors import CheckError

MAGIC = b"PGDMP"
#: archive versions pg_restore reads (1.12: PostgreSQL 9.x ... 1.16: PostgreSQL 17)
KNOWN_VERSIONS = ((1, 12), (1, 13), (1, 14), (1, 15), (1, 16))
_FORMATS = {1: "custom", 3: "tar", 5: "directory"}
_TRAILER = b"-- PostgreSQL database dump complete"


@dataclass(frozen=True)
class DumpHeader:
    """What a custom-format dump's header records.

    Attributes:
        version: the archive format version (1, 15).
        format: "custom" (or "tar", "directory").
        started: when pg_dump started (its snapshot of the database): the header holds the dumping
            machine's local time, read here in this machine's time zone (the manifest writer runs
            beside the dump), as UTC.
        database: the dumped database's name.
        server_version: the server's version string, as recorded.
        dump_version: pg_dump's version string.
    """

    version: tuple[int, int]
    format: str
    started: dt.datetime | None
    database: str
    server_version: str
    dump_version: str


class _Reader:
    """The integer and string encodings of pg_backup_archiver.c (ReadInt, ReadStr)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.int_size = 4

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise ValueError("the header ends early")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def integer(self) -> int:
        negative = self.byte()
        raw = self.data[self.pos:self.pos + self.int_size]
        if len(raw) < self.int_size:
            raise ValueError("the header ends early")
        self.pos += self.int_size
        value = int.from_bytes(raw, "little")
        return -value if negative else value

    def string(self) -> str:
        length = self.integer()
        if length < 0:
            return ""
        raw = self.data[self.pos:self.pos + length]
        if len(raw) < length:
            raise ValueError("the header ends early")
        self.pos += length
        return raw.decode("utf-8", "replace")


def read_header(path: Path) -> DumpHeader:
    """The header of a custom-format dump.

    Raises:
        CheckError: the file cannot be read, is not a pg_dump archive, or has a version this
            reads not.
    """
    try:
        with open(path, "rb") as fh:
            data = fh.read(4096)
    except OSError as exc:
        raise CheckError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not data.startswith(MAGIC):
        what = "empty" if not data else "not a pg_dump custom-format archive (no PGDMP header)"
        raise CheckError(f"{path.name} is {what}")
    reader = _Reader(data)
    reader.pos = len(MAGIC)
    try:
        major, minor, _revision = reader.byte(), reader.byte(), reader.byte()
        if (major, minor) not in KNOWN_VERSIONS:
            raise CheckError(f"{path.name} is archive version {major}.{minor}, which this reads not "
                             f"({', '.join(f'{a}.{b}' for a, b in KNOWN_VERSIONS)})")
        reader.int_size = reader.byte()
        reader.byte()  # offset size
        kind = _FORMATS.get(reader.byte(), "unknown")
        if (major, minor) >= (1, 15):
            reader.byte()  # compression algorithm
        else:
            reader.integer()  # compression level
        sec, minute, hour, mday, mon, year, _isdst = (reader.integer() for _ in range(7))
        database = reader.string()
        server_version, dump_version = reader.string(), reader.string()
    except ValueError as exc:
        raise CheckError(f"{path.name} has a broken header: {exc}") from None
    try:
        # pg_dump wrote its local time; mktime on this machine (where the manifest is written,
        # beside the dump) turns it into a moment as pg_dump's own mktime did
        moment = time.mktime((year + 1900, mon + 1, mday, hour, minute, sec, 0, 0, _isdst))
        started: dt.datetime | None = dt.datetime.fromtimestamp(moment, dt.UTC)
    except (ValueError, OverflowError):
        started = None
    return DumpHeader((major, minor), kind, started, database, server_version, dump_version)


def dump_format(path: Path) -> str:
    """"custom", "plain", "plain-gz" or "sqlite" (a copy of a SQLite database, `.backup`), by
    content (a name can lie); "unknown" otherwise."""
    try:
        with open(path, "rb") as fh:
            start = fh.read(64)
    except OSError as exc:
        raise CheckError(f"cannot read {path}: {exc.strerror or exc}") from None
    if start.startswith(MAGIC):
        return "custom"
    if start.startswith(b"SQLite format 3\x00"):
        return "sqlite"
    if start.startswith(b"\x1f\x8b"):
        return "plain-gz"
    if start.startswith(b"toc.dat\x00"):  # the first member of pg_dump -F t
        return "tar"
    if start.lstrip().startswith(b"--") or start.lstrip().upper().startswith((b"SET ", b"CREATE ", b"BEGIN")):
        return "plain"
    return "unknown"


def plain_is_whole(path: Path) -> bool:
    """Whether a plain (or gzipped plain) dump ends with pg_dump's completion trailer."""
    try:
        if dump_format(path) == "plain-gz":
            tail = b""
            with gzip.open(path, "rb") as fh:
                while block := fh.read(1 << 20):
                    tail = (tail + block)[-4096:]
        else:
            with open(path, "rb") as fh:
                fh.seek(max(0, os.path.getsize(path) - 4096))
                tail = fh.read()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise CheckError(f"cannot read {path.name} to its end: {exc}") from None
    return _TRAILER in tail


@lru_cache(maxsize=1)
def pg_restore() -> str | None:
    """The newest pg_restore on this machine (on PATH, under /usr/lib/postgresql, or the one
    pgserver ships): a pg_restore reads the archive versions of its own major version and older."""
    candidates = [shutil.which("pg_restore"), *sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_restore"))]
    spec = importlib.util.find_spec("pgserver")  # found, not imported (importing it starts nothing, but warns)
    if spec is not None and spec.origin:
        candidates.append(str(Path(spec.origin).parent / "pginstall" / "bin" / "pg_restore"))
    best: tuple[int, str] | None = None
    for candidate in dict.fromkeys(c for c in candidates if c and os.path.isfile(c)):
        try:
            version = subprocess.run([candidate, "--version"], capture_output=True, text=True, timeout=10,
                                     check=False).stdout
        except (OSError, subprocess.TimeoutExpired):
            continue
        match = re.search(r"(\d+)(?:\.\d+)?", version)
        if match and (best is None or int(match.group(1)) > best[0]):
            best = (int(match.group(1)), candidate)
    return best[1] if best else None


def read_whole(path: Path, timeout: float) -> str:
    """Read every block of a custom-format dump with `pg_restore -f /dev/null`; "" when it reads
    to the end, else pg_restore's complaint (first line). CheckError when there is no pg_restore."""
    tool = pg_restore()
    if tool is None:
        raise CheckError("no pg_restore on PATH to read the dump with (verify = \"fixity\" needs it)")
    try:
        done = subprocess.run([tool, "--file", os.devnull, str(path)], capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise CheckError(f"pg_restore did not finish reading {path.name} within {timeout:.0f}s") from None
    if done.returncode == 0:
        return ""
    return next((line.strip() for line in done.stderr.splitlines() if line.strip()), f"exit {done.returncode}")


def table_rows(path: Path, table: str, columns: tuple[str, ...], timeout: float) -> Iterator[tuple[str | None, ...]]:
    """The values of `columns` in each row of `table` as the dump holds them (no server needed):
    `pg_restore --data-only [-n SCHEMA] -t TABLE -f -`, its COPY block read as it streams.

    Raises:
        CheckError: no pg_restore; the dump holds no such table, or more than one (name the
            schema); pg_restore fails at any point, a truncated dump included (its rows so far
            were yielded, but the read ends with this error).
    """
    tool = pg_restore()
    if tool is None:
        raise CheckError("no pg_restore on PATH to read the dump's data with")
    schema, _, name = table.rpartition(".")
    command = [tool, "--data-only", *(["--schema", schema] if schema else []), "--table", name, "--file", "-", str(path)]
    wanted = f"{schema}.{name}" if schema else None
    with tempfile.TemporaryFile() as errors, subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors) as proc:
        assert proc.stdout is not None  # PIPE
        deadline = time.monotonic() + timeout
        blocks = 0
        positions: list[int] | None = None
        for raw in proc.stdout:
            if time.monotonic() > deadline:
                proc.kill()
                raise CheckError(f"pg_restore did not finish reading {path.name} within {timeout:.0f}s")
            line = raw.rstrip(b"\n")
            if positions is None:
                if line.startswith(b"COPY ") and line.endswith(b"FROM stdin;"):
                    copied = line[5:line.index(b" (")].decode(errors="replace").replace('"', "")
                    if wanted is not None and copied != wanted:
                        continue
                    blocks += 1
                    if blocks > 1:
                        proc.kill()
                        raise CheckError(f"the dump {path.name} holds more than one table {name} (in several "
                                         "schemas): name it as schema.table")
                    inside = line[line.index(b"(") + 1:line.rindex(b")")].decode()
                    header = [c.strip().strip('"') for c in inside.split(",")]
                    missing = [c for c in columns if c not in header]
                    if missing:
                        proc.kill()
                        raise CheckError(f"the dump's {copied} has no column {', '.join(missing)} "
                                         f"(it has {', '.join(header)})")
                    positions = [header.index(c) for c in columns]
                continue
            if line == b"\\.":
                positions = None  # the block ended: another one may follow (another schema's)
                continue
            fields = line.split(b"\t")
            yield tuple(_copy_value(fields[i]) for i in positions)
        try:
            code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            raise CheckError(f"pg_restore did not finish reading {path.name} within {timeout:.0f}s") from None
        errors.seek(0)
        complaint = next((ln.strip() for ln in errors.read().decode(errors="replace").splitlines() if ln.strip()), "")
        if code != 0:
            raise CheckError(f"pg_restore could not read {table} from {path.name} to its end: "
                             f"{complaint or f'exit {code}'}")
        if blocks == 0:
            raise CheckError(f"the dump {path.name} holds no data for table {table}")


_ESCAPES = {b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"v": b"\v", b"\\": b"\\"}


def _copy_value(field: bytes) -> str | None:
    """A value of COPY's text format: `\\N` is NULL, backslash escapes undone."""
    if field == b"\\N":
        return None
    if b"\\" not in field:
        return field.decode("utf-8", "surrogateescape")
    out, pos = bytearray(), 0
    while pos < len(field):
        char = field[pos:pos + 1]
        if char != b"\\" or pos + 1 >= len(field):
            out += char
            pos += 1
            continue
        code = field[pos + 1:pos + 2]
        if code in _ESCAPES:
            out += _ESCAPES[code]
            pos += 2
        elif code.isdigit():  # \NNN, octal
            digits = field[pos + 1:pos + 4]
            end = next((i for i, d in enumerate(digits) if not 48 <= d <= 55), len(digits))
            out.append(int(digits[:end], 8) & 0xFF)
            pos += 1 + end
        elif code == b"x":  # \xHH
            digits = field[pos + 2:pos + 4]
            end = next((i for i, d in enumerate(digits) if chr(d) not in "0123456789abcdefABCDEF"), len(digits))
            out.append(int(digits[:end] or b"0", 16))
            pos += 2 + end
        else:
            out += code
            pos += 2
    return bytes(out).decode("utf-8", "surrogateescape")


def sqlite_check(path: Path, full: bool) -> str:
    """A SQLite copy's own check, read-only: "" when `PRAGMA quick_check` (with `full`,
    `integrity_check`, which reads every page) says ok, else what it says (first line)."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            rows = conn.execute("PRAGMA integrity_check" if full else "PRAGMA quick_check").fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return str(exc)
    first = str(rows[0][0]) if rows else "no answer"
    return "" if first == "ok" else first


def sqlite_rows(path: Path, table: str, columns: tuple[str, ...]) -> Iterator[tuple[str | None, ...]]:
    """The values of `columns` of `table` in a SQLite copy, read-only."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    conn.text_factory = lambda b: b.decode("utf-8", "surrogateescape")
    try:
        quoted = ", ".join('"' + c.replace('"', '""') + '"' for c in columns)
        name = ".".join('"' + p.replace('"', '""') + '"' for p in table.split("."))
        try:
            cursor = conn.execute(f"SELECT {quoted} FROM {name}")
        except sqlite3.Error as exc:
            raise CheckError(f"the backup's {path.name} cannot give {table}: {exc}") from None
        while rows := cursor.fetchmany(10_000):
            for row in rows:
                yield tuple(None if v is None else str(v) for v in row)
    finally:
        conn.close()
