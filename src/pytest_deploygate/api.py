"""The contract between the gate and its check families.

A check family (a "kind") is a :class:`CheckKind`, generic in the type of its parsed options and
the payload each of its targets carries: it reads its config table through an
:class:`~pytest_deploygate.config.EntryReader` into its options, expands an :class:`Entry` into
:class:`Target` s (one pytest item each) and runs one target into a :class:`Result`. mypy checks
what a kind reads: `entry.options` and `target.payload` have the kind's own types.

:class:`AspectKind` is the base for an entry whose items are fixed aspects of one shared
computation (`[[migrations]]`: table, pending, missing, failed, checksums from one read).

Nothing here imports pytest, so a kind is testable as plain Python.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar, cast

from .ahead import Ahead
from .errors import CheckError
from .wording import count, format_duration, plural

__all__ = [
    "AspectKind", "CheckKind", "DatabaseUse", "Entry", "Figure", "Result", "RunContext", "RunOptions",
    "Severity", "Target", "count", "id_part", "item_id", "plural", "shared_by_workers",
]

if TYPE_CHECKING:
    from .config import EntryReader, GateConfig
    from .db import Database, DatabasePool
    from .secrets import Redactor

Severity = Literal["fail", "warn"]
#: whether a kind's entries take a `database` key: never, when the user gives one, always
DatabaseUse = Literal["no", "optional", "required"]
Figure = int | float
T = TypeVar("T")
OptionsT = TypeVar("OptionsT")
PayloadT = TypeVar("PayloadT")
SharedT = TypeVar("SharedT")


def item_id(name: str, *parts: str, aspect: str | None = None) -> str:
    """The id inside an item's brackets: `main.ads.slug:not_null`.

    Args:
        name: the entry's name (may be "", then the id starts with the first part).
        parts: what the item checks within the entry (a table, a column, a file pattern).
        aspect: which check of it (`not_null`, `pending`, `missing`), after a colon.
    """
    text = ".".join(part for part in (name, *parts) if part)
    return f"{text}:{aspect}" if aspect else text


def id_part(text: str) -> str:
    """Text (a path, a URL's path) as part of an item id: `%`, brackets, whitespace and control
    characters, which an id cannot hold, percent-encoded, so that two texts never give one id."""
    return re.sub(r"[%\[\]\s\x00-\x1f\x7f]", lambda m: f"%{ord(m.group()):02X}", text)


@dataclass(frozen=True)
class Entry(Generic[OptionsT]):
    """One validated check table of the config (`[[sql]]`, `[[rows]]`, ...).

    Attributes:
        kind: the kind's name, which is also its TOML table name and its pytest mark.
        index: 1-based position among the entries of the same kind, for messages.
        name: the id prefix of its items (given as `name`, else derived by the kind).
        severity: "fail" fails the run, "warn" only reports.
        marks: extra pytest marks, by name.
        timeout: time budget of each of its items, in seconds.
        skip: a reason to skip its items, or None.
        options: the kind's own parsed options (a frozen dataclass of the kind's choosing).
        source: the config file it was read from.
        database: the database alias it uses, if it has one.
    """

    kind: str
    index: int
    name: str
    severity: Severity
    marks: tuple[str, ...]
    timeout: float
    skip: str | None
    options: OptionsT
    source: Path
    database: str | None = None

    @property
    def label(self) -> str:
        """How messages name this entry: `[[sql]] #2 "ads-without-images"`."""
        return f'[[{self.kind}]] #{self.index} "{self.name}"'


@dataclass(frozen=True)
class Target(Generic[OptionsT, PayloadT]):
    """One item of the gate: what one entry checks on one thing.

    Build it with :meth:`at`, which makes the id from its parts.

    Attributes:
        entry: the entry it comes from.
        payload: what the kind needs to run it (frozen, picklable), of the kind's payload type.
        suffix: appended to the entry's name to make the item id (`.ads`, `:pending`, ...).
        subject: what it checks, in words, for reports (`ads.slug`, `/api/health`).
        severity: overrides the entry's severity for this target (e.g. a per-rule severity).
    """

    entry: Entry[OptionsT]
    _: KW_ONLY  # Target(entry, payload=..., suffix=...): a field given by position is a mistake
    payload: PayloadT
    suffix: str = ""
    subject: str = ""
    severity: Severity | None = None

    @classmethod
    def at(cls, entry: Entry[OptionsT], *parts: str, payload: PayloadT, aspect: str | None = None,
           subject: str = "", severity: Severity | None = None) -> Target[OptionsT, PayloadT]:
        """The target `entry.name.part...:aspect` (see :func:`item_id`).

        Args:
            entry: the entry it comes from.
            parts: what it checks within the entry (`"ads"`, `"slug"`).
            payload: what the kind needs to run it.
            aspect: which check of it, after a colon (`"not_null"`).
            subject: what it checks, in words, for reports.
            severity: overrides the entry's severity.
        """
        suffix = item_id(entry.name, *parts, aspect=aspect)[len(entry.name):]
        return cls(entry, payload=payload, suffix=suffix, subject=subject, severity=severity)

    @property
    def id(self) -> str:
        """The part of the item name inside the brackets: `main.ads.slug:not_null`."""
        return self.entry.name + self.suffix

    @property
    def item_name(self) -> str:
        """The item's name: `rows[main.ads.slug:not_null]`."""
        return f"{self.entry.kind}[{self.id}]"

    @property
    def effective_severity(self) -> Severity:
        """The target's own severity, else its entry's."""
        return self.severity or self.entry.severity


