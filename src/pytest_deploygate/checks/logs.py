"""`[[logs]]`: log files hold none of the lines they must not (and the lines they must).

The shell scripts' `grep` of the backend log for known error signatures (`column "form_template"
does not exist`), as one item per file the `path` glob matches (found at collection, once for all
xdist workers). A file is read:

- whole, by default: in blocks of 8 MiB, each searched at C speed for every pattern at once per
  pattern, a match then confirmed on its own line (a pattern never matches across lines);
- with `tail = N`: only its last N lines, found by reading back from the end, so tailing a 1 GB
  log costs about what its last lines do;
- with `since = "1h"`: only the lines whose leading timestamp is that recent (a line without one
  belongs to the last timestamp before it), found by a binary search over the file's timestamps.

A gzip-rotated file (`.gz`) is streamed whole. Only the size the file had when it was opened is
read (a log being appended to), a line longer than 8 MiB is checked on its first 8 MiB (and the
rest skipped, never held), and bytes that are not UTF-8 are read as U+FFFD. Memory stays bounded: a block, and `samples` lines per pattern.
"""

from __future__ import annotations

import bz2
import calendar
import gzip
import lzma
import os
import re
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

from ..api import CheckKind, Entry, Result, RunContext, Target, id_part, shared_by_workers
from ..config import EntryReader
from ..errors import CheckError
from ..wording import count, format_duration, plural, printable
from . import BUILTIN
from .paths import check_glob, find, normal_glob, shown

BLOCK = 8 * 1024 * 1024
#: a line is checked on this many of its first bytes (a block's worth: a longer line is read on)
MAX_LINE = BLOCK
#: characters of a matching line a failure shows
LINE_SHOWN = 300


@dataclass(frozen=True)
class LogsOptions:
    """A `[[logs]]` entry's own keys.

    Attributes:
        path: the glob as written (relative to the config's folder, or absolute).
        base: the config's folder.
        forbid: regexes no line may match; `require`: regexes some line must match.
        tail: read only the last N lines; `since`: only lines this many seconds recent.
        missing_ok: a glob that matches nothing passes.
    """

    path: str
    base: Path
    forbid: tuple[str, ...]
    require: tuple[str, ...]
    tail: int | None
    since: float | None
    missing_ok: bool

    @property
    def window(self) -> str:
        """Which lines are read, as messages say it ("" for all of them)."""
        if self.tail is not None:
            return f"the last {plural(self.tail, 'line')}"
        if self.since is not None:
            return f"the lines of the last {format_duration(self.since)}"
        return ""


# -- timestamps -------------------------------------------------------------------------------------

_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                                       "Nov", "Dec"), start=1)}
# ISO 8601 / RFC 3339 (also after a syslog RFC 5424 `<pri>1 ` or an opening bracket or quote)
_ISO = re.compile(rb"^(?:<\d{1,3}>\d? ?)?[\[\"'{ ]{0,2}(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})"
                  rb"(?:[.,]\d+)?(Z|[+-]\d{2}:?\d{2}(?!\d))?")
_NGINX = re.compile(rb"^(\d{4})/(\d{2})/(\d{2}) (\d{2}):(\d{2}):(\d{2})")  # nginx error log
_SYSLOG = re.compile(rb"^(?:<\d{1,3}>)?([A-Z][a-z]{2}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2})\b")  # RFC 3164
_APACHE_ERROR = re.compile(rb"^\[[A-Z][a-z]{2} ([A-Z][a-z]{2}) (\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.\d+)? (\d{4})\]")
_CLF = re.compile(rb"\[(\d{2})/([A-Z][a-z]{2})/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-]\d{4})\]")  # access logs


def _epoch(year: int, month: int, day: int, hour: int, minute: int, second: int, offset: bytes | None) -> float | None:
    """Seconds since the epoch; without an offset, the machine's local time."""
    try:
        if offset is None:
            return time.mktime((year, month, day, hour, minute, second, 0, 0, -1))
        base = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    except (OverflowError, ValueError):
        return None
    if offset in (b"Z", b"z"):
        return float(base)
    text = offset.replace(b":", b"")
    sign = -1 if text[:1] == b"-" else 1
    return float(base - sign * (int(text[1:3]) * 3600 + int(text[3:5]) * 60))


