"""The kind contract and the plumbing every family builds on: ids, aspects, deadlines, kinds found
per gate file, families loaded only for a gate, shared work grouped for pytest-xdist."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_deploygate import AspectKind, CheckError, Entry, Result, RunContext, Target, item_id
from pytest_deploygate.config import GateConfig, Settings
from pytest_deploygate.db import DatabasePool
from pytest_deploygate.secrets import Redactor

from .conftest import Gate, PostgresDatabase
from .test_rows import SEVEN_RULES, seq_scans


@pytest.mark.parametrize(("name", "parts", "aspect", "expected"), [
    ("main", ("ads", "slug"), "not_null", "main.ads.slug:not_null"),
    ("main", (), "pending", "main:pending"),
    ("homepage", ("categories",), None, "homepage.categories"),
    ("", ("DATABASE_URL",), None, "DATABASE_URL"),
    ("ads-without-images", (), None, "ads-without-images"),
])
def test_item_ids_are_built_from_name_parts_and_aspect(name: str, parts: tuple[str, ...], aspect: str | None,
                                                       expected: str) -> None:
    assert item_id(name, *parts, aspect=aspect) == expected
    entry: Entry[None] = Entry("k", 1, name, "fail", (), 1.0, None, None, Path("g.toml"))
    assert Target.at(entry, *parts, aspect=aspect, payload=None).id == expected


def _context(timeout: float) -> RunContext:
    gate = GateConfig(Path("g.toml"), "g.toml", Settings(), {}, (), ())
    return RunContext(gate, DatabasePool({}, Redactor()), Redactor(), 5, timeout)


def test_the_deadline_stops_long_work_with_the_checks_timeout() -> None:
    ctx = _context(0.05)
    ctx.check_deadline("walking uploads")  # within the budget: nothing happens
    time.sleep(0.06)
    assert ctx.remaining() == 0.0
    with pytest.raises(CheckError, match=r"^walking uploads: stopped after 50ms \(the check's timeout\)$"):
        ctx.check_deadline("walking uploads")


class Counted(AspectKind[None, int]):
    """Two aspects of one computation, which counts its calls."""

    name = "counted"
    calls = 0

    def aspects(self, entry: Entry[None]) -> list[str]:
        return ["first", "second"]

    def compute(self, entry: Entry[None], ctx: RunContext) -> int:
        Counted.calls += 1
        return 42

    def judge(self, aspect: str, shared: int, target: Target[None, str], ctx: RunContext) -> Result:
        return Result.ok(f"{aspect} sees {shared}")


def test_aspects_of_an_entry_share_one_computation_and_one_group() -> None:
    kind = Counted()
    entry: Entry[None] = Entry("counted", 1, "main", "fail", (), 1.0, None, None, Path("g.toml"))
    targets = kind.expand(entry)
    assert [t.id for t in targets] == ["main:first", "main:second"]
    ctx = _context(5)
    assert [kind.run(t, ctx).verdict for t in targets] == ["first sees 42", "second sees 42"]
    assert Counted.calls == 1
    assert {kind.group(t) for t in targets} == {"counted:main"}


GATES_CONFTEST = '''
from dataclasses import dataclass
from pytest_deploygate import CheckKind, EntryReader, Result, RunContext, Target


@dataclass(frozen=True)
class Expect:
    value: str


class Greeting(CheckKind[Expect, None]):
    name = "greeting"
    summary = "a kind that only gates/ knows"

    def parse(self, reader: EntryReader) -> Expect:
        return Expect(reader.required_string("value"))

    def run(self, target: Target[Expect, None], ctx: RunContext) -> Result:
        return Result.ok(f"hello {target.entry.options.value}")


def pytest_deploygate_kinds(config):
    return [Greeting()]
'''


@pytest.mark.parametrize("how", ["as an argument", "by --deploygate-config"])
def test_a_conftest_beside_the_gate_file_adds_its_kind_however_the_file_is_named(gate: Gate, how: str) -> None:
    gate.config('[[greeting]]\nvalue = "prod"\n', name="gates/prod.toml")
    (gate.path / "gates" / "conftest.py").write_text(GATES_CONFTEST, encoding="utf-8")
    args = ["gates/prod.toml"] if how == "as an argument" else ["--deploygate", "--deploygate-config", "gates/prod.toml"]
    result = gate.pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v", *args)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*prod.toml::greeting[[]greeting1[]] PASSED*"])


def test_a_kind_from_a_conftest_loaded_at_start_up_counts_too(gate: Gate) -> None:
    # pytest loads test*/conftest.py at start-up, beside no gate file: its kinds are the gate's too
    gate.config('[[greeting]]\nvalue = "root"\n')
    (gate.path / "tests").mkdir()
    (gate.path / "tests" / "conftest.py").write_text(GATES_CONFTEST, encoding="utf-8")
    result = gate.pytester.runpytest_subprocess("--deploygate", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_a_target_takes_its_fields_by_name() -> None:
    entry: Entry[None] = Entry("k", 1, "main", "fail", (), 1.0, None, None, Path("g.toml"))
    with pytest.raises(TypeError):
        Target(entry, ".x", "subject")  # type: ignore[call-arg]  # the mistake a keyword-only field catches


class Sized(AspectKind[str, str]):
    """An entry's shared value is its own option: two entries must not share it."""

    name = "sized"

    def aspects(self, entry: Entry[str]) -> list[str]:
        return ["size"] if entry.options == "one" else ["size", "mtime"]

    def compute(self, entry: Entry[str], ctx: RunContext) -> str:
        return entry.options

    def judge(self, aspect: str, shared: str, target: Target[str, str], ctx: RunContext) -> Result:
        return Result.ok(f"computed from {shared}")


