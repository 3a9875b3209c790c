"""pytest hook implementations: options, markers, activation, collection, fixtures, reporting.

Loaded with every pytest run (entry point `pytest11`), so it imports only pytest at the top:
the config loader, the families and the database layer are imported when a gate is collected,
the report when a gate's result arrives.
"""

from __future__ import annotations

import sys
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from . import __version__
from .checks import BUILTIN

if TYPE_CHECKING:
    import requests

    from .api import CheckKind, Result, RunContext, Target
    from .items import GateFile
    from .report import GateReport
    from .runtime import GateRuntime

ITEMS_MODULE = "pytest_deploygate.items"


@dataclass
class GateState:
    """The plugin's state for one pytest run, on `config.stash`."""

    active: bool = False
    config_path: Path | None = None
    explicit_files: set[Path] = field(default_factory=set)
    report: GateReport | None = None
    xdist_run: str | None = None  # the controller's xdist run id: its workers' shared files go at the end

    def records(self) -> GateReport:
        """The report of this run's results, made on the first one."""
        if self.report is None:
            from .report import GateReport

            self.report = GateReport()
        return self.report


STATE_KEY = pytest.StashKey[GateState]()
REPORTER_NAME = "deploygate-reporter"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("deploygate", "deploy gate (pytest-deploygate)")
    group.addoption("--deploygate", action="store_true", default=False,
                    help="Run the deploy gate described by the config file")
    group.addoption("--deploygate-config", metavar="PATH", default=None,
                    help="Gate config file (default: ini deploygate_config, deploygate.toml, "
                         "then [tool.deploygate] in pyproject.toml)")
    group.addoption("--deploygate-report", metavar="PATH", action="append", default=[],
                    help="Write the gate's results to PATH: Markdown for .md, Prometheus textfile for .prom, "
                         "else JSON (may be given more than once)")
    group.addoption("--deploygate-annotations", action="store_true", default=False,
                    help="Print GitHub Actions annotations at each failing check's entry in the config "
                         "(on by itself when GITHUB_ACTIONS=true)")
    group.addoption("--deploygate-update-snapshots", action="store_true", default=False,
                    help="Rewrite schema snapshot files from the live databases instead of comparing")
    parser.addini("deploygate_config", "Gate config file, relative to the rootdir", default=None)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from . import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


@pytest.hookimpl(trylast=True)
def pytest_deploygate_kinds(config: pytest.Config) -> list[CheckKind[Any, Any]]:
    from .checks import builtin_kinds

    return builtin_kinds()