def line_time(line: bytes, now: float) -> float | None:
    """The time a log line begins with, for the formats logs commonly use; None without one."""
    head = line[:256]
    if (m := _ISO.match(head)) is not None:
        y, mo, d, h, mi, s = (int(x) for x in m.groups()[:6])
        return _epoch(y, mo, d, h, mi, s, m.group(7))
    if (m := _NGINX.match(head)) is not None:
        y, mo, d, h, mi, s = (int(x) for x in m.groups())
        return _epoch(y, mo, d, h, mi, s, None)
    if (m := _APACHE_ERROR.match(head)) is not None and m.group(1).decode() in _MONTHS:
        return _epoch(int(m.group(6)), _MONTHS[m.group(1).decode()], int(m.group(2)), int(m.group(3)),
                      int(m.group(4)), int(m.group(5)), None)
    if (m := _SYSLOG.match(head)) is not None and m.group(1).decode() in _MONTHS:
        # no year: this year's, unless that is in the future (a December line read in January)
        month, day = _MONTHS[m.group(1).decode()], int(m.group(2))
        this_year = time.localtime(now).tm_year
        stamp = _epoch(this_year, month, day, int(m.group(3)), int(m.group(4)), int(m.group(5)), None)
        if stamp is not None and stamp > now + 86400:
            stamp = _epoch(this_year - 1, month, day, int(m.group(3)), int(m.group(4)), int(m.group(5)), None)
        return stamp
    if (m := _CLF.search(head)) is not None and m.group(2).decode() in _MONTHS:
        return _epoch(int(m.group(3)), _MONTHS[m.group(2).decode()], int(m.group(1)), int(m.group(4)),
                      int(m.group(5)), int(m.group(6)), m.group(7))
    return None


# -- where to start ---------------------------------------------------------------------------------

#: how often (in bytes read) the long reads call back to check the item's deadline
PROGRESS_EVERY = 16 * 1024 * 1024


def tail_start(handle: IO[bytes], size: int, lines: int, progress: Callable[[], None] = lambda: None) -> int:
    """The offset where the last `lines` lines of the first `size` bytes begin, read backwards."""
    if lines <= 0 or size == 0:
        return size
    handle.seek(size - 1)
    end = size - 1 if handle.read(1) == b"\n" else size  # a final newline ends the last line
    found, pos, since_progress = 0, end, 0
    while pos > 0:
        start = max(0, pos - 64 * 1024)
        handle.seek(start)
        block = handle.read(pos - start)
        since_progress += len(block)
        if since_progress >= PROGRESS_EVERY:
            progress()
            since_progress = 0
        in_block = block.count(b"\n")
        if found + in_block < lines:
            found += in_block
            pos = start
            continue
        cut = len(block)
        while True:
            cut = block.rfind(b"\n", 0, cut)
            found += 1
            if found == lines:
                return start + cut + 1
    return 0


def _first_timed(handle: IO[bytes], offset: int, limit: int, now: float,
                 progress: Callable[[], None]) -> tuple[int, float] | None:
    """(offset, time) of the first line starting at or after `offset` (and before `limit`) that
    begins with a timestamp; None when no line there does."""
    handle.seek(offset)
    if offset > 0 and not _at_line_start(handle):
        _skip_line(handle)
    position, read = handle.tell(), 0
    while position < limit:
        line = handle.readline(MAX_LINE)
        if not line:
            return None
        stamp = line_time(line, now)
        if stamp is not None:
            return position, stamp
        if not line.endswith(b"\n"):
            _skip_line(handle)  # the rest of a line longer than MAX_LINE
        read += handle.tell() - position
        position = handle.tell()
        if read >= PROGRESS_EVERY:
            progress()
            read = 0
    return None


def _skip_line(handle: IO[bytes]) -> None:
    while True:
        rest = handle.readline(MAX_LINE)
        if not rest or rest.endswith(b"\n"):
            return


def _at_line_start(handle: IO[bytes]) -> bool:
    position = handle.tell()
    handle.seek(position - 1)
    start = handle.read(1) == b"\n"
    handle.seek(position)
    return start


def since_start(handle: IO[bytes], size: int, cutoff: float, now: float,
                progress: Callable[[], None] = lambda: None) -> int | None:
    """The offset of the first line whose timestamp is at `cutoff` or later, by binary search over
    the file's timestamped lines (logs are written in time order); `size` when none is; None when
    no line has a timestamp the gate reads. Each probe reads no further than what is already
    known, so the whole search reads the file at most about once."""
    first = _first_timed(handle, 0, size, now, progress)
    if first is None:
        return None
    if first[1] >= cutoff:
        return first[0]
    answer = size  # the first recent timed line found so far (or none: the end)
    low, high = first[0] + 1, size
    while low < high:
        middle = (low + high) // 2
        probe = _first_timed(handle, middle, high, now, progress)
        if probe is None or probe[1] >= cutoff:
            if probe is not None:
                answer = min(answer, probe[0])
            high = middle
        else:
            low = probe[0] + 1
    probe = _first_timed(handle, low, answer, now, progress)
    if probe is not None and probe[1] >= cutoff:
        answer = probe[0]
    return answer