@dataclass(frozen=True)
class Result:
    """What running one target found.

    Attributes:
        status: "passed", "failed" (a problem found), "error" (could not check: a database
            unreachable, a query that failed; never a pass, whatever the severity) or "skipped".
        verdict: the first line a person reads (`3 of 120,412 rows in ads have slug NULL`).
        samples: up to `samples` examples, each naming a row, a file or a line.
        figures: measured numbers (counts, latency in ms, age in seconds) for JUnit and reports.
    """

    status: Literal["passed", "failed", "error", "skipped"]
    verdict: str = ""
    samples: tuple[str, ...] = ()
    figures: Mapping[str, Figure] = field(default_factory=dict)

    @classmethod
    def ok(cls, verdict: str = "", **figures: Figure) -> Result:
        """A pass, with what was measured."""
        return cls("passed", verdict, (), figures)

    @classmethod
    def fail(cls, verdict: str, samples: Sequence[str] = (), **figures: Figure) -> Result:
        """A failure: the verdict, up to `samples` examples, and what was measured."""
        return cls("failed", verdict, tuple(samples), figures)

    @classmethod
    def error(cls, reason: str) -> Result:
        """Could not check (what a raised CheckError becomes): fails even a `warn` check."""
        return cls("error", reason)

    @classmethod
    def skip(cls, reason: str) -> Result:
        """Nothing to check, and why."""
        return cls("skipped", reason)

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@dataclass(frozen=True)
class RunOptions:
    """The plugin's switches, as kinds see them.

    Attributes:
        update_snapshots: `--deploygate-update-snapshots`: rewrite snapshot files instead of comparing.
        xdist_worker: running in a pytest-xdist worker, whose siblings already keep the cores
            busy: a kind should not start parallel work of its own.
    """

    update_snapshots: bool = False
    xdist_worker: bool = False


