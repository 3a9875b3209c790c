"""Activation, collection, ids and marks: the gate as pytest items."""

from __future__ import annotations

import pytest

from .conftest import Gate
from .helpers import silent_server

SQLITE_GATE = """
    [databases.main]
    url = "sqlite:///app.db"

    [[environment]]
    require = ["PATH"]

    [[sql]]
    name = "ads-without-slug"
    query = "SELECT id FROM ads WHERE slug IS NULL"
"""


@pytest.fixture
def sqlite_gate(gate: Gate) -> Gate:
    gate.sqlite("CREATE TABLE ads (id INTEGER PRIMARY KEY, slug TEXT); INSERT INTO ads VALUES (1, 'a-1');")
    gate.config(SQLITE_GATE)
    return gate


def test_without_the_flag_the_plugin_adds_nothing(sqlite_gate: Gate) -> None:
    sqlite_gate.pytester.makepyfile(test_unit="def test_unit(): pass")
    result = sqlite_gate.pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "deploygate: " not in result.stdout.str()  # no report header
    assert "= deploygate =" not in result.stdout.str()  # no summary section


def test_the_flag_runs_the_gate_from_deploygate_toml_and_not_the_test_suite(sqlite_gate: Gate) -> None:
    sqlite_gate.pytester.makepyfile(test_unit="def test_unit(): pass")
    result = sqlite_gate.run("-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([
        "deploygate.toml::environment[[]PATH[]] PASSED*",
        "deploygate.toml::sql[[]ads-without-slug[]] PASSED*",
    ])
    assert "test_unit" not in result.stdout.str()


def test_a_config_file_given_as_argument_is_collected_without_the_flag(sqlite_gate: Gate) -> None:
    sqlite_gate.config(SQLITE_GATE, name="gates/prod.toml")
    (sqlite_gate.path / "gates" / "app.db").write_bytes((sqlite_gate.path / "app.db").read_bytes())
    result = sqlite_gate.pytester.runpytest("-p", "no:cacheprovider", "gates/prod.toml", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["gates/prod.toml::sql[[]ads-without-slug[]] PASSED*"])


def test_the_config_option_names_another_file(sqlite_gate: Gate) -> None:
    (sqlite_gate.path / "deploygate.toml").rename(sqlite_gate.path / "staging.toml")
    result = sqlite_gate.run("--deploygate-config", "staging.toml", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["staging.toml::sql[[]ads-without-slug[]] PASSED*"])


def test_the_ini_key_names_the_config(sqlite_gate: Gate) -> None:
    (sqlite_gate.path / "deploygate.toml").rename(sqlite_gate.path / "gate.toml")
    sqlite_gate.pytester.makeini("[pytest]\ndeploygate_config = gate.toml\n")
    sqlite_gate.run().assert_outcomes(passed=2)


def test_pyproject_tool_deploygate_is_found_last(gate: Gate) -> None:
    gate.sqlite("CREATE TABLE t (id INTEGER);")
    gate.pytester.makepyprojecttoml("""
        [tool.deploygate.databases.main]
        url = "sqlite:///app.db"

        [[tool.deploygate.sql]]
        name = "empty-t"
        query = "SELECT id FROM t"
    """)
    result = gate.run("-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["pyproject.toml::sql[[]empty-t[]] PASSED*"])


def test_no_config_is_a_one_line_usage_error(gate: Gate) -> None:
    result = gate.run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: deploygate: no gate config found in *: create deploygate.toml*"])


def test_a_broken_config_is_one_message_without_traceback(gate: Gate) -> None:
    gate.config("""
        [databases.main]
        url = "sqlite:///app.db"
        [[sql]]
        name = "x"
        query = "SELECT 1"
        severty = "warn"
    """)
    result = gate.run()
    assert result.ret != 0
    message = 'deploygate.toml: [[sql]] #1 "x": key "severty": unknown key (did you mean "severity"?)'
    assert message in result.stdout.lines
    output = result.stdout.str()
    assert "Traceback" not in output
    assert "config.py" not in output
    assert output.count("did you mean") == 1


def test_ids_are_deterministic_and_follow_the_config(sqlite_gate: Gate) -> None:
    first = sqlite_gate.run("--collect-only", "-q").stdout.lines
    second = sqlite_gate.run("--collect-only", "-q").stdout.lines
    assert first[:2] == ["deploygate.toml::environment[PATH]", "deploygate.toml::sql[ads-without-slug]"]
    assert first[:2] == second[:2]


def test_collection_never_touches_the_database(gate: Gate) -> None:
    with silent_server() as server:
        gate.config(f"""
            [databases.main]
            url = "postgresql://app:pw@127.0.0.1:{server.port}/prod?sslmode=disable"
            [[sql]]
            name = "q"
            query = "SELECT 1"
        """)
        result = gate.run("--collect-only", "-q")
        result.stdout.fnmatch_lines(["deploygate.toml::sql[[]q[]]", "1 test collected*"])
        assert server.connections == 0


def test_items_are_marked_by_kind_and_marks_are_registered(sqlite_gate: Gate) -> None:
    result = sqlite_gate.run("--strict-markers", "-m", "deploygate and not environment", "-v")
    result.assert_outcomes(passed=1, deselected=1)
    result.stdout.fnmatch_lines(["*sql[[]ads-without-slug[]] PASSED*"])
    markers = sqlite_gate.pytester.runpytest("--markers").stdout.str()
    assert "@pytest.mark.deploygate:" in markers
    assert "@pytest.mark.sql:" in markers
    assert "@pytest.mark.environment:" in markers


def test_config_marks_and_keyword_selection(sqlite_gate: Gate) -> None:
    sqlite_gate.config(SQLITE_GATE + '\nmarks = ["nightly"]\n')
    sqlite_gate.run("--strict-markers", "-m", "nightly").assert_outcomes(passed=1, deselected=1)
    sqlite_gate.run("-k", "PATH").assert_outcomes(passed=1, deselected=1)


def test_skip_in_the_config_skips_with_its_reason(sqlite_gate: Gate) -> None:
    sqlite_gate.config(SQLITE_GATE + '\nskip = "until the backfill lands"\n')
    result = sqlite_gate.run("-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED*until the backfill lands"])


def test_last_failed_reruns_only_the_failing_check(sqlite_gate: Gate) -> None:
    sqlite_gate.sqlite("INSERT INTO ads VALUES (2, NULL);")
    pytester = sqlite_gate.pytester
    pytester.runpytest("--deploygate").assert_outcomes(passed=1, failed=1)
    pytester.runpytest("--deploygate", "--lf").assert_outcomes(failed=1, deselected=1)