# -- reading ----------------------------------------------------------------------------------------

#: a run of NUL bytes this long is a hole (a log truncated under a writer that kept its offset):
#: dropped, so that the line written after it is read as the line it is
_HOLE = re.compile(rb"\x00{512,}")
#: `\A` and `\Z` as a line's start and end (the gate searches blocks of lines, not one line at a time)
_ANCHORS = re.compile(r"(?<!\\)((?:\\\\)*)\\([AZ])")


def line_pattern(pattern: str) -> re.Pattern[str]:
    """A `forbid` or `require` pattern as the gate searches it: per line, in blocks of lines."""
    return re.compile(_ANCHORS.sub(lambda m: m.group(1) + ("^" if m.group(2) == "A" else "$"), pattern), re.MULTILINE)


@dataclass
class PatternHits:
    """The lines one pattern matched: how many, and the last `samples` of them (the line
    numbers of the last `tail` of them, for a compressed file read whole)."""

    lines: int = 0
    last: deque[tuple[int, str]] = field(default_factory=deque)
    numbers: deque[int] | None = None


@dataclass
class LogScan:
    """What reading one file found.

    Attributes:
        lines: lines read; `size`: bytes read.
        from_end: line numbers count from the end (-1 is the last line read), as only the end
            of the file was read; else they count from 1.
        hits: forbid pattern -> its matches; `found`: require pattern -> the last line it matched.
        long_lines: lines longer than MAX_LINE (checked on their start).
        timed: for `since` on a compressed file: whether any line had a timestamp.
    """

    lines: int = 0
    size: int = 0
    from_end: bool = False
    hits: dict[str, PatternHits] = field(default_factory=dict)
    found: dict[str, int | None] = field(default_factory=dict)
    long_lines: int = 0
    timed: bool = False


class _Scanner:
    """Lines fed in blocks, searched for every pattern; counts and keeps the last samples.

    With `cutoff` (since, on a compressed file read whole), blocks before the first line timed at
    the cutoff or later are only looked at for that line.
    """

    def __init__(self, forbid: list[re.Pattern[str]], require: list[re.Pattern[str]], keep: int, scan: LogScan,
                 *, numbers: int | None = None, cutoff: float | None = None, now: float = 0.0) -> None:
        self.forbid = forbid
        self.require = require
        self.scan = scan
        self.line = 0  # lines before the current block
        for pattern in forbid:
            scan.hits[pattern.pattern] = PatternHits(
                last=deque(maxlen=keep), numbers=deque(maxlen=numbers) if numbers is not None else None)
        for pattern in require:
            scan.found[pattern.pattern] = None
        self.carry = b""
        self.skipping = False  # inside a line longer than MAX_LINE, past its first MAX_LINE bytes
        self.cutoff = cutoff
        self.now = now
        self.last_required = numbers is not None  # a compressed file's tail: where `require` last matched

    def feed(self, data: bytes) -> None:
        if b"\x00" in data:
            data = _HOLE.sub(b"", data)
        if self.skipping:  # the rest of a line longer than MAX_LINE: not read into anything
            newline = data.find(b"\n")
            if newline < 0:
                return
            data = data[newline + 1:]
            self.skipping = False
        data = self.carry + data
        self.carry = b""
        # only the first line can be longer than a block: the one carried over from before
        first = data.find(b"\n")
        if first > MAX_LINE or (first < 0 and len(data) > MAX_LINE):
            self._lines(data[:MAX_LINE] + b"\n")
            self.scan.long_lines += 1
            if first < 0:
                self.skipping = True
                return
            data = data[first + 1:]
        cut = data.rfind(b"\n")
        if cut < 0:
            self.carry = data
            return
        self._lines(data[:cut + 1])
        self.carry = data[cut + 1:]

    def finish(self) -> None:
        if self.carry:  # a last line without its newline (still being written): it counts
            self._lines(self.carry + b"\n")
            self.carry = b""

    def _lines(self, data: bytes) -> None:
        if self.cutoff is not None:
            offset = _first_recent(data, self.cutoff, self.now, self.scan)
            if offset is None:
                return  # older than the window: not counted either
            data = data[offset:]
            self.cutoff = None
        text = data.decode("utf-8", "replace")
        if "\r" in text:
            text = text.replace("\r\n", "\n")  # a CRLF log: `$` ends a line before its \r
        for pattern in self.forbid:
            hits = self.scan.hits[pattern.pattern]
            counted_to, counted = 0, 0  # newlines are counted once per block and pattern, not per match
            for start, line in _matching_lines(pattern, text):
                counted += text.count("\n", counted_to, start)
                counted_to = start
                number = self.line + counted
                hits.lines += 1
                hits.last.append((number, line))
                if hits.numbers is not None:
                    hits.numbers.append(number)
        for pattern in self.require:
            if self.scan.found[pattern.pattern] is not None and not self.last_required:
                continue  # seen: enough, unless the tail of a compressed file needs the last time
            last = None
            for start, _ in _matching_lines(pattern, text):
                last = start
                if not self.last_required:
                    break
            if last is not None:
                self.scan.found[pattern.pattern] = self.line + text.count("\n", 0, last)
        self.line += text.count("\n")