@dataclass
class RunContext:
    """What a kind's `run` gets besides its target.

    Attributes:
        gate: the whole parsed config.
        databases: the per-process pool of read-only databases.
        redactor: scrubs secrets from any text.
        samples: how many examples a failure shows.
        timeout: this item's time budget, in seconds.
        fixtures: the pytest fixtures the kind asked for, by name.
        options: the plugin's switches.
        cache: per-process memo shared by all items (see :meth:`memo`).
        deadline: when this item's time is up, on the `time.monotonic()` clock (by default
            `timeout` from when the context is made, just before the item runs); long walks and
            hashing call :meth:`check_deadline`.
        ahead: the fetches started before their items (see :meth:`CheckKind.fetch`), shared by
            the items of one gate in one process.
    """

    gate: GateConfig
    databases: DatabasePool
    redactor: Redactor
    samples: int
    timeout: float
    fixtures: Mapping[str, Any] = field(default_factory=dict)
    options: RunOptions = field(default_factory=RunOptions)
    cache: dict[Any, Any] = field(default_factory=dict)
    deadline: float | None = None
    ahead: Ahead = field(default_factory=Ahead)

    def __post_init__(self) -> None:
        if self.deadline is None:
            self.deadline = time.monotonic() + self.timeout

    def database(self, alias: str) -> Database:
        """The database named `alias` in the config; raises CheckError when unreachable."""
        return self.databases.get(alias)

    def remaining(self) -> float:
        """Seconds left before :attr:`deadline` (0 when past it)."""
        return max(0.0, (self.deadline or 0.0) - time.monotonic())

    def check_deadline(self, what: str) -> None:
        """Raise CheckError when the item's time is up: call it between units of long work.

        Args:
            what: the work under way, for the message (`walking apps/web/public`).
        """
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise CheckError(f"{what}: stopped after {format_duration(self.timeout)} (the check's timeout)")

    def fetch_ahead(self, kind: CheckKind[Any, PayloadT], target: Target[Any, PayloadT]) -> None:
        """Start `kind.fetch` for `target` (whose context this is) before its item runs."""
        self.ahead.start(fetch_key(target), lambda: kind.fetch(target, self), kind.fetch_bound(target))

    def fetched(self, kind: CheckKind[Any, PayloadT], target: Target[Any, PayloadT]) -> Any:
        """What `kind.fetch(target, ...)` returned: taken from the fetch the gate started ahead
        of this item, or fetched now. Raises what the fetch raised, or CheckError when it has not
        finished within `kind.fetch_bound(target)` seconds."""
        self.fetch_ahead(kind, target)  # started now, if the gate did not start it ahead
        return self.ahead.take(fetch_key(target))

    def memo(self, key: Any, compute: Callable[[], T]) -> T:
        """Compute once per process and share: one scan serves every item that needs it.

        A failure is memoised too, so the items sharing a broken computation all fail
        with the same message without repeating it.
        """
        if key not in self.cache:
            try:
                self.cache[key] = (True, compute())
            except CheckError as exc:
                self.cache[key] = (False, exc)
        ok, value = self.cache[key]
        if not ok:
            raise value
        return cast("T", value)


class CheckKind(Generic[OptionsT, PayloadT]):
    """A family of checks: one config table, its validation, its items and its runner.

    Subclass it as `CheckKind[MyOptions, MyPayload]`, set `name`, implement `parse`, `expand`
    (optional) and `run`, and return an instance from the `pytest_deploygate_kinds` hook.
    """

    #: the TOML table name (`[[name]]`) and the pytest mark of its items
    name: ClassVar[str] = ""
    #: one line for `--markers` and the docs
    summary: ClassVar[str] = ""
    #: whether its entries take a `database` key (validated against `[databases]`); with
    #: "required" it may be left out when the config has exactly one database
    uses_database: ClassVar[DatabaseUse] = "no"
    #: pytest fixtures its runner needs; they arrive in `RunContext.fixtures`
    fixtures: ClassVar[tuple[str, ...]] = ()

    def parse(self, reader: EntryReader) -> OptionsT:
        """Read and validate the kind's own keys; return its frozen options.

        Raise `reader.error(key, message)` for a bad value: it names file, check and key.
        """
        return cast("OptionsT", None)

    def default_name(self, options: OptionsT, entry_index: int, database: str | None) -> str:
        """The id prefix when the entry has no `name`."""
        return database or f"{self.name}{entry_index}"

    def expand(self, entry: Entry[OptionsT]) -> Sequence[Target[OptionsT, PayloadT]]:
        """The targets (items) of one entry. Must not read live state: it runs at collection.

        The default is one item named after the entry, with no payload.
        """
        return [Target.at(entry, payload=cast("PayloadT", None))]

    def run(self, target: Target[OptionsT, PayloadT], ctx: RunContext) -> Result:
        """Run one target. Raise CheckError for "could not check"; return a Result otherwise."""
        raise NotImplementedError

    def group(self, target: Target[OptionsT, PayloadT]) -> str | None:
        """A name shared by the items whose work is shared (one scan, one read), else None.

        Such items carry an `xdist_group` mark, so `pytest -n N --dist loadgroup` runs them in
        one worker and the shared work once.
        """
        return None

    def fetch(self, target: Target[OptionsT, PayloadT], ctx: RunContext) -> Any:
        """Optional: the part of a run that only waits on the outside world (an HTTP request).

        A kind that implements it lets the gate start the fetches of the items that follow the
        running one (consecutive items of this kind in one gate file, those pytest will run) in
        background threads, at most `[deploygate] http_concurrency` at a time, so a gate of many
        endpoints does not take the sum of their latencies. `run` gets the value with
        `ctx.fetched(self, target)`. It must be safe to call from a thread, bound its own time
        (see :meth:`fetch_bound`) and not judge: a fetch may happen while another item runs.
        """
        raise NotImplementedError

    def fetch_bound(self, target: Target[OptionsT, PayloadT]) -> float:
        """Seconds after a fetch begins when its item stops waiting for it (a client-side bound
        on top of the fetch's own timeouts). Default: the entry's timeout."""
        return target.entry.timeout

    @property
    def fetches(self) -> bool:
        """Whether this kind implements :meth:`fetch`."""
        return type(self).fetch is not CheckKind.fetch


