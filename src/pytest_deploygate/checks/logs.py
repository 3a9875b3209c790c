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

import calendar
import gzip
import os
import re
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from ..api import CheckKind, Entry, Result, RunContext, Target, shared_by_workers
from ..config import EntryReader
from ..errors import CheckError
from ..wording import count, format_duration, plural
from . import BUILTIN
from .paths import check_glob, find, shown

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


@dataclass
class PatternHits:
    """The lines one pattern matched: how many, and the last `samples` of them."""

    lines: int = 0
    last: deque[tuple[int, str]] = field(default_factory=deque)


@dataclass
class LogScan:
    """What reading one file found.

    Attributes:
        lines: lines read; `size`: bytes read.
        from_end: line numbers count from the end (-1 is the last line read), as only the end
            of the file was read; else they count from 1.
        hits: forbid pattern -> its matches; `found`: require pattern -> seen.
        long_lines: lines longer than MAX_LINE (checked on their start).
    """

    lines: int = 0
    size: int = 0
    from_end: bool = False
    hits: dict[str, PatternHits] = field(default_factory=dict)
    found: dict[str, bool] = field(default_factory=dict)
    long_lines: int = 0


# -- timestamps -------------------------------------------------------------------------------------

_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                                       "Nov", "Dec"), start=1)}
# ISO 8601 / RFC 3339 (also after a syslog RFC 5424 `<pri>1 ` or an opening bracket or quote)
_ISO = re.compile(rb"^(?:<\d{1,3}>\d? ?)?[\[\"'{ ]{0,2}(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})"
                  rb"(?:[.,]\d+)?\s?(Z|[+-]\d{2}:?\d{2})?")
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


def tail_start(handle: IO[bytes], size: int, lines: int) -> int:
    """The offset where the last `lines` lines of the first `size` bytes begin, read backwards."""
    if lines <= 0 or size == 0:
        return size
    handle.seek(size - 1)
    end = size - 1 if handle.read(1) == b"\n" else size  # a final newline ends the last line
    found, pos = 0, end
    while pos > 0:
        start = max(0, pos - 64 * 1024)
        handle.seek(start)
        block = handle.read(pos - start)
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


def _first_timed(handle: IO[bytes], offset: int, size: int, now: float) -> tuple[int, float] | None:
    """(offset, time) of the first line at or after `offset` (at a line start, or the next
    one) that begins with a timestamp; None when no line up to `size` does."""
    handle.seek(offset)
    if offset > 0:
        handle.readline(MAX_LINE)  # the rest of the line the offset fell in
        while handle.tell() < size and not _at_line_start(handle):
            handle.readline(MAX_LINE)
    position = handle.tell()
    while position < size:
        line = handle.readline(MAX_LINE)
        if not line:
            return None
        stamp = line_time(line, now)
        if stamp is not None:
            return position, stamp
        position = handle.tell()
        while not line.endswith(b"\n") and position < size:  # the rest of a line over MAX_LINE
            line = handle.readline(MAX_LINE)
            if not line:
                return None
            position = handle.tell()
    return None


def _at_line_start(handle: IO[bytes]) -> bool:
    position = handle.tell()
    handle.seek(position - 1)
    start = handle.read(1) == b"\n"
    handle.seek(position)
    return start


def since_start(handle: IO[bytes], size: int, cutoff: float, now: float) -> int | None:
    """The offset of the first line whose timestamp is at `cutoff` or later, by binary search over
    the file's timestamped lines (logs are written in time order); `size` when none is; None when
    no line has a timestamp the gate reads."""
    first = _first_timed(handle, 0, size, now)
    if first is None:
        return None
    if first[1] >= cutoff:
        return first[0]
    low, high = first[0] + 1, size  # the answer is a timed line's offset in (low, high]
    answer = size
    while low < high:
        middle = (low + high) // 2
        probe = _first_timed(handle, middle, size, now)
        if probe is None:
            high = middle
        elif probe[1] >= cutoff:
            answer = min(answer, probe[0])
            high = middle
        else:
            low = probe[0] + 1
    probe = _first_timed(handle, low, size, now)
    if probe is not None and probe[1] >= cutoff:
        answer = min(answer, probe[0])
    return answer