def _matching_lines(pattern: re.Pattern[str], text: str) -> Iterator[tuple[int, str]]:
    """(start, line) of each line of `text` (which ends with a newline) that `pattern` matches,
    found by searching the whole block, each match confirmed on its own line."""
    position = 0
    search = pattern.search
    while (match := search(text, position)) is not None:
        start = text.rfind("\n", 0, match.start()) + 1
        end = text.find("\n", match.start())
        if end < 0:
            end = len(text)
        line = text[start:end]
        if search(line) is not None:
            yield start, line
            position = end + 1
        else:  # it spanned lines (`\s` takes a newline): look on from just after its start
            position = match.start() + 1
        if position >= len(text):
            return


def _first_recent(block: bytes, cutoff: float, now: float, scan: LogScan) -> int | None:
    """Where in `block` (whole lines) the first line timed at `cutoff` or later starts; None
    when its last timed line is older (or it has none)."""
    lines = block.split(b"\n")
    for line in reversed(lines):
        stamp = line_time(line, now)
        if stamp is not None:
            scan.timed = True
            if stamp < cutoff:
                return None
            break
    else:
        return None
    offset = 0
    for line in lines:
        stamp = line_time(line, now)
        if stamp is not None and stamp >= cutoff:
            return offset
        offset += len(line) + 1
    return None  # pragma: no cover - the loop above found one


_COMPRESSED = cast("dict[str, Callable[..., IO[bytes]]]", {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open})


def read_log(path: Path, options: LogsOptions, forbid: list[re.Pattern[str]], require: list[re.Pattern[str]],
             keep: int, now: float, progress: Callable[[], None] = lambda: None, name: str = "") -> LogScan:
    """Read the part of one log file the options name and search it (`name`: as messages show it).

    Raises:
        CheckError: the file cannot be read as a log (UTF-16, a corrupt archive, truncated while
            read, no timestamps for `since`).
    """
    name = name or shown(str(path))
    opener = _COMPRESSED.get(path.suffix.lower())
    if opener is not None:
        return _read_compressed(path, opener, options, forbid, require, keep, now, progress, name)
    scan = LogScan()
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size  # what it holds now: lines written meanwhile wait
        _not_utf16(handle.read(2), name)
        start = 0
        if options.tail is not None:
            start = tail_start(handle, size, options.tail, progress)
            scan.from_end = True
        elif options.since is not None:
            found = since_start(handle, size, now - options.since, now, progress)
            if found is None:
                raise CheckError(f"{name}: no line begins with a timestamp the gate reads "
                                 "(ISO 8601, RFC 3339, syslog, Apache or nginx), so since cannot pick lines")
            start = found
            scan.from_end = True
        scanner = _Scanner(forbid, require, keep, scan)
        handle.seek(start)
        left = size - start
        while left > 0:
            data = handle.read(min(BLOCK, left))
            if not data:  # truncated while read (rotated by copy and truncate)
                raise CheckError(f"{name} was truncated while it was read (rotated?): "
                                 f"{count(scan.size)} of {count(size - start)} bytes read")
            left -= len(data)
            scan.size += len(data)
            scanner.feed(data)
            progress()
        scanner.finish()
        scan.lines = scanner.line
    return scan


