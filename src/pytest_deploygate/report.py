"""What the gate reports: per-item records, the terminal section, JSON and Markdown files.

Records travel from xdist workers to the controller on the test report (`report.deploygate`,
a plain dict), so the terminal section and the report file are the same under `-n`.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from . import __version__
from .items import RESULT_KEY, GateItem

STATUSES = ("passed", "failed", "warned", "skipped", "error")
MARKS = {"passed": "✅", "failed": "❌", "warned": "⚠️", "skipped": "⏭️", "error": "💥"}


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
        "kind": target.entry.kind,
        "id": target.id,
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
        path.parent.mkdir(parents=True, exist_ok=True)
        text = self.markdown() if path.suffix.lower() in (".md", ".markdown") else self.json()
        path.write_text(text, encoding="utf-8")

    def json(self) -> str:
        document = {
            "tool": "pytest-deploygate",
            "version": __version__,
            "outcome": self.verdict().lower(),
            "counts": {s: self.counts()[s] for s in STATUSES},
            "checks": self.ordered(),
        }
        return json.dumps(document, indent=2, default=str) + "\n"

    def markdown(self) -> str:
        icon = "✅" if self.verdict() == "PASSED" else "❌"
        lines = [f"## {icon} Deploy gate {self.verdict().lower()}: {self.summary_line()}", ""]
        by_kind: dict[str, Counter[str]] = defaultdict(Counter)
        for record in self.records.values():
            by_kind[record["kind"]][record["status"]] += 1
        lines += ["| kind | " + " | ".join(STATUSES) + " |", "|---" * (len(STATUSES) + 1) + "|"]
        for kind, c in sorted(by_kind.items()):
            lines.append(f"| {kind} | " + " | ".join(str(c[s]) for s in STATUSES) + " |")
        problems = [r for r in self.ordered() if r["status"] in ("failed", "warned", "error")]
        if problems:
            lines += ["", "| | check | verdict |", "|---|---|---|"]
            lines += [f"| {MARKS[r['status']]} | `{_cell(r['nodeid'])}` | {_cell(r['verdict'])} |" for r in problems]
            for record in problems:
                if record["samples"]:
                    lines += ["", f"<details><summary><code>{_html(record['nodeid'])}</code></summary>", "",
                              "```", *record["samples"], "```", "", "</details>"]
        return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