# -- reading ----------------------------------------------------------------------------------------


class _Scanner:
    """Lines fed in blocks, searched for every pattern; counts and keeps the last samples."""

    def __init__(self, forbid: list[re.Pattern[str]], require: list[re.Pattern[str]], keep: int,
                 scan: LogScan, lines_from: int = 0) -> None:
        self.forbid = forbid
        self.require = require
        self.keep = keep
        self.scan = scan
        self.line = lines_from  # lines before the current block
        for pattern in forbid:
            scan.hits[pattern.pattern] = PatternHits(last=deque(maxlen=keep))
        for pattern in require:
            scan.found[pattern.pattern] = False
        self.carry = b""
        self.skipping = False  # inside a line longer than MAX_LINE, past its first MAX_LINE bytes

    def feed(self, data: bytes) -> None:
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
            self._block(data[:MAX_LINE] + b"\n")
            self.scan.long_lines += 1
            if first < 0:
                self.skipping = True
                return
            data = data[first + 1:]
        cut = data.rfind(b"\n")
        if cut < 0:
            self.carry = data
            return
        self._block(data[:cut + 1])
        self.carry = data[cut + 1:]

    def finish(self) -> None:
        if self.carry:  # a last line without its newline (still being written): it counts
            self._block(self.carry + b"\n")
            self.carry = b""

    def _block(self, data: bytes) -> None:
        text = data.decode("utf-8", "replace")
        for pattern in self.forbid:
            hits = self.scan.hits[pattern.pattern]
            for start, line in _matching_lines(pattern, text):
                hits.lines += 1
                hits.last.append((self.line + text.count("\n", 0, start), line))
        for pattern in self.require:
            if not self.scan.found[pattern.pattern] and any(True for _ in _matching_lines(pattern, text)):
                self.scan.found[pattern.pattern] = True
        self.line += text.count("\n")


def _matching_lines(pattern: re.Pattern[str], text: str) -> Iterator[tuple[int, str]]:
    """(start, line) of each line of `text` (which ends with a newline) that `pattern` matches,
    found by searching the whole block, each match confirmed on its own line."""
    position = 0
    search = pattern.search
    while (match := search(text, position)) is not None:
        start = text.rfind("\n", 0, match.start()) + 1
        end = text.find("\n", match.start())
        line = text[start:end]
        if search(line) is not None:
            yield start, line
            position = end + 1
        else:  # it spanned lines (`\s` takes a newline): look on from just after its start
            position = match.start() + 1
        if position >= len(text):
            return


def read_log(path: Path, options: LogsOptions, forbid: list[re.Pattern[str]], require: list[re.Pattern[str]],
             keep: int, now: float, progress: Callable[[], None] = lambda: None) -> LogScan:
    """Read the part of one log file the options name and search it."""
    scan = LogScan()
    if path.name.endswith(".gz"):
        return _read_gzip(path, options, forbid, require, keep, now, progress, scan)
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size  # what it holds now: lines written meanwhile wait
        start = 0
        if options.tail is not None:
            start = tail_start(handle, size, options.tail)
            scan.from_end = True
        elif options.since is not None:
            found = since_start(handle, size, now - options.since, now)
            if found is None:
                raise CheckError(f"{shown(str(path))}: no line begins with a timestamp the gate reads "
                                 "(ISO 8601, RFC 3339, syslog, Apache or nginx), so since cannot pick lines")
            start = found
            scan.from_end = True
        scanner = _Scanner(forbid, require, keep, scan)
        handle.seek(start)
        left = size - start
        while left > 0:
            data = handle.read(min(BLOCK, left))
            if not data:  # truncated while read (rotated by copy and truncate)
                break
            left -= len(data)
            scan.size += len(data)
            scanner.feed(data)
            progress()
        scanner.finish()
        scan.lines = scanner.line
    return scan


