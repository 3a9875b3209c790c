"""What a run says: verdict first, samples, warn severity, the summary section, JUnit, reports, xdist."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from pathlib import Path

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
    assert "| ❌ | `deploygate.toml::sql[null-slugs]` | `query returned 3 rows (expected none)` |" in text
    assert "| ⚠️ | `deploygate.toml::sql[short-titles]` | `query returned 2 rows (expected none)` |" in text


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
    ])
    # pytest's short summary lists the failures in the order the workers finished them
    for line in ("FAILED deploygate.toml::sql[[]null-slugs[]] - query returned 3 rows (expected none)",
                 "FAILED deploygate.toml::environment[[]DEPLOYGATE_TEST_SURELY_UNSET[]] - *"):
        parallel.stdout.fnmatch_lines(["*= short test summary info =*", line])


# -- where people look: GitHub Actions, Prometheus, every CI's JUnit --------------------------------

DATA = Path(__file__).parent / "data"


def test_github_actions_annotations_point_at_each_entry(reporting_gate: Gate, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_WORKSPACE", str(reporting_gate.path.parent))
    result = reporting_gate.run()
    folder = reporting_gate.path.name
    result.stdout.fnmatch_lines([
        f"::error file={folder}/deploygate.toml,line=8,title=deploygate sql[[]null-slugs[]]::"
        "query returned 3 rows (expected none)%0Aid=2, slug=NULL%0Aid=3, slug=NULL",
        f"::error file={folder}/deploygate.toml,line=21,title=deploygate environment[[]DEPLOYGATE_TEST_SURELY_UNSET[]]::"
        "environment variable DEPLOYGATE_TEST_SURELY_UNSET is not set",
        f"::warning file={folder}/deploygate.toml,line=12,title=deploygate sql[[]short-titles[]]::*",
    ])
    assert "::notice" not in result.stdout.str()
    monkeypatch.delenv("GITHUB_ACTIONS")
    assert "::error" not in reporting_gate.run().stdout.str()
    assert "::error" in reporting_gate.run("--deploygate-annotations").stdout.str()


def test_at_most_ten_annotations_of_each_kind_and_a_notice_of_the_rest(gate: Gate, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    gate.config("[[environment]]\nrequire = [" + ", ".join(f'"DG_UNSET_{i}"' for i in range(14)) + "]\n")
    result = gate.run()
    errors = [line for line in result.stdout.lines if line.startswith("::error ")]
    assert len(errors) == 10
    assert "DG_UNSET_0" in errors[0]  # in config order
    result.stdout.fnmatch_lines(["::notice title=deploygate::4 more checks not annotated (GitHub shows 10 errors and "
                                 "10 warnings per step)*"])


def test_the_step_summary_gets_the_markdown_report(reporting_gate: Gate, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = reporting_gate.path / "step-summary.md"
    summary.write_text("## Build\n\nok\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    reporting_gate.run_subprocess("-n", "2")
    text = summary.read_text()
    assert text.startswith("## Build\n\nok\n## ❌ Deploy gate failed: 2 passed, 1 failed, 1 warned, 1 error") or \
        text.startswith("## Build\n\nok\n## ❌ Deploy gate failed")
    assert text.count("Deploy gate failed") == 1  # written once, by the xdist controller
    assert "| ❌ | `deploygate.toml::sql[null-slugs]` | `query returned 3 rows (expected none)` |" in text


def test_a_markdown_report_stays_below_the_step_summary_limit() -> None:
    from pytest_deploygate.report import GateReport

    report = GateReport()
    for i in range(10_000):
        report.add({"nodeid": f"deploygate.toml::rows[main.t{i}.c:not_null]", "order": i, "kind": "rows", "id": f"t{i}",
                    "status": "failed", "severity": "fail", "verdict": f"{i} of 120,412 rows in t{i} have c NULL " + "x" * 60,
                    "samples": [f"id={n}, c=NULL" for n in range(5)], "figures": {}})
    text = report.markdown()
    assert len(text.encode()) < 1_000_000
    assert text.rstrip().endswith("the JSON report (`--deploygate-report=gate.json`) and the job log have them all._")
    left = int(text.rstrip().splitlines()[-1].split()[0].lstrip("_").replace(",", ""))
    assert 0 < left < 10_000
    assert text.count("| ❌ |") == 10_000 - left


def test_prometheus_textfile_for_node_exporter(gate: Gate, monkeypatch: pytest.MonkeyPatch) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    monkeypatch.setenv("DG_SECRET_TABLE", "ads_secret_9f8e7d")
    gate.sqlite("CREATE TABLE ads (id INTEGER PRIMARY KEY, slug TEXT); INSERT INTO ads VALUES (1, NULL), (2, 'b');")
    gate.config('''
        [databases.main]
        url = "sqlite:///app.db"

        [[rows]]
        name = 'odd"name'
        table = "ads"
        [rows.columns.slug]
        not_null = true

        [[sql]]
        name = "fine"
        severity = "warn"
        query = "SELECT id FROM ads WHERE id < 0 AND '${DG_SECRET_TABLE}' = ''"
    ''')
    result = gate.run("--deploygate-report", "metrics/gate.prom", "--deploygate-report", "gate.json")
    result.assert_outcomes(passed=1, failed=1)
    text = (gate.path / "metrics" / "gate.prom").read_text()
    assert "ads_secret_9f8e7d" not in text
    assert sorted(p.name for p in (gate.path / "metrics").iterdir()) == ["gate.prom"]  # renamed into place
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    gate_label = ("gate", "deploygate.toml")
    labels = (("check", 'odd"name.slug:not_null'), gate_label, ("kind", "rows"), ("severity", "fail"))
    assert samples[("deploygate_check_passed", labels)] == 0
    assert samples[("deploygate_check_passed", (("check", "fine"), gate_label, ("kind", "sql"), ("severity", "warn")))] == 1
    assert samples[("deploygate_check_could_not_check", labels)] == 0
    assert samples[("deploygate_figure_rows", labels)] == 2  # the figures
    assert samples[("deploygate_checks", (gate_label, ("status", "failed")))] == 1
    assert samples[("deploygate_passed", (gate_label,))] == 0
    assert samples[("deploygate_exit_status", (gate_label,))] == 1
    assert abs(samples[("deploygate_last_run_timestamp_seconds", (gate_label,))] - time.time()) < 60


def test_junit_under_xunit2_is_valid_against_its_schema_and_xunit1_has_properties(reporting_gate: Gate) -> None:
    import xmlschema

    schema = xmlschema.XMLSchema(str(DATA / "junit-10.xsd"))
    reporting_gate.run("--junitxml=x2.xml", "-o", "junit_family=xunit2")
    schema.validate(str(reporting_gate.path / "x2.xml"))
    assert "<property" not in (reporting_gate.path / "x2.xml").read_text()
    reporting_gate.run("--junitxml=x1.xml")  # xunit1, as the docs advise for GitLab and Jenkins
    tree = ET.parse(reporting_gate.path / "x1.xml")
    case = next(c for c in tree.iter("testcase") if c.get("name") == "sql[null-slugs]")
    assert case.get("file") == "deploygate.toml"
    assert case.get("line") == "7"  # 0-based in JUnit's xunit1, as pytest writes it
    assert {p.get("name") for p in case.iter("property")} >= {"kind", "severity", "rows"}


def test_rA_lists_the_warned_checks_and_skips_name_their_item(reporting_gate: Gate) -> None:
    reporting_gate.config(GATE + '\n[[sql]]\nname = "later"\nskip = "waiting for the migration"\nquery = "SELECT 1"\n')
    result = reporting_gate.run("-rA")
    result.stdout.fnmatch_lines([
        "*= short test summary info =*",
        "SKIPPED [[]1[]] deploygate.toml:*: sql[[]later[]]: waiting for the migration",
        "WARN deploygate.toml::sql[[]short-titles[]] - query returned 2 rows (expected none)",
    ], consecutive=False)


def test_marks_the_config_declares_are_listed_by_markers(gate: Gate) -> None:
    gate.config('[[environment]]\nrequire = ["PATH"]\nmarks = ["nightly", "payments"]\n')
    result = gate.pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.nightly: declared in deploygate.toml",
                                 "@pytest.mark.payments: declared in deploygate.toml"], consecutive=False)


def test_a_gate_that_did_not_get_to_its_checks_is_not_reported_as_passed(gate: Gate, monkeypatch: pytest.MonkeyPatch) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    summary = gate.path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    gate.config('[[environment]]\nrequire = ["PATH"]\nequals = 1\n')  # a config error: nothing runs
    result = gate.run("--deploygate-report=gate.prom", "--deploygate-report=gate.json")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    families = {f.name: f for f in text_string_to_metric_families((gate.path / "gate.prom").read_text())}
    assert families["deploygate_passed"].samples[0].value == 0
    assert families["deploygate_exit_status"].samples[0].value == 2
    assert json.loads((gate.path / "gate.json").read_text())["outcome"] == "error"
    assert summary.read_text().startswith("## 💥 Deploy gate did not run: the run was interrupted (a config error?) (exit 2)")


def test_a_report_that_cannot_be_written_is_said_and_the_result_stands(reporting_gate: Gate) -> None:
    (reporting_gate.path / "a-folder.json").mkdir()
    result = reporting_gate.run("--deploygate-report=a-folder.json", "--deploygate-report=ok.md")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stderr.fnmatch_lines(["deploygate: cannot write the report a-folder.json: *"])
    assert (reporting_gate.path / "ok.md").is_file()
    result.stdout.fnmatch_lines(["*= deploygate =*"])


def test_a_plain_test_run_writes_no_step_summary(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = pytester.path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    pytester.makepyfile("def test_x():\n    assert False\n")
    pytester.runpytest("-p", "no:cacheprovider")
    assert not summary.exists()


def test_the_markdown_puts_failures_before_warnings_and_rows_before_samples() -> None:
    from pytest_deploygate.report import GateReport

    report = GateReport()
    for i in range(3000):
        status = "warned" if i < 2000 else "failed"
        report.add({"nodeid": f"deploygate.toml::sql[q{i}]", "order": i, "kind": "sql", "id": f"q{i}", "status": status,
                    "severity": "warn" if status == "warned" else "fail", "verdict": "v" * 600,
                    "samples": ["id=1"] * 5, "figures": {}})
    text = report.markdown()
    assert len(text.encode()) < 1_000_000
    rows = [line for line in text.splitlines() if line.startswith("| ❌") or line.startswith("| ⚠️")]
    assert sum(line.startswith("| ❌") for line in rows) == 1000  # every failure, first
    assert text.index("| ❌") < text.index("| ⚠️")
    assert text.index("<details>") > text.rindex("| ⚠️")
