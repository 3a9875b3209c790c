"""What the gate reports: per-item records, the terminal section, JSON, Markdown and Prometheus
files, and GitHub Actions annotations.

Records travel from xdist workers to the controller on the test report (`report.deploygate`,
a plain dict), so the terminal section and the report file are the same under `-n`.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from . import __version__
from .items import RESULT_KEY, GateItem

STATUSES = ("passed", "failed", "warned", "skipped", "error")
MARKS = {"passed": "✅", "failed": "❌", "warned": "⚠️", "skipped": "⏭️", "error": "💥"}
#: GitHub keeps at most 1 MiB of a step summary: a Markdown report stays below it
MARKDOWN_LIMIT = 1_000_000
#: GitHub shows at most this many annotations of each kind per step
ANNOTATIONS_SHOWN = 10


def record_for(item: GateItem, report: pytest.TestReport) -> dict[str, Any] | None:
    """The record of one item's outcome, from the phase that decides it; None for other phases."""
    target = item.target
    result = item.stash.get(RESULT_KEY, None)
    if report.when == "call":
        if result is None:
            status, verdict = "error", _first_line(report.longreprtext)
        elif result.status in ("failed", "error"):
            warned = item.severity_of(result) == "warn"
            status, verdict = ("warned" if warned else result.status), result.verdict
        else:
            status, verdict = result.status, result.verdict
    elif report.when == "setup" and not report.passed:
        status = "skipped" if report.skipped else "error"
        longrepr = report.longrepr
        verdict = str(longrepr[2]) if isinstance(longrepr, tuple) else _first_line(report.longreprtext)
        verdict = verdict.removeprefix("Skipped: ")
    else:
        return None
    return {
        "nodeid": item.display_nodeid,
        "order": item.order,
        "file": item.display_nodeid.split("::")[0],
        "line": item.line + 1,  # of its entry's [[kind]] header, 1-based
        "kind": target.entry.kind,
        "id": item.gate.redactor(target.id),
        "target": item.gate.redactor(target.subject),
        "database": target.entry.database,
        "severity": target.effective_severity,
        "status": status,
        "verdict": item.gate.redactor(verdict),
        "samples": list(result.samples) if result is not None and status in ("failed", "warned", "error") else [],
        "figures": dict(result.figures) if result is not None else {},
        "duration": round(report.duration, 6),
    }


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