def test_two_entries_with_one_name_do_not_share_a_computation() -> None:
    kind = Sized()
    first: Entry[str] = Entry("sized", 1, "files", "fail", (), 1.0, None, "one", Path("g.toml"))
    second: Entry[str] = Entry("sized", 2, "files", "fail", (), 1.0, None, "two", Path("g.toml"))
    ctx = _context(5)
    assert kind.run(kind.expand(first)[0], ctx).verdict == "computed from one"
    assert kind.run(kind.expand(second)[1], ctx).verdict == "computed from two"


def test_a_pytest_run_without_a_gate_loads_no_family_config_or_database_layer(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_x():\n    pass\n")
    script = (
        "import sys, pytest\n"
        "code = pytest.main(['-q', '-p', 'no:cacheprovider', 'test_plain.py'])\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('pytest_deploygate.'))\n"
        "print('LOADED', loaded)\n"
        "sys.exit(code)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=pytester.path, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    loaded = proc.stdout.split("LOADED", 1)[1]
    assert "pytest_deploygate.plugin" in loaded
    for heavy in ("checks.rows", "checks.schema", "checks.migrations", "config", "db", "items", "report", "api"):
        assert f"'pytest_deploygate.{heavy}'" not in loaded, loaded


def test_items_that_share_a_scan_share_an_xdist_group(gate: Gate) -> None:
    gate.config(f'[databases.main]\nurl = "sqlite:///app.db"\n{SEVEN_RULES}')
    items, _ = gate.pytester.inline_genitems("--deploygate", "-p", "no:cacheprovider")
    groups = {item.name: [m.args[0] for m in item.iter_markers("xdist_group")] for item in items}
    assert len(groups) == 9
    # two entries, one (database, table): one group, so `--dist loadgroup` gives them one worker
    assert all(names == ["rows:main.ads"] for names in groups.values()), groups


def test_under_loadgroup_the_verdicts_and_report_ids_are_those_of_a_serial_run(pg: PostgresDatabase, gate: Gate) -> None:
    pg.execute("CREATE TABLE ads (id INTEGER PRIMARY KEY, title TEXT, slug TEXT, price INTEGER);"
               "INSERT INTO ads SELECT i, 'title ' || i, 'ad-' || i, i FROM generate_series(1, 5000) i;")
    gate.config(f'[databases.main]\nurl = "{pg.url}"\n{SEVEN_RULES}')
    before = seq_scans(pg, "ads")
    result = gate.run_subprocess("-n", "2", "--dist", "loadgroup", "--deploygate-report=report.json")
    result.assert_outcomes(passed=9)
    # one scan when pytest-xdist honours the group; at most one per worker when it does not
    # (pytest-xdist 3.8 on pytest 9.2 does not: it renames items through an attribute pytest
    # no longer reads)
    assert 1 <= seq_scans(pg, "ads", before) - before <= 2
    report = json.loads((gate.path / "report.json").read_text(encoding="utf-8"))
    assert all("@" not in check["nodeid"] for check in report["checks"])
    assert "deploygate.toml::rows[main.ads.slug:not_null]" in {check["nodeid"] for check in report["checks"]}
