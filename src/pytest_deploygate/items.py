"""The collector of a gate file and its items.

Items are `pytest.Function` subclasses so that they take part in fixtures the public way: the
runner's signature names the fixtures it needs (`deploygate_runtime` and the kind's own), and a
user's conftest can override any of them.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .api import CheckKind, Result, Target
from .config import ConfigError, GateConfig, load_config
from .runtime import GateRuntime

KINDS_KEY = pytest.StashKey[dict[str, CheckKind]]()
RESULT_KEY = pytest.StashKey[Result]()
RUNTIME_FIXTURE = "deploygate_runtime"


class CheckFailed(Exception):
    """A check found what it looks for: reported as its verdict and samples, no traceback."""

    def __init__(self, result: Result) -> None:
        super().__init__(result.verdict)
        self.result = result


def format_failure(result: Result) -> str:
    lines = [result.verdict]
    lines += [f"  {sample}" for sample in result.samples]
    return "\n".join(lines)


def registered_kinds(config: pytest.Config) -> dict[str, CheckKind]:
    """The check kinds of every `pytest_deploygate_kinds` implementation, by name."""
    if KINDS_KEY not in config.stash:
        kinds: dict[str, CheckKind] = {}
        for batch in config.hook.pytest_deploygate_kinds(config=config):
            for kind in batch:
                if not kind.name:
                    raise pytest.UsageError(f"deploygate: check kind {type(kind).__name__} has no name")
                if kind.name in kinds and type(kinds[kind.name]) is not type(kind):
                    raise pytest.UsageError(f'deploygate: two check kinds are named "{kind.name}"')
                kinds[kind.name] = kind
        config.stash[KINDS_KEY] = kinds
    return config.stash[KINDS_KEY]


def _runner_signature(fixtures: tuple[str, ...]) -> Any:
    """A function whose signature asks pytest for `fixtures`; the item's runtest does the work."""

    def run_check(**_: Any) -> None:  # pragma: no cover - never called, runtest is overridden
        raise NotImplementedError

    names = (RUNTIME_FIXTURE, *(f for f in fixtures if f != RUNTIME_FIXTURE))
    run_check.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY) for name in names])
    return run_check


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
        kinds = registered_kinds(self.config)
        gate = load_config(self.path, kinds, display=self.nodeid or self.path.name)
        for entry in gate.entries:
            for mark in entry.marks:
                self.config.addinivalue_line("markers", f"{mark}: declared in {gate.display}")
        runners = {name: _runner_signature(kind.fixtures) for name, kind in kinds.items()}
        lines = entry_lines(self.path.read_text(encoding="utf-8"))
        for order, target in enumerate(gate.targets):
            entry = target.entry
            yield GateItem.from_parent(
                self, name=target.item_name, callobj=runners[entry.kind],
                target=target, gate=gate, kind=kinds[entry.kind], order=order,
                line=lines.get((entry.kind, entry.index), 0),
            )

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, ConfigError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)


class GateItem(pytest.Function):
    """One check of the gate: `deploygate.toml::rows[main.ads.slug:not_null]`."""

    def __init__(self, *, target: Target, gate: GateConfig, kind: CheckKind, order: int = 0,
                 line: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.line = line
        self.order = order  # position in the config: reports follow it, whatever the xdist worker
        self.target = target
        self.gate = gate
        self.kind = kind
        entry = target.entry
        for mark in ("deploygate", entry.kind, *entry.marks):
            self.add_marker(mark)
        if entry.skip:
            self.add_marker(pytest.mark.skip(reason=entry.skip))
        self.user_properties.extend(self._properties())

    def _properties(self) -> list[tuple[str, object]]:
        props: list[tuple[str, object]] = [("kind", self.target.entry.kind)]
        if self.target.subject:
            props.append(("target", self.target.subject))
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
        result: Result = self.config.hook.pytest_deploygate_run_check(
            kind=self.kind, target=self.target, context=context)
        redact = self.gate.redactor
        result = Result(result.status, redact(result.verdict),
                        tuple(redact(s) for s in result.samples), dict(result.figures))
        self.stash[RESULT_KEY] = result
        for name, value in result.figures.items():
            self.user_properties.append((name, value))
        self.config.hook.pytest_deploygate_result(target=self.target, result=result, item=self)
        if result.status == "skipped":
            pytest.skip(result.verdict)
        if result.status == "failed":
            if self.target.effective_severity == "warn":
                self.user_properties.append(("warning", result.verdict))
            else:
                raise CheckFailed(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, CheckFailed):
            return format_failure(excinfo.value.result)
        return super().repr_failure(excinfo)

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
