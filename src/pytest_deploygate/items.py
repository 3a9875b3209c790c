"""The collector of a gate file and its items.

Items are `pytest.Function` subclasses so that they take part in fixtures the public way: the
runner's signature names the fixtures it needs (`deploygate_runtime` and the kind's own), and a
user's conftest can override any of them.

Imported only when a gate file is collected: a pytest run without a gate never loads it.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import pytest

from .api import CheckKind, Entry, Result, Target
from .config import GateConfig, load_config
from .errors import ConfigError
from .runtime import GateRuntime

RESULT_KEY = pytest.StashKey[Result]()
RUNTIME_FIXTURE = "deploygate_runtime"

Kinds = dict[str, CheckKind[Any, Any]]


class CheckFailed(Exception):
    """A check found what it looks for: reported as its verdict and samples, no traceback."""

    def __init__(self, result: Result) -> None:
        super().__init__(result.verdict)
        self.result = result


def format_failure(result: Result) -> str:
    lines = [result.verdict]
    lines += [f"  {sample}" for sample in result.samples]
    return "\n".join(lines)


def kinds_for(node: pytest.Collector, display: str) -> Kinds:
    """The check kinds of every plugin and conftest loaded when `node` is collected, by name.

    Asked when the gate file is collected, not once at start-up: by then pytest has loaded the
    conftest.py beside the gate file, however the file was named on the command line.
    """
    kinds: Kinds = {}
    for batch in node.config.hook.pytest_deploygate_kinds(config=node.config):
        for kind in batch:
            if not kind.name:
                raise ConfigError(display, "", None, f"check kind {type(kind).__name__} has no name")
            if kind.uses_database not in ("no", "optional", "required", True, False):
                raise ConfigError(display, "", None, f"check kind {type(kind).__name__}: uses_database is "
                                                     f'{kind.uses_database!r}, not "no", "optional" or "required"')
            if kind.name in kinds and type(kinds[kind.name]) is not type(kind):
                raise ConfigError(display, "", None, f'two check kinds are named "{kind.name}" '
                                  f"({type(kinds[kind.name]).__name__} and {type(kind).__name__})")
            kinds[kind.name] = kind
    return kinds


def _runner(fixtures: tuple[str, ...], marks: list[pytest.MarkDecorator]) -> Any:
    """A function whose signature asks pytest for `fixtures`; the item's runtest does the work.

    It carries the items' marks as a test function would (`pytestmark`), so that pytest reads
    them once per runner rather than each item adding its own.
    """

    def run_check(**_: Any) -> None:  # pragma: no cover - never called, runtest is overridden
        raise NotImplementedError

    names = (RUNTIME_FIXTURE, *(f for f in fixtures if f != RUNTIME_FIXTURE))
    run_check.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY) for name in names])
    run_check.pytestmark = [mark.mark for mark in marks]  # type: ignore[attr-defined]
    return run_check


class Runners:
    """One runner per kind and set of marks: items of one entry (mostly of one kind) share it."""

    def __init__(self, kinds: Kinds) -> None:
        self.kinds = kinds
        self._made: dict[tuple[str, tuple[str, ...], str | None, str | None, str], Any] = {}

    def get(self, entry: Entry[Any], group: str | None, item_name: str = "") -> Any:
        # a skipped entry's items each get a runner of their own, whose skip reason names the item
        key = (entry.kind, entry.marks, group, entry.skip, item_name if entry.skip else "")
        runner = self._made.get(key)
        if runner is None:
            marks = [getattr(pytest.mark, name) for name in ("deploygate", entry.kind, *entry.marks)]
            if group is not None:
                # with `--dist loadgroup`, pytest-xdist runs the items of a group in one worker
                marks.append(pytest.mark.xdist_group(group))
            if entry.skip:
                marks.append(pytest.mark.skip(reason=f"{item_name}: {entry.skip}" if item_name else entry.skip))
            runner = self._made[key] = _runner(self.kinds[entry.kind].fixtures, marks)
        return runner


_TABLE_HEADER = re.compile(r"^\s*\[\[\s*(?:tool\.deploygate\.)?([A-Za-z0-9_-]+)\s*\]\]")


def entry_lines(text: str) -> dict[tuple[str, int], int]:
    """(kind, index) -> 0-based line of its `[[kind]]` header, so reports can point at the entry."""
    lines: dict[tuple[str, int], int] = {}
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines()):
        match = _TABLE_HEADER.match(line)
        if match:
            kind = match.group(1)
            seen[kind] = seen.get(kind, 0) + 1
            lines[(kind, seen[kind])] = number
    return lines


class GateFile(pytest.File):
    """A gate config file (`deploygate.toml`, `pyproject.toml`, or any TOML given on the command line)."""

    def collect(self) -> Iterator[GateItem]:
        display = self.nodeid or self.path.name
        kinds = kinds_for(self, display)
        gate = load_config(self.path, kinds, display=display)
        declared = {line.split(":", 1)[0] for line in self.config.getini("markers")}
        for name in sorted({*kinds, *(mark for entry in gate.entries for mark in entry.marks)} - declared):
            about = f"deploygate [[{name}]] checks: {kinds[name].summary}" if name in kinds else f"declared in {gate.display}"
            self.config.addinivalue_line("markers", f"{name}: {about}")
        runners = Runners(kinds)
        lines = entry_lines(self.path.read_text(encoding="utf-8"))
        # The items of one kind in one file have the same runner signature and the same place, so
        # the same fixture closure: resolved for the first and handed to the rest through
        # Function's `fixtureinfo` parameter, as pytest does for the calls of a parametrized test
        # (pytest has no public getter for it; without the attribute, each item resolves its own).
        fixtureinfo: dict[str, Any] = {}
        for order, target in enumerate(gate.targets):
            entry = target.entry
            kind = kinds[entry.kind]
            group = kind.group(target)
            item = GateItem.from_parent(
                self, name=target.item_name, callobj=runners.get(entry, group, target.item_name),
                fixtureinfo=fixtureinfo.get(entry.kind),
                target=target, gate=gate, kind=kind, order=order,
                line=lines.get((entry.kind, entry.index), 0), group=group,
            )
            fixtureinfo.setdefault(entry.kind, getattr(item, "_fixtureinfo", None))
            yield item

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, ConfigError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)


_POSITIONS = pytest.StashKey[dict[int, int]]()


def _junit_family(config: pytest.Config) -> str:
    try:
        return str(config.getini("junit_family"))
    except ValueError:  # the junitxml plugin is not loaded (-p no:junitxml)
        return ""


def _xdist_worker(config: pytest.Config) -> Any:
    """pytest-xdist's WorkerInteractor plugin in a worker, else None."""
    if not hasattr(config, "workerinput"):
        return None
    for plugin in config.pluginmanager.get_plugins():
        if type(plugin).__name__ == "WorkerInteractor":
            return plugin
    return None