def _read_gzip(path: Path, options: LogsOptions, forbid: list[re.Pattern[str]], require: list[re.Pattern[str]],
               keep: int, now: float, progress: Callable[[], None], scan: LogScan) -> LogScan:
    """A rotated, compressed log: streamed whole (it cannot be read from the end). With `tail`,
    matches are kept by line number and those before the last N lines dropped at the end; with
    `since`, blocks whose last timestamp is older are only counted."""
    cutoff = now - options.since if options.since is not None else None
    scanner = _Scanner(forbid, require, options.tail if options.tail is not None else keep, scan)
    started = cutoff is None
    lines_before = 0
    try:
        with gzip.open(path, "rb") as stream:
            carry = b""
            while data := stream.read(BLOCK):
                progress()
                scan.size += len(data)
                if started:
                    scanner.feed(data)
                    continue
                data = carry + data
                cut = data.rfind(b"\n")
                block, carry = (data[:cut + 1], data[cut + 1:]) if cut >= 0 else (b"", data)
                offset = _first_recent(block, cutoff or 0.0, now)
                if offset is None:
                    lines_before += block.count(b"\n")
                    continue
                lines_before += block.count(b"\n", 0, offset)
                started = True
                scanner.feed(block[offset:] + carry)
                carry = b""
            if not started and carry:
                offset = _first_recent(carry + b"\n", cutoff or 0.0, now)
                if offset is not None:
                    scanner.feed(carry[offset:])
    except (OSError, EOFError, zlib.error) as exc:
        raise CheckError(f"{shown(str(path))}: not a readable gzip file ({exc})") from None
    scanner.finish()
    scan.lines = scanner.line
    if options.tail is not None:
        # every match of the last N lines was kept (at most N per pattern): drop the earlier ones
        first = max(0, scan.lines - options.tail)
        for hits in scan.hits.values():
            inside = [(number - first, line) for number, line in hits.last if number >= first]
            hits.lines = len(inside)
            hits.last = deque(inside[-keep:] if keep else [], maxlen=keep)
        scan.found = dict.fromkeys(scan.found, False)  # searched again, within the tail
        _require_in_tail(path, require, scan, first)
        scan.lines -= first
        scan.from_end = True
    elif cutoff is not None:
        scan.from_end = True
    return scan


def _require_in_tail(path: Path, require: list[re.Pattern[str]], scan: LogScan, first: int) -> None:
    """`require` within the last N lines of a gzip file: a second pass from line `first`."""
    if not require:
        return
    with gzip.open(path, "rb") as stream:
        for number, raw in enumerate(stream):
            if number < first:
                continue
            line = raw[:MAX_LINE].decode("utf-8", "replace")
            for pattern in require:
                if not scan.found[pattern.pattern] and pattern.search(line):
                    scan.found[pattern.pattern] = True
            if all(scan.found.values()):
                return


def _first_recent(block: bytes, cutoff: float, now: float) -> int | None:
    """Where in `block` (whole lines) the first line timed at `cutoff` or later starts; None
    when its last timed line is older (or it has none)."""
    lines = block.split(b"\n")
    for line in reversed(lines):
        stamp = line_time(line, now)
        if stamp is not None:
            if stamp < cutoff:
                return None
            break
    else:
        return None
    offsets = [0]
    for line in lines[:-1]:
        offsets.append(offsets[-1] + len(line) + 1)
    for offset, line in zip(offsets, lines, strict=False):
        stamp = line_time(line, now)
        if stamp is not None and stamp >= cutoff:
            return offset
    return None  # pragma: no cover - the loop above found one


# -- the kind ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogFile:
    """One item: a file the glob matched (as shown, and on disk), or None: the glob matched none."""

    shown: str | None
    path: str | None


