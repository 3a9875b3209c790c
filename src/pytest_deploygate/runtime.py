"""Per-process run-time state: open databases and shared work, one set per gate file."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .ahead import Ahead
from .api import CheckKind, RunContext, RunOptions, Target
from .config import GateConfig
from .db import DatabasePool


class GateRuntime:
    """What the items of one process share: a pool per gate file and a memo cache per gate file.

    Plain Python; the plugin's `deploygate_runtime` session fixture makes one and closes it.
    """

    def __init__(self, options: RunOptions | None = None) -> None:
        self.options = options or RunOptions()
        self._pools: dict[Path, DatabasePool] = {}
        self._caches: dict[Path, dict[Any, Any]] = {}
        self._aheads: dict[Path, Ahead] = {}

    def context(self, gate: GateConfig, target: Target[Any, Any],
                fixtures: Mapping[str, Any] | None = None) -> RunContext:
        """The context one item runs in: its gate's pool and memo, its time budget from now."""
        if gate.path not in self._pools:
            self._pools[gate.path] = DatabasePool(gate.databases, gate.redactor)
            self._caches[gate.path] = {}
            self._aheads[gate.path] = Ahead(gate.settings.http_concurrency)
        return RunContext(
            gate=gate,
            databases=self._pools[gate.path],
            redactor=gate.redactor,
            samples=gate.settings.samples,
            timeout=target.entry.timeout,
            fixtures=dict(fixtures or {}),
            options=self.options,
            cache=self._caches[gate.path],
            ahead=self._aheads[gate.path],
        )

    def fetch_ahead(self, gate: GateConfig, kind: CheckKind[Any, Any], target: Target[Any, Any],
                    fixtures: Mapping[str, Any] | None = None) -> None:
        """Start `kind.fetch` for a target whose item has not run yet (see `CheckKind.fetch`)."""
        self.context(gate, target, fixtures).fetch_ahead(kind, target)

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        self._caches.clear()
        self._aheads.clear()  # fetches never taken (a run stopped by -x) end in their daemon threads