@pytest.hookimpl(trylast=True)
def pytest_deploygate_run_check(kind: CheckKind[Any, Any], target: Target[Any, Any], context: RunContext) -> Result:
    from .api import Result
    from .errors import CheckError

    try:
        return kind.run(target, context)
    except CheckError as exc:
        return Result.error(str(exc))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "deploygate: a check of the deploy gate (pytest-deploygate)")
    for name, builtin in BUILTIN.items():
        config.addinivalue_line("markers", f"{name}: deploygate [[{name}]] checks: {builtin.summary}")
    if not config.pluginmanager.hasplugin("xdist"):
        # items that share work carry it; pytest-xdist declares it when installed
        config.addinivalue_line("markers", "xdist_group(name): items whose work is shared (pytest-xdist --dist loadgroup)")

    if config.getoption("markers", False):
        _declare_config_marks(config)
    state = GateState(active=bool(config.getoption("deploygate")))
    config.stash[STATE_KEY] = state
    config.pluginmanager.register(GateReporter(config, state), REPORTER_NAME)
    explicit = config.args_source == pytest.Config.ArgsSource.ARGS
    if explicit:
        base = config.invocation_params.dir
        state.explicit_files = {(base / arg.split("::")[0]).resolve() for arg in config.args}
    if not state.active:
        return

    from .config import find_config

    option = config.getoption("deploygate_config")
    ini = config.getini("deploygate_config")
    path = find_config(config.rootpath, option, ini if isinstance(ini, str) and ini else None)
    if path is None and any(p.suffix == ".toml" for p in state.explicit_files):
        return  # `pytest --deploygate gates/prod.toml`: the file named is the gate
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


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist, in the controller: tell each worker the run's `--dist` mode, which its own
    options no longer say; fetching ahead depends on it (see `GateItem.following`)."""
    node.workerinput["deploygate_dist"] = node.config.getoption("dist", None)
    run = node.workerinput.get("testrunuid")
    if isinstance(run, str):
        node.config.stash[STATE_KEY].xdist_run = run


def _declare_config_marks(config: pytest.Config) -> None:
    """`pytest --markers`: the marks the gate's entries declare (`marks = [...]`), read from the
    config file without loading the gate (no kinds, no databases); a config that cannot be read
    declares nothing here (running the gate says what is wrong with it)."""
    from .config import find_config, raw_marks

    ini = config.getini("deploygate_config")
    path = find_config(config.rootpath, config.getoption("deploygate_config"), ini if isinstance(ini, str) and ini else None)
    if path is None or not path.is_file():
        return
    declared = {line.split(":", 1)[0] for line in config.getini("markers")}
    for mark in sorted(raw_marks(path) - declared):
        config.addinivalue_line("markers", f"{mark}: declared in {path.name}")


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
        from .items import GateFile

        return GateFile.from_parent(parent, path=file_path)
    return None


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def deploygate_runtime(request: pytest.FixtureRequest) -> Iterator[GateRuntime]:
    """The per-process state of the gate: read-only database connections and shared scans."""
    from .api import RunOptions
    from .runtime import GateRuntime

    runtime = GateRuntime(RunOptions(
        update_snapshots=bool(request.config.getoption("deploygate_update_snapshots")),
        xdist_worker=hasattr(request.config, "workerinput"),
    ))
    yield runtime
    runtime.close()


@pytest.fixture(scope="session")
def deploygate_http() -> Iterator[requests.Session]:
    """The HTTP session of `[[endpoint]]` checks, one per process and reused (its connections
    kept alive), shared by the requests the gate sends concurrently. Override it to add proxies,
    a CA bundle or auth. It keeps no cookies: a cookie one endpoint sets is not sent to the next,
    so each check sees what a fresh client would, whatever ran before it."""
    from http.cookiejar import DefaultCookiePolicy

    import requests  # here, not at the top: the plugin loads with every pytest run
    from requests.adapters import HTTPAdapter

    with requests.Session() as session:
        session.headers["User-Agent"] = f"pytest-deploygate/{__version__}"
        session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        for scheme in ("http://", "https://"):
            # room for `http_concurrency` connections to one host (requests keeps 10)
            session.mount(scheme, HTTPAdapter(pool_maxsize=64))
        yield session


# -- reporting --------------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    items = sys.modules.get(ITEMS_MODULE)  # not imported: no gate was collected, no gate item
    if items is not None and isinstance(item, items.GateItem):
        from .report import record_for

        record = record_for(item, report)
        if record is not None:
            # an extra attribute of a TestReport survives xdist's serialisation
            report.deploygate = record  # type: ignore[attr-defined]
    return report


def _record(report: Any) -> dict[str, Any] | None:
    record = getattr(report, "deploygate", None)
    return record if isinstance(record, dict) else None


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, Any] | None:
    record = _record(report)
    if report.when == "call" and record is not None and record.get("status") == "warned":
        return "warned", "W", ("WARN", {"yellow": True})
    return None


class GateReporter:
    """Registered per pytest config (as junitxml is): gathers records, prints, writes the file."""

    def __init__(self, config: pytest.Config, state: GateState) -> None:
        self.config = config
        self.state = state

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        record = _record(report)
        if record is not None:
            self.state.records().add(record)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        report = self.state.report
        if report is None or not report.records:
            return
        counts = report.counts()
        failing = bool(counts["failed"] or counts["error"])
        warned = bool(counts["warned"])
        terminalreporter.section("deploygate", red=failing, yellow=not failing and warned,
                                 green=not failing and not warned)
        for line in report.terminal_lines():
            terminalreporter.line(line)
        if self.annotating():
            import os

            workspace = Path(os.environ.get("GITHUB_WORKSPACE") or self.config.invocation_params.dir)
            for command in report.annotations(self.config.rootpath, workspace):
                terminalreporter.write_line(command)

    def annotating(self) -> bool:
        import os

        return not hasattr(self.config, "workerinput") and (
            bool(self.config.getoption("deploygate_annotations")) or os.environ.get("GITHUB_ACTIONS") == "true")

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if hasattr(self.config, "workerinput"):  # the controller writes them, once
            return
        if not (self.state.active or self.state.report is not None):
            return  # a pytest run without the gate (the plugin loads with every run)
        import os

        report = self.state.records()
        report.exitstatus = int(exitstatus)
        for path in self.config.getoption("deploygate_report") or ():
            target = Path(self.config.invocation_params.dir, path)
            try:
                report.write(target)
            except OSError as exc:  # the gate's own result stands: said, not a traceback
                self._warn(f"cannot write the report {path}: {exc.strerror or exc}")
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary and (report.records or report.exitstatus not in (0, 5)):
            from .report import MARKDOWN_LIMIT

            try:
                # appended, as each step's tools do; GitHub's 1 MiB is for the whole step
                used = os.path.getsize(summary) if os.path.exists(summary) else 0
                with open(summary, "a", encoding="utf-8") as out:
                    out.write(report.markdown(limit=max(MARKDOWN_LIMIT - used, 2_000)) + "\n")
            except OSError as exc:
                self._warn(f"cannot append to the step summary ({summary}): {exc.strerror or exc}")

    def _warn(self, message: str) -> None:
        sys.stderr.write(f"deploygate: {message}\n")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> Generator[None, None, None]:
    """After pytest's short test summary (this wrapper is outermost): with `-ra` or `-rA`, the
    warned checks too, which pytest has no letter for."""
    try:
        return (yield)
    finally:
        state = config.stash.get(STATE_KEY, None)
        chars = str(getattr(config.option, "reportchars", "") or "")
        report = state.report if state is not None else None
        if report is not None and ("a" in chars or "A" in chars):
            warned = [r for r in report.ordered() if r["status"] == "warned"]
            if warned:
                stats = terminalreporter.stats
                if not any(stats.get(kind) for kind in ("failed", "error", "skipped", "xfailed", "xpassed",
                                                        *(("passed",) if "A" in chars else ()))):
                    terminalreporter.write_sep("=", "short test summary info", cyan=True, bold=True)
                for record in warned:
                    terminalreporter.write_line(f"WARN {record['nodeid']} - {record['verdict']}")


def pytest_unconfigure(config: pytest.Config) -> None:
    reporter = config.pluginmanager.get_plugin(REPORTER_NAME)
    if reporter is not None:
        config.pluginmanager.unregister(reporter)
    state = config.stash.get(STATE_KEY, None)
    if state is not None and state.xdist_run is not None:
        # what the workers shared at collection (api.shared_by_workers): of this run only
        import shutil
        import tempfile

        shutil.rmtree(Path(tempfile.gettempdir()) / f"deploygate-xdist-{state.xdist_run}", ignore_errors=True)
