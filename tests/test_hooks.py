"""Extending the gate: a conftest adds a kind, observes results, overrides running and fixtures."""

from __future__ import annotations

import json

import pytest

from .conftest import Gate

KIND_CONFTEST = '''
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from pytest_deploygate import CheckError, CheckKind, Result, Target


@dataclass(frozen=True)
class FileSizeOptions:
    path: Path
    max_bytes: int


class FileSize(CheckKind):
    name = "file_size"
    summary = "a file must stay under a size"
    fixtures = ("size_unit",)

    def parse(self, reader):
        path = reader.path("path", required=True)
        max_bytes = reader.integer("max_bytes", minimum=0)
        if max_bytes is None:
            raise reader.error("max_bytes", "is required")
        return FileSizeOptions(path, max_bytes)

    def default_name(self, options, entry_index, database):
        return options.path.name

    def run(self, target, ctx):
        options = target.entry.options
        if not options.path.exists():
            raise CheckError(f"{options.path.name} does not exist")
        size = options.path.stat().st_size
        unit = ctx.fixtures["size_unit"]
        verdict = f"{options.path.name} is {size} {unit} (max {options.max_bytes})"
        if size > options.max_bytes:
            return Result.fail(verdict, bytes=size)
        return Result.ok(verdict, bytes=size)


@pytest.fixture(scope="session")
def size_unit():
    return "bytes"


def pytest_deploygate_kinds(config):
    return [FileSize()]


def pytest_deploygate_result(target, result, item):
    with open("observed.jsonl", "a") as fh:
        fh.write(json.dumps({"id": target.item_name, "status": result.status}) + "\\n")
'''

KIND_GATE = '''
[[file_size]]
path = "small.txt"
max_bytes = 10

[[file_size]]
path = "big.txt"
max_bytes = 10
'''


@pytest.fixture
def kind_gate(gate: Gate) -> Gate:
    gate.pytester.makeconftest(KIND_CONFTEST)
    gate.config(KIND_GATE)
    (gate.path / "small.txt").write_text("hi")
    (gate.path / "big.txt").write_text("x" * 100)
    return gate


def test_a_conftest_adds_a_kind_with_its_own_keys_items_and_mark(kind_gate: Gate) -> None:
    result = kind_gate.run("-v", "--strict-markers", "-m", "file_size")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "deploygate.toml::file_size[[]small.txt[]] PASSED*",
        "deploygate.toml::file_size[[]big.txt[]] FAILED*",
        "FAILED deploygate.toml::file_size[[]big.txt[]] - big.txt is 100 bytes (max 10)",
    ])


def test_a_custom_kind_gets_the_same_config_validation(kind_gate: Gate) -> None:
    kind_gate.config(KIND_GATE + "max_byte = 3\n")
    result = kind_gate.run()
    assert result.ret != 0
    assert ('deploygate.toml: [[file_size]] #2: key "max_byte": unknown key (did you mean "max_bytes"?)'
            in result.stdout.lines)


def test_the_result_hook_sees_every_result(kind_gate: Gate) -> None:
    kind_gate.run()
    observed = [json.loads(line) for line in (kind_gate.path / "observed.jsonl").read_text().splitlines()]
    assert observed == [{"id": "file_size[small.txt]", "status": "passed"},
                        {"id": "file_size[big.txt]", "status": "failed"}]


def test_a_conftest_can_override_the_fixtures_a_kind_uses(kind_gate: Gate) -> None:
    (kind_gate.path / "sub").mkdir()
    kind_gate.pytester.makeconftest(KIND_CONFTEST + '''

@pytest.fixture(scope="session")
def size_unit():
    return "octets"
''')
    result = kind_gate.run()
    result.stdout.fnmatch_lines(["FAILED *big.txt[]] - big.txt is 100 octets (max 10)"])


def test_run_check_can_be_taken_over_by_a_conftest(gate: Gate) -> None:
    gate.pytester.makeconftest('''
from pytest_deploygate import Result

def pytest_deploygate_run_check(kind, target, context):
    if target.id == "PRETEND_SET":
        return Result.ok("pretended")
    return None
''')
    gate.config('[[environment]]\nrequire = ["PRETEND_SET", "DEPLOYGATE_TEST_SURELY_UNSET"]\n')
    gate.run().assert_outcomes(passed=1, failed=1)


def test_a_bug_in_a_kind_shows_its_traceback(kind_gate: Gate) -> None:
    kind_gate.pytester.makeconftest(KIND_CONFTEST.replace(
        "size = options.path.stat().st_size", "size = options.path.stat().st_size / 0"))
    result = kind_gate.run()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*ZeroDivisionError*"])


def test_two_kinds_with_one_name_are_a_config_error(gate: Gate) -> None:
    gate.pytester.makeconftest('''
from pytest_deploygate import CheckKind

class Sql(CheckKind):
    name = "sql"

def pytest_deploygate_kinds(config):
    return [Sql()]
''')
    gate.config("")
    result = gate.run()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(['deploygate.toml: two check kinds are named "sql" (Sql and SqlCheck)'])
    assert "Traceback" not in result.stdout.str()


def test_a_conftest_can_override_the_plugins_own_fixtures(gate: Gate) -> None:
    gate.pytester.makeconftest('''
import pytest
import requests
from pytest_deploygate import CheckKind, Result


class SessionHeader(CheckKind):
    name = "session_header"
    fixtures = ("deploygate_http",)

    def run(self, target, ctx):
        session = ctx.fixtures["deploygate_http"]
        return Result.fail(f"User-Agent is {session.headers['User-Agent']}")


def pytest_deploygate_kinds(config):
    return [SessionHeader()]


@pytest.fixture(scope="session")
def deploygate_http():
    with requests.Session() as session:
        session.headers["User-Agent"] = "our-proxy-aware-client"
        yield session
''')
    gate.config("[[session_header]]\n")
    result = gate.run()
    result.stdout.fnmatch_lines(["FAILED *session_header[[]session_header1[]] - User-Agent is our-proxy-aware-client"])