def _not_utf16(start: bytes, name: str) -> None:
    if start in (b"\xff\xfe", b"\xfe\xff"):
        raise CheckError(f"{name} is UTF-16 (it starts with a byte-order mark): the gate reads logs written in "
                         "UTF-8 (or ASCII, or latin-1)")


def _read_compressed(path: Path, opener: Callable[..., IO[bytes]], options: LogsOptions,
                     forbid: list[re.Pattern[str]], require: list[re.Pattern[str]], keep: int, now: float,
                     progress: Callable[[], None], name: str) -> LogScan:
    """A rotated, compressed log: streamed whole (it cannot be read from the end). With `tail`,
    the numbers of the matching lines are kept (at most `tail` per pattern) and those before the
    last N lines dropped at the end; with `since`, lines before the first recent one are skipped."""
    import zlib

    scan = LogScan()
    cutoff = now - options.since if options.since is not None else None
    scanner = _Scanner(forbid, require, keep, scan, numbers=options.tail, cutoff=cutoff, now=now)
    try:
        with opener(path, "rb") as stream:
            first = True
            while data := stream.read(BLOCK):
                if first:
                    _not_utf16(data[:2], name)
                    first = False
                scan.size += len(data)
                scanner.feed(data)
                progress()
    except FileNotFoundError:
        raise
    except (OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
        raise CheckError(f"{name}: not a readable {path.suffix.lower()[1:]} file ({exc})") from None
    scanner.finish()
    scan.lines = scanner.line
    if cutoff is not None:
        if not scan.timed:
            raise CheckError(f"{name}: no line begins with a timestamp the gate reads "
                             "(ISO 8601, RFC 3339, syslog, Apache or nginx), so since cannot pick lines")
        scan.from_end = True
    if options.tail is not None:
        first_line = max(0, scan.lines - options.tail)  # lines before it are not in the tail
        for hits in scan.hits.values():
            hits.lines = sum(1 for number in hits.numbers or () if number >= first_line)
            hits.last = deque(((number - first_line, line) for number, line in hits.last if number >= first_line),
                              maxlen=keep)
        scan.found = {p: (n - first_line if n is not None and n >= first_line else None) for p, n in scan.found.items()}
        scan.lines -= first_line
        scan.from_end = True
    return scan


# -- the kind ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogFile:
    """One item: a file the glob matched (as shown, and on disk); or, with `problem`, what stands
    in the way of reading it (a link out of the config's folder, a folder that cannot be read);
    or neither: the glob matched nothing (`folder`: it names a folder)."""

    shown: str | None
    path: str | None
    problem: str | None = None
    folder: bool = False


class LogsCheck(CheckKind[LogsOptions, LogFile]):
    """`[[logs]]`: one item per file the `path` glob matches."""

    name = "logs"
    summary = BUILTIN["logs"].summary

    def parse(self, reader: EntryReader) -> LogsOptions:
        path = normal_glob(reader.required_string("path").strip())
        why = check_glob(path)
        if why:
            raise reader.error("path", why)
        forbid = reader.strings("forbid", interpolate=False)
        require = reader.strings("require", interpolate=False)
        if not forbid and not require:
            raise reader.error("forbid", "give forbid (patterns no line may match) or require (patterns a line must match), or both")
        for key, patterns in (("forbid", forbid), ("require", require)):
            for pattern in patterns:
                reader.check_regex(key, pattern)
                if key == "forbid" and line_pattern(pattern).search("") is not None:
                    raise reader.error(key, f"'{pattern}' matches an empty line, so every line")
        tail = reader.integer("tail", minimum=1, maximum=100_000_000)
        since = reader.duration("since")
        if tail is not None and since is not None:
            raise reader.error("since", "give tail (the last N lines) or since (lines that recent), not both")
        if since is not None and since <= 0:
            raise reader.error("since", "must be more than 0")
        return LogsOptions(path, reader.base_dir, forbid, require, tail, since, reader.boolean("missing_ok"))

    def default_name(self, options: LogsOptions, entry_index: int, database: str | None) -> str:
        return ""

    def expand(self, entry: Entry[LogsOptions]) -> list[Target[LogsOptions, LogFile]]:
        options = entry.options
        key = f"logs\x00{entry.source}\x00{entry.index}\x00{options.path}"

        def read() -> dict[str, Any]:
            found = find(options.base, options.path)
            return {
                "files": [[shown(name), str(path)] for name, path in found.files.items()],
                "escaping": [[shown(name), why] for name, why in sorted(found.escaping.items())],
                "unreadable": [[shown(where), why] for where, why in found.unreadable],
                "folder": bool(found.folders),
            }

        found = shared_by_workers(key, read)
        targets = [Target.at(entry, id_part(name), payload=LogFile(name, path), subject=name)
                   for name, path in found["files"]]
        targets += [Target.at(entry, id_part(name), subject=name, payload=LogFile(
            name, None, f"is {why}: not followed (write the absolute path of the log it points to, to read it)"))
            for name, why in found["escaping"]]
        if found["unreadable"]:
            where, why = found["unreadable"][0]
            more = f" (and {plural(len(found['unreadable']) - 1, 'more')})" if len(found["unreadable"]) > 1 else ""
            targets.append(Target.at(entry, id_part(options.path), subject=options.path, payload=LogFile(
                options.path, None, f"{where} cannot be read: {why}{more}")))
        if not targets:
            return [Target.at(entry, id_part(options.path), payload=LogFile(None, None, folder=found["folder"]),
                              subject=options.path)]
        return targets

    def run(self, target: Target[LogsOptions, LogFile], ctx: RunContext) -> Result:
        options = target.entry.options
        log = target.payload
        if log.problem is not None:
            raise CheckError(f"{log.shown} {log.problem}" if log.problem.startswith("is ") else f"{log.shown}: {log.problem}")
        if log.shown is None or log.path is None:
            hint = f" ({options.path} is a folder: give a glob of its files, {options.path}/*.log)" if log.folder else ""
            if options.missing_ok and not log.folder:
                return Result.ok(f"no file matches {options.path} (missing_ok)")
            return Result.fail(f"no file matches {options.path}{hint}")
        try:
            scan = read_log(Path(log.path), options, [line_pattern(p) for p in options.forbid],
                            [line_pattern(p) for p in options.require], ctx.samples, time.time(),
                            lambda: ctx.check_deadline(f"reading {log.shown}"), name=log.shown)
        except FileNotFoundError:
            return Result.fail(f"{log.shown} is gone (it was there when the gate was collected: rotated?)")
        except OSError as exc:
            raise CheckError(f"{log.shown} cannot be read: {exc.strerror or exc}") from None
        return judge(log.shown, options, scan, ctx.samples)


def judge(name: str, options: LogsOptions, scan: LogScan, samples: int) -> Result:
    """The verdict on one file's scan."""
    window = options.window
    within = f" (in {window}; line numbers count from the end)" if window else ""
    figures = {"lines": scan.lines, "bytes": scan.size, "matches": sum(h.lines for h in scan.hits.values())}
    long_note = (f"{plural(scan.long_lines, 'line')} longer than {MAX_LINE // (1024 * 1024)} MiB checked on "
                 f"{'its' if scan.long_lines == 1 else 'their'} first {MAX_LINE // (1024 * 1024)} MiB") if scan.long_lines else ""
    problems: list[str] = []
    shown_lines: list[tuple[int, str]] = []
    first_pattern = True
    written = {line_pattern(p).pattern: p for p in (*options.forbid, *options.require)}  # as the config says them
    for pattern, hits in scan.hits.items():
        if hits.lines:
            problems.append(f"{plural(hits.lines, 'line')} {'matches' if hits.lines == 1 else 'match'} "
                            f"'{written.get(pattern, pattern)}' in {name}")
            # the verdict's pattern: its last lines; each other pattern: its last line
            shown_lines += list(hits.last)[-samples:] if first_pattern else list(hits.last)[-1:]
            first_pattern = False
    for pattern, seen in scan.found.items():
        if seen is None:
            problems.append(f"no line matches '{written.get(pattern, pattern)}' in {name}" + (f" ({window})" if window else ""))
    if not problems:
        read = f"{plural(scan.lines, 'line')} of {name}" + (f" ({window})" if window else "")
        return Result.ok(f"{read}: nothing forbidden" + (", everything required found" if options.require else "")
                         + (f" ({long_note})" if long_note else ""), **figures)
    verdict = problems[0] + (within if any(h.lines for h in scan.hits.values()) else "")
    lines = [f"also: {problem}" for problem in problems[1:]]
    if samples:
        for number, text in shown_lines:
            label = f"{number - scan.lines}" if scan.from_end else count(number + 1)
            lines.append(f"line {label}: {_show(text)}")
    if long_note:
        lines.append(f"({long_note})")
    return Result.fail(verdict, lines, **figures)


def _show(line: str) -> str:
    text = printable(line.rstrip("\r"))
    return text if len(text) <= LINE_SHOWN else text[:LINE_SHOWN - 1] + "…"
