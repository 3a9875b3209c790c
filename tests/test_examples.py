"""Every example in conftest_examples/ runs, as a user would run it (a subprocess in its folder)."""

from __future__ import annotations

import os
import re
import shutil
import xml.etree.ElementTree as ET

import pytest

from .conftest import Example


def test_quickstart_passes(example: Example, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEMO_INCIDENT", raising=False)
    example.copy("quickstart")
    result = example.run("--deploygate", "-v")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*deploygate.toml::sql[[]ads-without-slug[]] PASSED*",
                                 "*deploygate.toml::endpoint[[]communities-api[]] PASSED*"], consecutive=False)
    assert "failed" not in result.stdout.lines[-1]


def test_quickstart_fails_on_the_incident_naming_the_rows(example: Example, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_INCIDENT", "1")
    example.copy("quickstart")
    result = example.run("--deploygate")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([
        "query returned 3 rows (expected none)",
        "  id=201, title=Vintage road bike, slug=NULL",
        "  id=202, title=Dune, first edition, slug=''",
        "FAILED deploygate.toml::sql[[]ads-without-slug[]] - query returned 3 rows (expected none)",
    ])
    # incident 3: the uploads restored from another backup than the database
    result.stdout.fnmatch_lines([
        "3 of 200 files referenced by ad_images.file_path are missing under public",
        "  id=198: uploads/ads/ad-198.webp",
        "WARN deploygate.toml::files[[]main.ad_images.file_path:orphans[]] - 1 file under public matches "
        "uploads/ads/*.webp but no row of ad_images.file_path references it",
        "FAILED deploygate.toml::files[[]main.ad_images.file_path:missing[]] - 3 of 200 files referenced by "
        "ad_images.file_path are missing under public",
    ], consecutive=False)
    # and its root cause, in last night's backup (made by `deploygate manifest`)
    result.stdout.fnmatch_lines([
        "FAILED deploygate.toml::backup[[]backups:references[]] - 3 of 200 files referenced by ad_images.file_path "
        "in the backup's database.db are missing from the backup's uploads",
    ], consecutive=False)
    # the API the conftest serves answers 200 with an empty list; its token is sent, never shown
    result.stdout.fnmatch_lines([
        "GET /api/communities: 200 in *ms, but json length(communities) > `0` is false",
        "  body (19 bytes):",
        '    {"communities": []}',
    ])
    assert "demo-api-token" not in result.stdout.str()
    # the backend's log has the restore's error, and a route was edited after the last build
    result.stdout.fnmatch_lines([
        "FAILED deploygate.toml::logs[[]logs/backend.log[]] - 2 lines match 'column \"[[]^\"]+\" does not exist' "
        "in logs/backend.log (in the lines of the last 2h; line numbers count from the end)",
        "FAILED deploygate.toml::build[[]backend/dist[]] - backend/src/routes/communities.ts is newer than "
        "backend/dist/routes/communities.js (by 3m)",
    ], consecutive=False)


def test_quickstart_under_xdist(example: Example, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_INCIDENT", "1")
    example.copy("quickstart")
    serial = example.run("--deploygate").parseoutcomes()
    parallel = example.run("--deploygate", "-n", "2").parseoutcomes()
    assert serial == parallel
    assert serial["failed"] >= 1


def test_custom_kind_example(example: Example) -> None:
    example.copy("custom_kind")
    result = example.run("--deploygate", "-v", "-o", "junit_family=xunit1", "--junitxml=junit.xml")
    assert result.ret == pytest.ExitCode.OK
    assert result.parseoutcomes() == {"passed": 1, "warned": 1}
    result.stdout.fnmatch_lines([
        "*http_status[[]health[]] PASSED*",
        "WARN deploygate.toml::http_status[[]payments[]] - GET /payments: 503 (expected 200) in *ms",
    ])
    props = {p.get("name"): p.get("value") for p in ET.parse(example.path / "junit.xml").iter("property")}
    assert props["observed_by"] == "custom_kind conftest"  # the result hook ran


@pytest.mark.parametrize("ci_file", ["github-actions.yml", "gitlab-ci.yml"])
def test_ci_examples_run_the_gate_and_produce_what_they_publish(example: Example, ci_file: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEMO_INCIDENT", raising=False)
    text = (example.source("ci") / ci_file).read_text()
    commands = re.findall(r"(?:run:|- )\s*(pytest --deploygate[^\n]*)", text)
    assert len(commands) == 1, "each CI example runs the gate once"
    args = commands[0].split()[1:]
    example.copy("quickstart")
    result = example.run(*args)
    assert result.ret == pytest.ExitCode.OK
    for published in ("deploygate.xml", "deploygate.md"):
        assert published in text
        assert (example.path / published).is_file()
    assert (example.path / "deploygate.md").read_text().startswith("## ✅ Deploy gate passed")
    suite = ET.parse(example.path / "deploygate.xml").getroot().find("testsuite")
    assert suite is not None
    assert suite.get("failures") == "0"
    assert int(suite.get("tests", "0")) >= 3
    case = suite.find("testcase")
    assert case is not None
    assert case.get("file") == "deploygate.toml"  # xunit1: GitLab points at the file and line
    assert case.find("properties") is not None


def test_the_monitor_example_feeds_node_exporter_the_checks_the_gate_uses(
        example: Example, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """cron runs monitor.sh; node_exporter's textfile collector reads what it leaves."""
    import subprocess

    from prometheus_client.parser import text_string_to_metric_families

    example.copy("quickstart")
    shutil.copy(example.source("ci") / "monitor.sh", example.path / "monitor.sh")
    textfiles = tmp_path_factory.mktemp("textfile")
    for incident, expected in (("0", 1.0), ("1", 0.0)):
        monkeypatch.setenv("DEMO_INCIDENT", incident)
        env = {**os.environ, "TEXTFILE_DIR": str(textfiles)}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        run = subprocess.run(["sh", str(example.path / "monitor.sh")], env=env, capture_output=True, text=True,
                             check=False, timeout=300)
        assert run.returncode == (0 if expected else 1), run.stdout[-2000:] + run.stderr[-2000:]
        text = (textfiles / "deploygate.prom").read_text()
        families = {family.name: family for family in text_string_to_metric_families(text)}
        assert families["deploygate_passed"].samples[0].value == expected
        assert any(s.labels["kind"] == "endpoint" for s in families["deploygate_check_passed"].samples)
        assert [p.name for p in textfiles.iterdir()] == ["deploygate.prom"]


def test_schema_example_passes_and_catches_incident_1(example: Example, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCHEMA_DRIFT", raising=False)
    example.copy("schema")
    assert example.run("--deploygate").parseoutcomes() == {"passed": 7}
    monkeypatch.setenv("SCHEMA_DRIFT", "1")
    result = example.run("--deploygate")
    result.stdout.fnmatch_lines([
        "FAILED deploygate.toml::schema[[]main.ads[]] - column ads.custom_fields is missing (expected text)",
        "FAILED deploygate.toml::schema[[]main.categories[]] - column categories.form_template is missing (expected text)",
        "FAILED deploygate.toml::schema[[]main.user_favorites[]] - table user_favorites is missing in main",
    ], consecutive=False)
    assert result.parseoutcomes() == {"passed": 1, "failed": 6}


def test_schema_against_example_compares_production_with_staging(example: Example, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RELEASE_DRIFT", raising=False)
    example.copy("schema_against")
    assert example.run("--deploygate").parseoutcomes() == {"passed": 5}  # 4 staging tables + unexpected
    monkeypatch.setenv("RELEASE_DRIFT", "1")
    result = example.run("--deploygate")
    result.stdout.fnmatch_lines([
        "FAILED deploygate.toml::schema[[]main.ads[]] - 2 differences in table ads: column ads.slug is missing "
        "(expected text), ...",
        "FAILED deploygate.toml::schema[[]main.user_favorites[]] - table user_favorites is missing in main",
    ], consecutive=False)
    assert result.parseoutcomes() == {"passed": 3, "failed": 2}  # tmp_import is ignored