class LogsCheck(CheckKind[LogsOptions, LogFile]):
    """`[[logs]]`: one item per file the `path` glob matches."""

    name = "logs"
    summary = BUILTIN["logs"].summary

    def parse(self, reader: EntryReader) -> LogsOptions:
        path = reader.required_string("path").strip()
        why = check_glob(path)
        if why:
            raise reader.error("path", why)
        forbid = reader.strings("forbid", interpolate=False)
        require = reader.strings("require", interpolate=False)
        if not forbid and not require:
            raise reader.error("forbid", "give forbid (patterns no line may match) or require (patterns a line must match), or both")
        for key, patterns in (("forbid", forbid), ("require", require)):
            for pattern in patterns:
                compiled = reader.check_regex(key, pattern)
                if compiled.search("") is not None:
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
        found = shared_by_workers(key, lambda: {"files": sorted(
            [name, str(path)] for name, path in find(options.base, options.path).files.items())})
        files = [(str(name), str(path)) for name, path in found["files"]]
        if not files:
            return [Target.at(entry, _id_part(options.path), payload=LogFile(None, None), subject=options.path)]
        return [Target.at(entry, _id_part(name), payload=LogFile(name, path), subject=name) for name, path in files]

    def run(self, target: Target[LogsOptions, LogFile], ctx: RunContext) -> Result:
        options = target.entry.options
        log = target.payload
        if log.shown is None or log.path is None:
            if options.missing_ok:
                return Result.ok(f"no file matches {options.path} (missing_ok)")
            return Result.fail(f"no file matches {options.path}")
        path = Path(log.path)
        try:
            scan = read_log(path, options, [re.compile(p, re.MULTILINE) for p in options.forbid],
                            [re.compile(p, re.MULTILINE) for p in options.require], ctx.samples, time.time(),
                            lambda: ctx.check_deadline(f"reading {log.shown}"))
        except FileNotFoundError:
            return Result.fail(f"{log.shown} is gone (it was there when the gate was collected: rotated?)")
        except OSError as exc:
            raise CheckError(f"{log.shown}: cannot be read: {exc.strerror or exc}") from None
        return judge(log.shown, options, scan, ctx.samples)


def judge(name: str, options: LogsOptions, scan: LogScan, samples: int) -> Result:
    """The verdict on one file's scan."""
    window = options.window
    within = f" (in {window}; line numbers count from the end)" if window else ""
    figures = {"lines": scan.lines, "bytes": scan.size,
               "matches": sum(h.lines for h in scan.hits.values())}
    problems: list[str] = []
    shown_lines: list[tuple[int, str]] = []
    for pattern, hits in scan.hits.items():
        if hits.lines:
            problems.append(f"{plural(hits.lines, 'line')} {'matches' if hits.lines == 1 else 'match'} "
                            f"'{pattern}' in {name}")
            shown_lines += hits.last
    for pattern, seen in scan.found.items():
        if not seen:
            problems.append(f"no line matches '{pattern}' in {name}"
                            + (f" ({window})" if window else ""))
    if not problems:
        read = f"{plural(scan.lines, 'line')} of {name}" + (f" ({window})" if window else "")
        return Result.ok(f"{read}: nothing forbidden" + (", everything required found" if options.require else ""),
                         **figures)
    verdict = problems[0] + (within if scan.hits and any(h.lines for h in scan.hits.values()) else "")
    lines = [f"also: {problem}" for problem in problems[1:]]
    for number, text in sorted(set(shown_lines))[-samples:] if samples else []:
        label = f"{number - scan.lines}" if scan.from_end else count(number + 1)
        lines.append(f"line {label}: {_show(text)}")
    if scan.long_lines:
        lines.append(f"({plural(scan.long_lines, 'line')} longer than {MAX_LINE // (1024 * 1024)} MiB checked on "
                     f"{'its' if scan.long_lines == 1 else 'their'} first {MAX_LINE // (1024 * 1024)} MiB)")
    return Result.fail(verdict, lines, **figures)


def _show(line: str) -> str:
    text = "".join(ch if ch.isprintable() or ch == "\t" else f"\\x{ord(ch):02x}" for ch in line.rstrip("\r"))
    return text if len(text) <= LINE_SHOWN else text[:LINE_SHOWN - 1] + "…"


def _id_part(text: str) -> str:
    """A path as part of an item id: brackets and spaces, which ids cannot hold, become `_`."""
    return re.sub(r"[\[\]\s]", "_", text)

