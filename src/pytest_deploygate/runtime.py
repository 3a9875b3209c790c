"""Per-process run-time state: open databases and shared scans, one set per gate file."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .api import RunContext, Target
from .config import GateConfig
from .db import DatabasePool


class GateRuntime:
    """What the items of one process share: a pool per gate file and a memo cache per gate file.

    Plain Python; the plugin's `deploygate_runtime` session fixture makes one and closes it.
    """

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.options = dict(options or {})
        self._pools: dict[Path, DatabasePool] = {}
        self._caches: dict[Path, dict[Any, Any]] = {}

    def context(self, gate: GateConfig, target: Target, fixtures: Mapping[str, Any] | None = None) -> RunContext:
        redactor = gate.redactor
        if gate.path not in self._pools:
            self._pools[gate.path] = DatabasePool(gate.databases, redactor)
            self._caches[gate.path] = {}
        return RunContext(
            gate=gate,
            databases=self._pools[gate.path],
            redactor=redactor,
            samples=gate.settings.samples,
            timeout=target.entry.timeout,
            fixtures=dict(fixtures or {}),
            options=self.options,
            cache=self._caches[gate.path],
        )

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        self._caches.clear()