class GateReport:
    """Collects records on the controller (or the only process) and writes the outputs."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self.collected = 0

    def add(self, record: Mapping[str, Any]) -> None:
        self.records[record["nodeid"]] = dict(record)

    def ordered(self) -> list[dict[str, Any]]:
        return sorted(self.records.values(), key=lambda r: (r["nodeid"].split("::")[0], r["order"]))

    def counts(self) -> Counter[str]:
        return Counter(r["status"] for r in self.records.values())

    def verdict(self) -> str:
        counts = self.counts()
        return "FAILED" if counts["failed"] or counts["error"] else "PASSED"

    def summary_line(self) -> str:
        counts = self.counts()
        return ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s]) or "no checks ran"

    # -- terminal ------------------------------------------------------------------------------
    def terminal_lines(self) -> list[str]:
        by_kind: dict[str, Counter[str]] = defaultdict(Counter)
        for record in self.records.values():
            by_kind[record["kind"]][record["status"]] += 1
        width = max((len(k) for k in by_kind), default=0)
        lines = [f"{kind:<{width}}  " + ", ".join(f"{c[s]} {s}" for s in STATUSES if c[s])
                 for kind, c in sorted(by_kind.items())]
        # pytest's short summary lists the failures right after this section: what it adds is the
        # warnings (which pass) and the checks that could not run (which pytest counts as failures)
        for record in self.ordered():
            if record["status"] in ("warned", "error"):
                word = {"warned": "WARN", "error": "COULD NOT CHECK"}[record["status"]]
                lines.append(f"{word} {record['nodeid']} - {record['verdict']}")
        return lines

    # -- files ---------------------------------------------------------------------------------
    def write(self, path: Path) -> None:
        """The report for `path`'s suffix: `.md` Markdown, `.prom` Prometheus, else JSON; written
        to a temporary file beside it and renamed, so a reader (node_exporter) never sees half."""
        suffix = path.suffix.lower()
        text = (self.markdown() if suffix in (".md", ".markdown") else
                self.prometheus() if suffix == ".prom" else self.json())
        write_atomically(path, text)

    def json(self) -> str:
        document = {
            "tool": "pytest-deploygate",
            "version": __version__,
            "outcome": self.verdict().lower(),
            "counts": {s: self.counts()[s] for s in STATUSES},
            "checks": self.ordered(),
        }
        return json.dumps(document, indent=2, default=str) + "\n"

    def markdown(self, limit: int = MARKDOWN_LIMIT) -> str:
        """The run as Markdown, fit for a CI step summary: at most `limit` bytes (GitHub keeps 1 MiB
        of a step summary), with a last line saying what was left out."""
        icon = "✅" if self.verdict() == "PASSED" else "❌"
        lines = [f"## {icon} Deploy gate {self.verdict().lower()}: {self.summary_line()}", ""]
        by_kind: dict[str, Counter[str]] = defaultdict(Counter)
        for record in self.records.values():
            by_kind[record["kind"]][record["status"]] += 1
        lines += ["| kind | " + " | ".join(STATUSES) + " |", "|---" * (len(STATUSES) + 1) + "|"]
        for kind, c in sorted(by_kind.items()):
            lines.append(f"| {kind} | " + " | ".join(str(c[s]) for s in STATUSES) + " |")
        problems = [r for r in self.ordered() if r["status"] in ("failed", "warned", "error")]
        # what is left of the budget once the note that may close it is kept aside
        budget = limit - len("\n".join(lines).encode()) - 400
        rows: list[str] = []
        details: list[str] = []
        shown = 0
        for record in problems:
            row = f"| {MARKS[record['status']]} | `{_cell(record['nodeid'])}` | {_cell(record['verdict'])} |"
            cost = len(row.encode()) + 1
            if cost > budget:
                break
            rows.append(row)
            budget -= cost
            shown += 1
            if record["samples"]:
                block = ["", f"<details><summary><code>{_html(record['nodeid'])}</code></summary>", "",
                         "```", *record["samples"], "```", "", "</details>"]
                block_cost = len("\n".join(block).encode()) + 1
                if block_cost <= budget - 200 * (len(problems) - shown):  # rows first, then details
                    details += block
                    budget -= block_cost
        if rows:
            lines += ["", "| | check | verdict |", "|---|---|---|", *rows, *details]
        if shown < len(problems):
            lines += ["", f"_{plural_checks(len(problems) - shown)} left out to stay within GitHub's 1 MiB step "
                          "summary: the JSON report (`--deploygate-report gate.json`) and the job log have them all._"]
        return "\n".join(lines) + "\n"

    def prometheus(self, now: float | None = None) -> str:
        """The node_exporter textfile-collector format (Prometheus text 0.0.4): per check its
        outcome and figures as gauges, labelled by kind, check and severity; and the run's time."""
        families: dict[str, list[str]] = defaultdict(list)
        for record in self.ordered():
            labels = _labels(kind=record["kind"], check=record["id"], severity=record["severity"])
            if record["status"] != "skipped":
                families["deploygate_check_passed"].append(f"{{{labels}}} {int(record['status'] == 'passed')}")
                families["deploygate_check_could_not_check"].append(f"{{{labels}}} {int(record['status'] == 'error')}")
            for name, value in record.get("figures", {}).items():
                if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                    continue
                families[f"deploygate_check_{_metric_name(name)}"].append(f"{{{labels}}} {_number(value)}")
        counts = self.counts()
        families["deploygate_checks"] = [f'{{status="{status}"}} {counts[status]}' for status in STATUSES]
        families["deploygate_passed"] = [f" {int(self.verdict() == 'PASSED')}"]
        families["deploygate_last_run_timestamp_seconds"] = [f" {_number(round(now if now is not None else time.time(), 3))}"]
        out: list[str] = []
        for name in sorted(families):
            out += [f"# HELP {name} {_HELP.get(name, _figure_help(name))}", f"# TYPE {name} gauge"]
            out += [f"{name}{sample}" for sample in families[name]]
        return "\n".join(out) + "\n"

    # -- GitHub Actions ------------------------------------------------------------------------
    def annotations(self, root: Path, workspace: Path) -> Iterator[str]:
        """`::error` and `::warning` workflow commands at each failing check's entry in the config:
        the failures and the checks that could not run first, then the warnings, each in config
        order, at most ANNOTATIONS_SHOWN of each (what GitHub shows), then a notice of the rest."""
        errors = [r for r in self.ordered() if r["status"] in ("failed", "error")]
        warnings = [r for r in self.ordered() if r["status"] == "warned"]
        for command, records in (("error", errors), ("warning", warnings)):
            for record in records[:ANNOTATIONS_SHOWN]:
                path = Path(root, record["file"])
                try:
                    shown = path.resolve().relative_to(workspace.resolve()).as_posix()
                except ValueError:
                    shown = path.as_posix()
                title = f"deploygate {record['kind']}[{record['id']}]" + (" could not check" if record["status"] == "error" else "")
                message = "\n".join([record["verdict"], *record.get("samples", [])[:5]])
                yield (f"::{command} file={_property(shown)},line={record['line']},title={_property(title)}::"
                       f"{_data(message)}")
        left = max(0, len(errors) - ANNOTATIONS_SHOWN) + max(0, len(warnings) - ANNOTATIONS_SHOWN)
        if left:
            yield (f"::notice title=deploygate::{_data(f'{plural_checks(left)} more not annotated (GitHub shows {ANNOTATIONS_SHOWN} errors and {ANNOTATIONS_SHOWN} warnings per step): the job log and the step summary list them all')}")


def plural_checks(n: int) -> str:
    return f"{n:,} check{'s' if n != 1 else ''}"


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


_HELP = {
    "deploygate_check_passed": "1 when the deploy gate check passed, 0 when it failed, warned or could not check",
    "deploygate_check_could_not_check": "1 when the check could not run (a database down, a query error)",
    "deploygate_checks": "checks of the last run, by outcome",
    "deploygate_passed": "1 when the last run of the deploy gate passed",
    "deploygate_last_run_timestamp_seconds": "when the deploy gate last ran (Unix time)",
}


def _figure_help(name: str) -> str:
    return f"the figure {name.removeprefix('deploygate_check_')} the check measured"


def _metric_name(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def _labels(**labels: str) -> str:
    return ",".join(f'{key}="{_label_value(str(value))}"' for key, value in labels.items())


def _label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 2**53 else repr(float(value))


def _data(text: str) -> str:
    """A workflow command's message, escaped as GitHub reads it."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
