"""The contract between the gate and its check families.

A check family (a "kind") is a :class:`CheckKind`: it reads its config table through an
:class:`EntryReader` into its own frozen options, expands an :class:`Entry` into
:class:`Target` s (one pytest item each) and runs one target into a :class:`Result`.
Nothing here imports pytest, so a kind is testable as plain Python.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

if TYPE_CHECKING:
    from .config import EntryReader, GateConfig
    from .db import Database, DatabasePool
    from .secrets import Redactor

Severity = Literal["fail", "warn"]
Figure = int | float
T = TypeVar("T")


@dataclass(frozen=True)
class Entry:
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
        database: the database alias it uses, if the kind has a `database` key.
    """

    kind: str
    index: int
    name: str
    severity: Severity
    marks: tuple[str, ...]
    timeout: float
    skip: str | None
    options: Any
    source: Path
    database: str | None = None

    @property
    def label(self) -> str:
        """How messages name this entry: `[[sql]] #2 "ads-without-images"`."""
        return f'[[{self.kind}]] #{self.index} "{self.name}"'


@dataclass(frozen=True)
class Target:
    """One item of the gate: what one entry checks on one thing.

    Attributes:
        entry: the entry it comes from.
        suffix: appended to the entry's name to make the item id (`.ads`, `:pending`, ...).
        subject: what it checks, in words, for reports (`ads.slug`, `/api/health`).
        payload: whatever the kind needs to run it (frozen, picklable).
        severity: overrides the entry's severity for this target (e.g. a per-rule severity).
    """

    entry: Entry
    suffix: str = ""
    subject: str = ""
    payload: Any = None
    severity: Severity | None = None

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
        return self.severity or self.entry.severity


@dataclass(frozen=True)
class Result:
    """What running one target found.

    Attributes:
        status: "passed", "failed" or "skipped".
        verdict: the first line a person reads (`3 of 120,412 rows in ads have slug NULL`).
        samples: up to `samples` examples, each naming a row, a file or a line.
        figures: measured numbers (counts, latency in ms, age in seconds) for JUnit and reports.
    """

    status: Literal["passed", "failed", "skipped"]
    verdict: str = ""
    samples: tuple[str, ...] = ()
    figures: Mapping[str, Figure] = field(default_factory=dict)

    @classmethod
    def ok(cls, verdict: str = "", **figures: Figure) -> Result:
        return cls("passed", verdict, (), figures)

    @classmethod
    def fail(cls, verdict: str, samples: Sequence[str] = (), **figures: Figure) -> Result:
        return cls("failed", verdict, tuple(samples), figures)

    @classmethod
    def skip(cls, reason: str) -> Result:
        return cls("skipped", reason)

    @property
    def passed(self) -> bool:
        return self.status == "passed"


class CheckError(Exception):
    """A check could not run (database unreachable, unknown table): it fails with this message."""


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
        options: plugin switches: `update_snapshots`, `parallel_workers` (True in an xdist worker).
        cache: per-process memo shared by all items (see :meth:`memo`).
    """

    gate: GateConfig
    databases: DatabasePool
    redactor: Redactor
    samples: int
    timeout: float
    fixtures: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    cache: dict[Any, Any] = field(default_factory=dict)

    def database(self, alias: str) -> Database:
        """The database named `alias` in the config; raises CheckError when unreachable."""
        return self.databases.get(alias)

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
        return value  # type: ignore[no-any-return]


class CheckKind:
    """A family of checks: one config table, its validation, its items and its runner.

    Subclass it, set `name`, implement `parse`, `expand` (optional) and `run`, and return
    an instance from the `pytest_deploygate_kinds` hook.
    """

    #: the TOML table name (`[[name]]`) and the pytest mark of its items
    name: ClassVar[str] = ""
    #: one line for `--markers` and the docs
    summary: ClassVar[str] = ""
    #: whether its entries take a `database` key (validated against `[databases]`)
    uses_database: ClassVar[bool] = False
    #: pytest fixtures its runner needs; they arrive in `RunContext.fixtures`
    fixtures: ClassVar[tuple[str, ...]] = ()

    def parse(self, reader: EntryReader) -> Any:
        """Read and validate the kind's own keys; return its frozen options."""
        return None

    def default_name(self, options: Any, entry_index: int, database: str | None) -> str:
        """The id prefix when the entry has no `name`."""
        return database or f"{self.name}{entry_index}"

    def expand(self, entry: Entry) -> Sequence[Target]:
        """The targets (items) of one entry. Must not read live state: it runs at collection."""
        return [Target(entry)]

    def run(self, target: Target, ctx: RunContext) -> Result:
        """Run one target. Raise CheckError for "could not check"; return a Result otherwise."""
        raise NotImplementedError


def count(n: int) -> str:
    """`120412` -> `120,412`: figures in verdicts read like a person wrote them."""
    return f"{n:,}"


def plural(n: int, one: str, many: str | None = None) -> str:
    """`1 row`, `3 rows`, with the count formatted by :func:`count`."""
    return f"{count(n)} {one if n == 1 else (many or one + 's')}"
