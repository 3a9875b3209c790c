"""pytest hook implementations: options, markers, activation, collection, fixtures, reporting."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from . import __version__
from .api import CheckError, CheckKind, Result, RunContext, Target
from .checks import builtin_kinds
from .config import find_config
from .items import GateFile, GateItem, registered_kinds
from .report import GateReport, GateReporter, record_for, record_status
from .runtime import GateRuntime

if TYPE_CHECKING:
    import requests


@dataclass
class GateState:
    """The plugin's state for one pytest run, on `config.stash`."""

    active: bool = False
    config_path: Path | None = None
    explicit_files: set[Path] = field(default_factory=set)
    report: GateReport = field(default_factory=GateReport)


STATE_KEY = pytest.StashKey[GateState]()
REPORTER_NAME = "deploygate-reporter"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("deploygate", "deploy gate (pytest-deploygate)")
    group.addoption("--deploygate", action="store_true", default=False,
                    help="Run the deploy gate described by the config file")
    group.addoption("--deploygate-config", metavar="PATH", default=None,
                    help="Gate config file (default: ini deploygate_config, deploygate.toml, "
                         "then [tool.deploygate] in pyproject.toml)")
    group.addoption("--deploygate-report", metavar="PATH", default=None,
                    help="Write the gate's results to PATH: JSON for .json, Markdown for .md")
    group.addoption("--deploygate-update-snapshots", action="store_true", default=False,
                    help="Rewrite schema snapshot files from the live databases instead of comparing")
    parser.addini("deploygate_config", "Gate config file, relative to the rootdir", default=None)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from . import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


@pytest.hookimpl(trylast=True)
def pytest_deploygate_kinds(config: pytest.Config) -> list[CheckKind]:
    return builtin_kinds()


@pytest.hookimpl(trylast=True)
def pytest_deploygate_run_check(kind: CheckKind, target: Target, context: RunContext) -> Result:
    try:
        return kind.run(target, context)
    except CheckError as exc:
        return Result.fail(str(exc))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "deploygate: a check of the deploy gate (pytest-deploygate)")
    for kind in registered_kinds(config).values():
        config.addinivalue_line("markers", f"{kind.name}: deploygate [[{kind.name}]] checks: {kind.summary}")

    state = GateState(active=bool(config.getoption("deploygate")))
    config.stash[STATE_KEY] = state
    config.pluginmanager.register(GateReporter(config, state.report), REPORTER_NAME)
    explicit = config.args_source == pytest.Config.ArgsSource.ARGS
    if explicit:
        base = config.invocation_params.dir
        state.explicit_files = {(base / arg.split("::")[0]).resolve() for arg in config.args}
    if not state.active:
        return

    option = config.getoption("deploygate_config")
    ini = config.getini("deploygate_config")
    path = find_config(config.rootpath, option, ini if isinstance(ini, str) and ini else None)
    if path is None:
        raise pytest.UsageError(
            f"deploygate: no gate config found in {config.rootpath}: create deploygate.toml "
            "(or [tool.deploygate] in pyproject.toml), or pass --deploygate-config PATH")
    if not path.is_file():
        raise pytest.UsageError(f"deploygate: config file {path} does not exist")
    state.config_path = path
    if not explicit:
        # `pytest --deploygate` runs the gate, not the test suite next to it
        config.args[:] = [str(path)]
    elif not any(path == p or p in path.parents for p in state.explicit_files):
        config.args.append(str(path))


def pytest_report_header(config: pytest.Config) -> str | None:
    state = config.stash.get(STATE_KEY, None)
    if state is None or state.config_path is None:
        return None
    return f"deploygate: {__version__}, config {state.config_path}"


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> GateFile | None:
    if file_path.suffix != ".toml":
        return None
    state = parent.config.stash[STATE_KEY]
    resolved = file_path.resolve()
    if resolved == state.config_path or resolved in state.explicit_files:
        return GateFile.from_parent(parent, path=file_path)
    return None


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def deploygate_runtime(request: pytest.FixtureRequest) -> Iterator[GateRuntime]:
    """The per-process state of the gate: read-only database connections and shared scans."""
    runtime = GateRuntime({
        "update_snapshots": request.config.getoption("deploygate_update_snapshots"),
        # an xdist worker: the cores are busy already, kinds should not add parallel queries
        "parallel_workers": hasattr(request.config, "workerinput"),
    })
    yield runtime
    runtime.close()


@pytest.fixture(scope="session")
def deploygate_http() -> Iterator[requests.Session]:
    """The HTTP session of HTTP checks; override it to add proxies, a CA bundle or auth."""
    import requests  # here, not at the top: the plugin loads with every pytest run

    with requests.Session() as session:
        session.headers["User-Agent"] = f"pytest-deploygate/{__version__}"
        yield session


# -- reporting --------------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if isinstance(item, GateItem):
        record = record_for(item, report)
        if record is not None:
            # an extra attribute of a TestReport survives xdist's serialisation
            report.deploygate = record  # type: ignore[attr-defined]
    return report


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, Any] | None:
    if report.when == "call" and record_status(report) == "warned":
        return "warned", "W", ("WARN", {"yellow": True})
    return None


def pytest_unconfigure(config: pytest.Config) -> None:
    reporter = config.pluginmanager.get_plugin(REPORTER_NAME)
    if reporter is not None:
        config.pluginmanager.unregister(reporter)