#: the key of xdist's workerinput under which the plugin hands workers the run's `--dist` mode
DIST_KEY = "deploygate_dist"
#: the modes in which an item a worker has queued is run by that worker: fetched ahead
LOOKAHEAD_DIST = ("load", "loadscope", "loadfile", "loadgroup", "each")


def _queued(worker: Any, config: pytest.Config) -> list[int]:
    """The indices of the items an xdist worker will run after the current one, in order.

    Only when the run's `--dist` mode (which a worker's own options no longer say: pytest-xdist
    sets them to "no") leaves a queued item to its worker: under `worksteal`, another worker may
    take it away and run it, and its request would be sent twice.
    """
    workerinput = getattr(config, "workerinput", {})
    if workerinput.get(DIST_KEY) not in LOOKAHEAD_DIST:
        return []
    following = getattr(worker, "nextitem_index", None)
    queue = getattr(worker, "torun", None)
    lock = getattr(queue, "lock", None)
    if not isinstance(following, int) or lock is None:
        return []
    try:
        with lock() as pending:
            rest = list(pending)
    except Exception:  # a pytest-xdist whose queue has changed: fetch nothing ahead
        return []
    return [following, *(index for index in rest if isinstance(index, int))]


class GateItem(pytest.Function):
    """One check of the gate: `deploygate.toml::rows[main.ads.slug:not_null]`."""

    def __init__(self, *, target: Target[Any, Any], gate: GateConfig, kind: CheckKind[Any, Any],
                 order: int = 0, line: int = 0, group: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.line = line
        self.order = order  # position in the config: reports follow it, whatever the xdist worker
        self.target = target
        self.gate = gate
        self.kind = kind
        self.group = group  # its marks come with its runner (see Runners)
        # JUnit testcase properties: kind, target, database, figures. pytest's default junit_family,
        # xunit2, follows a schema (Jenkins' junit-10.xsd) that has none in a testcase: there the
        # XML stays valid without them (the docs say to use xunit1, which GitLab reads too)
        self.junit_properties = _junit_family(self.config) != "xunit2"
        if self.junit_properties:
            self.user_properties.extend(self._properties())

    def _properties(self) -> list[tuple[str, object]]:
        props: list[tuple[str, object]] = [("kind", self.target.entry.kind)]
        if self.target.subject:
            props.append(("target", self.gate.redactor(self.target.subject)))
        if self.target.entry.database:
            props.append(("database", self.target.entry.database))
        props.append(("severity", self.target.effective_severity))
        return props

    def runtest(self) -> None:
        runtime = self.funcargs[RUNTIME_FIXTURE]
        if not isinstance(runtime, GateRuntime):
            raise TypeError(f"the {RUNTIME_FIXTURE} fixture must give a GateRuntime, got {type(runtime).__name__}")
        fixtures = {name: self.funcargs[name] for name in self.kind.fixtures}
        context = runtime.context(self.gate, self.target, fixtures)
        if self.kind.fetches:
            # this item's fetch first, then those of the items that follow it, which run meanwhile
            context.fetch_ahead(self.kind, self.target)
            for item in islice(self.following(), self.gate.settings.http_concurrency - 1):
                runtime.fetch_ahead(item.gate, item.kind, item.target, fixtures)
        result: Result = self.config.hook.pytest_deploygate_run_check(
            kind=self.kind, target=self.target, context=context)
        redact = self.gate.redactor
        result = Result(result.status, redact(result.verdict),
                        tuple(redact(s) for s in result.samples), dict(result.figures))
        self.stash[RESULT_KEY] = result
        if self.junit_properties:
            for name, value in result.figures.items():
                self.user_properties.append((name, value))
        self.config.hook.pytest_deploygate_result(target=self.target, result=result, item=self)
        if result.status == "skipped":
            # reported at the item (its line in the config) and naming it, as a skip mark is
            raise pytest.skip.Exception(f"{self.name}: {result.verdict}", _use_item_location=True)
        if result.status in ("failed", "error"):
            if self.severity_of(result) == "warn":
                if self.junit_properties:
                    self.user_properties.append(("warning", result.verdict))
            else:
                raise CheckFailed(result)

    def following(self) -> Iterator[GateItem]:
        """The items this process will run next, as long as they are of this item's kind and
        gate file (they share its fixtures): only items pytest will run, after `-k`/`-m`.

        Outside xdist, the items after this one in `session.items`. In an xdist worker, the items
        the controller has already sent it, in its queue (pytest-xdist keeps no public view of it,
        so it is read with care; without it, nothing is fetched ahead). Under `--dist worksteal`
        nothing is: a queued item may be taken away and run by another worker.
        """
        items = self.session.items
        worker = _xdist_worker(self.config)
        if worker is None:
            index = self.session.stash.setdefault(_POSITIONS, {}).get(id(self))
            if index is None:
                positions = {id(item): position for position, item in enumerate(items)}
                self.session.stash[_POSITIONS] = positions
                index = positions.get(id(self), len(items))
            upcoming: Iterable[int] = range(index + 1, len(items))
        else:
            upcoming = _queued(worker, self.config)
        for index in upcoming:
            item = items[index]
            if not (isinstance(item, GateItem) and item.parent is self.parent and item.kind is self.kind):
                return
            if item.get_closest_marker("skip") is not None:
                continue  # skipped: never fetched
            if item.get_closest_marker("skipif") is not None:
                return  # may be skipped, which only its setup knows: nothing past it is fetched
            yield item

    def severity_of(self, result: Result) -> str:
        """How a failing result counts: "could not check" is never softened by a `warn` check
        (a gate of warnings whose database is down must not pass), unless the gate says so."""
        if result.status == "error":
            return self.gate.settings.could_not_check
        return self.target.effective_severity

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, CheckFailed):
            return format_failure(excinfo.value.result)
        return super().repr_failure(excinfo)

    @property
    def display_nodeid(self) -> str:
        """The node id without the `@group` that `--dist loadgroup` appends to it."""
        suffix = f"@{self.group}"
        return self.nodeid.removesuffix(suffix) if self.group and self.nodeid.endswith(suffix) else self.nodeid

    @property
    def id(self) -> Any:
        """The structured node id, as pytest (>= 9) parses a stored nodeid string.

        pytest builds a Function's structured id from its name, so `sql[x]` becomes one name,
        while `--lf` and friends parse the stored string `...::sql[x]` into name `sql` and
        params `x`: the two never match and `--lf` would rerun everything. Parsing our own
        nodeid the same way makes them agree, with no private import.
        """
        own = super().id
        return type(own).parse(self.nodeid)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.line, self.name
