"""What a run says: verdict first, samples, warn severity, the summary section, JUnit, reports, xdist."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from .conftest import Gate

GATE = """
    [deploygate]
    samples = 2

    [databases.main]
    url = "sqlite:///app.db"

    [[sql]]
    name = "null-slugs"
    query = "SELECT id, slug FROM ads WHERE slug IS NULL ORDER BY id"

    [[sql]]
    name = "short-titles"
    severity = "warn"
    query = "SELECT id, title FROM ads WHERE length(title) < 3 ORDER BY id"

    [[sql]]
    name = "healthy"
    query = "SELECT id FROM ads WHERE id < 0"

    [[environment]]
    require = ["PATH", "DEPLOYGATE_TEST_SURELY_UNSET"]
"""


@pytest.fixture
def reporting_gate(gate: Gate) -> Gate:
    gate.sqlite("""
        CREATE TABLE ads (id INTEGER PRIMARY KEY, slug TEXT, title TEXT);
        INSERT INTO ads VALUES (1, 'a-1', 'Bike'), (2, NULL, 'Go'), (3, NULL, 'Car'), (4, NULL, 'Van'), (5, 'e-5', 'X');
    """)
    gate.config(GATE)
    return gate


def test_a_failure_is_its_verdict_then_samples_without_traceback(reporting_gate: Gate) -> None:
    result = reporting_gate.run()
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines([
        "*_ sql[[]null-slugs[]] _*",
        "query returned 3 rows (expected none)",
        "  id=2, slug=NULL",
        "  id=3, slug=NULL",
        "*_ environment[[]DEPLOYGATE_TEST_SURELY_UNSET[]] _*",
        "environment variable DEPLOYGATE_TEST_SURELY_UNSET is not set",
    ])
    assert "  id=4, slug=NULL" not in result.stdout.lines  # samples = 2
    assert "Traceback" not in result.stdout.str()
    assert "def runtest" not in result.stdout.str()
    result.stdout.fnmatch_lines(["FAILED deploygate.toml::sql[[]null-slugs[]] - query returned 3 rows (expected none)"])


def test_a_warn_check_reports_but_does_not_fail_the_run(gate: Gate) -> None:
    gate.sqlite("CREATE TABLE ads (id INTEGER PRIMARY KEY, title TEXT); INSERT INTO ads VALUES (1, 'Go');")
    gate.config('''
        [databases.main]
        url = "sqlite:///app.db"
        [[sql]]
        name = "short-titles"
        severity = "warn"
        query = "SELECT id, title FROM ads WHERE length(title) < 3"
    ''')
    result = gate.run("-v")
    assert result.ret == pytest.ExitCode.OK
    assert result.parseoutcomes() == {"warned": 1}
    result.stdout.fnmatch_lines([
        "deploygate.toml::sql[[]short-titles[]] WARN*",
        "*= deploygate =*",
        "sql  1 warned",
        "WARN deploygate.toml::sql[[]short-titles[]] - query returned 1 row (expected none)",
    ])


def test_the_summary_section_counts_by_kind_and_adds_what_pytest_does_not_say(reporting_gate: Gate) -> None:
    """Counts by kind, the warnings (which pass) and what could not be checked; the failures are
    pytest's short summary's, right after it, and not said twice."""
    two_databases = GATE.replace("    query = ", '    database = "main"\n    query = ')
    reporting_gate.config(two_databases + '\n[databases.down]\nurl = "postgresql://gate@127.0.0.1:9/app"\nconnect_timeout = "1s"\n'
                          '[[sql]]\nname = "on-a-database-that-is-down"\ndatabase = "down"\nquery = "SELECT 1 WHERE false"\n')
    result = reporting_gate.run()
    result.stdout.fnmatch_lines([
        "*= deploygate =*",
        "environment  1 passed, 1 failed",
        "sql          1 passed, 1 failed, 1 warned, 1 error",
        "WARN deploygate.toml::sql[[]short-titles[]] - query returned 2 rows (expected none)",
        "COULD NOT CHECK deploygate.toml::sql[[]on-a-database-that-is-down[]] - *",
        "*= short test summary info =*",
        "FAILED deploygate.toml::sql[[]null-slugs[]] - query returned 3 rows (expected none)",
        "FAILED deploygate.toml::environment[[]DEPLOYGATE_TEST_SURELY_UNSET[]] - environment variable *",
    ])
    section = result.stdout.str().split("= deploygate =")[1].split("short test summary info")[0]
    assert "FAILED" not in section


def junit_properties(path: str) -> dict[str, dict[str, str]]:
    tree = ET.parse(path)
    cases = {}
    for case in tree.iter("testcase"):
        props = {p.get("name", ""): p.get("value", "") for p in case.iter("property")}
        cases[case.get("name", "")] = props
    return cases


def test_junit_has_one_testcase_per_item_with_properties(reporting_gate: Gate) -> None:
    reporting_gate.run("--junitxml=junit.xml")
    cases = junit_properties(str(reporting_gate.path / "junit.xml"))
    assert set(cases) == {"sql[null-slugs]", "sql[short-titles]", "sql[healthy]",
                          "environment[PATH]", "environment[DEPLOYGATE_TEST_SURELY_UNSET]"}
    assert cases["sql[null-slugs]"] == {"kind": "sql", "target": "query", "database": "main",
                                        "severity": "fail", "rows": "3"}
    assert cases["sql[short-titles]"]["warning"] == "query returned 2 rows (expected none)"
    assert cases["sql[healthy]"]["rows"] == "0"
    assert cases["environment[PATH]"] == {"kind": "environment", "target": "PATH", "severity": "fail"}


def test_the_json_report_has_every_check(reporting_gate: Gate) -> None:
    reporting_gate.run("--deploygate-report=out/report.json")
    report = json.loads((reporting_gate.path / "out" / "report.json").read_text())
    assert report["outcome"] == "failed"
    assert report["counts"] == {"passed": 2, "failed": 2, "warned": 1, "skipped": 0, "error": 0}
    ids = [c["id"] for c in report["checks"]]
    assert ids == ["null-slugs", "short-titles", "healthy", "PATH", "DEPLOYGATE_TEST_SURELY_UNSET"]
    null_slugs = report["checks"][0]
    assert null_slugs["verdict"] == "query returned 3 rows (expected none)"
    assert null_slugs["samples"] == ["id=2, slug=NULL", "id=3, slug=NULL"]
    assert null_slugs["figures"] == {"rows": 3}


def test_the_markdown_report_fits_a_ci_step_summary(reporting_gate: Gate) -> None:
    reporting_gate.run("--deploygate-report=report.md")
    text = (reporting_gate.path / "report.md").read_text()
    assert text.startswith("## ❌ Deploy gate failed: 2 passed, 2 failed, 1 warned\n")
    assert "| sql | 1 | 1 | 1 | 0 | 0 |" in text
    assert "| ❌ | `deploygate.toml::sql[null-slugs]` | query returned 3 rows (expected none) |" in text
    assert "| ⚠️ | `deploygate.toml::sql[short-titles]` | query returned 2 rows (expected none) |" in text


def test_xdist_gives_the_same_outcomes_report_and_junit(reporting_gate: Gate) -> None:
    serial = reporting_gate.run_subprocess("--deploygate-report=serial.json", "--junitxml=serial.xml")
    parallel = reporting_gate.run_subprocess("-n", "2", "--deploygate-report=parallel.json", "--junitxml=parallel.xml")
    assert serial.parseoutcomes() == {**parallel.parseoutcomes()} == {"passed": 2, "failed": 2, "warned": 1}
    assert parallel.ret == serial.ret == pytest.ExitCode.TESTS_FAILED

    def checks(name: str) -> list[dict[str, object]]:
        report = json.loads((reporting_gate.path / name).read_text())
        return [{k: v for k, v in c.items() if k != "duration"} for c in report["checks"]]

    assert checks("parallel.json") == checks("serial.json")
    assert junit_properties(str(reporting_gate.path / "parallel.xml")) == junit_properties(str(reporting_gate.path / "serial.xml"))
    parallel.stdout.fnmatch_lines([
        "*= deploygate =*",
        "WARN deploygate.toml::sql[[]short-titles[]] - query returned 2 rows (expected none)",
        "*= short test summary info =*",
        "FAILED deploygate.toml::sql[[]null-slugs[]] - query returned 3 rows (expected none)",
        "FAILED deploygate.toml::environment[[]DEPLOYGATE_TEST_SURELY_UNSET[]] - *",
    ])