def shared_by_workers(key: str, read: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """`read()` once per pytest-xdist run, its JSON result shared by every worker that asks: for
    a kind whose `expand` reads live state (a reference database, the files a glob matches).

    Each worker collects the gate itself, and pytest-xdist requires all to collect the same items:
    a reference database reflected by each worker on its own could answer one and not the other,
    or change between them (a log rotated between two workers' collections). The first worker reads it, under a file lock, and leaves the result
    in a file of this run (named by PYTEST_XDIST_TESTRUNUID) for the others. Outside xdist, or
    where file locks do not exist, `read()` is simply called.
    """
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return read()
    if not run or not run.isalnum():
        return read()
    folder = Path(tempfile.gettempdir()) / f"deploygate-xdist-{run}"
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"
    with open(folder / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if path.exists():
                found: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
                return found
            result = read()
            path.write_text(json.dumps(result), encoding="utf-8")
            return result
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def fetch_key(target: Target[Any, Any]) -> tuple[str, str]:
    """What names a target's fetch among a process's: its gate file and its item name."""
    return (str(target.entry.source), target.item_name)


class AspectKind(CheckKind[OptionsT, str], Generic[OptionsT, SharedT]):
    """One entry, several fixed aspects that share one computation.

    Each aspect is an item `name:aspect`. The first item of an entry to run in a process calls
    :meth:`compute` (a read of a table and a folder, a walk, a hash); every aspect then judges
    that shared value in :meth:`judge`. A CheckError from `compute` fails every aspect with its
    message. The items of an entry share an xdist group.
    """

    def aspects(self, entry: Entry[OptionsT]) -> Sequence[str]:
        """The aspects this entry has, in item order (some may depend on its options)."""
        raise NotImplementedError

    def subject(self, entry: Entry[OptionsT], aspect: str) -> str:
        """What an aspect checks, in words, for reports."""
        return aspect

    def compute(self, entry: Entry[OptionsT], ctx: RunContext) -> SharedT:
        """The work every aspect of `entry` shares: run once per entry per process."""
        raise NotImplementedError

    def judge(self, aspect: str, shared: SharedT, target: Target[OptionsT, str], ctx: RunContext) -> Result:
        """One aspect's result, from the shared value."""
        raise NotImplementedError

    def expand(self, entry: Entry[OptionsT]) -> list[Target[OptionsT, str]]:
        return [Target.at(entry, aspect=aspect, payload=aspect, subject=self.subject(entry, aspect))
                for aspect in self.aspects(entry)]

    def run(self, target: Target[OptionsT, str], ctx: RunContext) -> Result:
        entry = target.entry
        # by position, not name: two entries may share a name when their aspects differ
        shared = ctx.memo((self.name, str(entry.source), entry.index), lambda: self.compute(entry, ctx))
        return self.judge(target.payload, shared, target, ctx)

    def group(self, target: Target[OptionsT, str]) -> str | None:
        return f"{self.name}:{target.entry.name}"
