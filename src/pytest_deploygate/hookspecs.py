"""The `pytest_deploygate_*` hooks a conftest or an installed plugin can implement.

Registered in `pytest_addhooks`, as pytest-xdist registers its own (`xdist/newhooks.py`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .api import CheckKind, Result, RunContext, Target


@pytest.hookspec
def pytest_deploygate_kinds(config: pytest.Config) -> list[CheckKind[Any, Any]]:  # type: ignore[empty-body]
    """Return check kinds to add to the gate (each a :class:`~pytest_deploygate.api.CheckKind`).

    Asked when each gate file is collected: a conftest.py beside the gate file counts, whether
    the file was named on the command line or by `--deploygate-config`.
    Every implementation's list is used; the built-in kinds come from the plugin's own
    implementation. A kind's `name` is its config table (`[[name]]`) and its pytest mark;
    two kinds with the same name are an error.

    Args:
        config: the pytest config.
    """


@pytest.hookspec(firstresult=True)
def pytest_deploygate_run_check(kind: CheckKind[Any, Any], target: Target[Any, Any], context: RunContext) -> Result | None:
    """Run one target of the gate and return its result; the first non-None result wins.

    The built-in implementation (`trylast`) calls `kind.run(target, context)` and turns a
    :class:`~pytest_deploygate.api.CheckError` into an "error" result (could not check). Implement it to run a target
    another way (a wrapper with `wrapper=True` can also adjust the result).

    Args:
        kind: the target's check kind.
        target: what to check.
        context: databases, samples, time budget and fixtures for this run.
    """


@pytest.hookspec
def pytest_deploygate_result(target: Target[Any, Any], result: Result, item: Any) -> None:
    """Observe each check's result, in the process that ran it (an xdist worker under `-n`).

    The result's text is already free of secrets.

    Args:
        target: what was checked.
        result: what was found.
        item: the pytest item.
    """
