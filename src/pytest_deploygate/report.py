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
from .wording import plural

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
        if result is None:  # the item itself broke (a fixture, a kind's bug): pytest's own message
            status, verdict = "error", _crash_message(report)
        elif result.status in ("failed", "error"):
            warned = item.severity_of(result) == "warn"
            status, verdict = ("warned" if warned else result.status), result.verdict
        else:
            status, verdict = result.status, result.verdict
    elif report.when == "setup" and not report.passed:
        status = "skipped" if report.skipped else "error"
        longrepr = report.longrepr
        verdict = str(longrepr[2]) if isinstance(longrepr, tuple) else _crash_message(report)
        verdict = verdict.removeprefix("Skipped: ")
    else:
        return None
    redact = item.gate.redactor
    return {
        "nodeid": redact(item.display_nodeid),
        "order": item.order,
        # the config file, relative to the rootdir (with `..` for one given from elsewhere)
        "file": os.path.relpath(item.path, item.config.rootpath),
        "line": item.line + 1,  # of its entry's [[kind]] header, 1-based
        "kind": target.entry.kind,
        "id": item.gate.redactor(target.id),
        "target": item.gate.redactor(target.subject),
        "database": target.entry.database,
        "severity": target.effective_severity,
        "status": status,
        # could not check, whatever it counted as (a warning with could_not_check = "warn")
        "could_not_check": status == "error" or (result is not None and result.status == "error"),
        "verdict": redact(verdict),
        "samples": list(result.samples) if result is not None and status in ("failed", "warned", "error") else [],
        "figures": dict(result.figures) if result is not None else {},
        "duration": round(report.duration, 6),
    }


def _crash_message(report: pytest.TestReport) -> str:
    """What broke, as pytest says it: the exception's message, not the first line of a traceback."""
    crash = getattr(report.longrepr, "reprcrash", None)
    message = getattr(crash, "message", None)
    if isinstance(message, str) and message.strip():
        return message.strip().splitlines()[0]
    text = report.longreprtext.strip()
    return text.splitlines()[-1] if text else ""


class GateReport:
    """Collects records on the controller (or the only process) and writes the outputs."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self.collected = 0
        #: pytest's exit status, once the session has finished: a run that did not get to its
        #: checks (a broken config: 2; nothing selected: 5) is not a passing gate
        self.exitstatus: int | None = None

    def add(self, record: Mapping[str, Any]) -> None:
        self.records[record["nodeid"]] = dict(record)

    def ordered(self) -> list[dict[str, Any]]:
        return sorted(self.records.values(), key=lambda r: (r["nodeid"].split("::")[0], r["order"]))

    def counts(self) -> Counter[str]:
        return Counter(r["status"] for r in self.records.values())

    def verdict(self) -> str:
        """PASSED, FAILED, or DID NOT RUN: pytest stopped before the checks (a config error: exit 2)
        or ran none (exit 5), which no report may call a pass."""
        counts = self.counts()
        if self.exitstatus not in (None, 0, 1) or not self.records:
            return "DID NOT RUN"
        return "FAILED" if counts["failed"] or counts["error"] or self.exitstatus == 1 else "PASSED"

    def outcome_line(self) -> str:
        if self.verdict() == "DID NOT RUN":
            why = {2: "the run was interrupted (a config error?)", 3: "pytest hit an internal error",
                   4: "pytest was called wrongly", 5: "no check was selected"}.get(self.exitstatus or 0, "no check ran")
            return f"💥 Deploy gate did not run: {why} (exit {self.exitstatus})"
        icon = "✅" if self.verdict() == "PASSED" else "❌"
        return f"{icon} Deploy gate {self.verdict().lower()}: {self.summary_line()}"

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
            "outcome": {"DID NOT RUN": "error"}.get(self.verdict(), self.verdict().lower()),
            "exit_status": self.exitstatus,
            "counts": {s: self.counts()[s] for s in STATUSES},
            "checks": self.ordered(),
        }
        return json.dumps(document, indent=2, default=str) + "\n"

    def markdown(self, limit: int = MARKDOWN_LIMIT) -> str:
        """The run as Markdown, fit for a CI step summary: at most `limit` bytes (GitHub keeps 1 MiB
        of a step summary). The failures and the checks that could not run come first, then the
        warnings; every row before any sample; what did not fit is counted in a last line."""
        lines = [f"## {self.outcome_line()}", ""]
        by_kind: dict[str, Counter[str]] = defaultdict(Counter)
        for record in self.records.values():
            by_kind[record["kind"]][record["status"]] += 1
        if by_kind:
            lines += ["| kind | " + " | ".join(STATUSES) + " |", "|---" * (len(STATUSES) + 1) + "|"]
            for kind, c in sorted(by_kind.items()):
                lines.append(f"| {kind} | " + " | ".join(str(c[s]) for s in STATUSES) + " |")
        rank = {"failed": 0, "error": 0, "warned": 1}
        problems = sorted((r for r in self.ordered() if r["status"] in rank), key=lambda r: rank[r["status"]])
        budget = limit - len("\n".join(lines).encode()) - 600  # the closing notes' room
        rows: list[str] = []
        for record in problems:
            row = f"| {MARKS[record['status']]} | {_cell(record['nodeid'])} | {_cell(record['verdict'], 2000)} |"
            if len(row.encode()) + 1 > budget:
                break
            rows.append(row)
            budget -= len(row.encode()) + 1
        details: list[str] = []
        with_samples = [r for r in problems[:len(rows)] if r["samples"]]
        shown_samples = 0
        for record in with_samples:
            block = ["", f"<details><summary><code>{_html(record['nodeid'])}</code></summary>", "", "```",
                     *(sample.replace("```", "ˋˋˋ") for sample in record["samples"]), "```", "", "</details>"]
            cost = len("\n".join(block).encode()) + 1
            if cost > budget:
                break
            details += block
            budget -= cost
            shown_samples += 1
        if rows:
            lines += ["", "| | check | verdict |", "|---|---|---|", *rows, *details]
        left, samples_left = len(problems) - len(rows), len(with_samples) - shown_samples
        if left or samples_left:
            said = " and ".join(part for part in (plural(left, "check") if left else "",
                                                    f"the samples of {plural(samples_left, 'check')}" if samples_left else "") if part)
            lines += ["", f"_{said} left out to stay within GitHub's 1 MiB step summary: the JSON report "
                          "(`--deploygate-report=gate.json`) and the job log have them all._"]
        return "\n".join(lines) + "\n"

    def prometheus(self, now: float | None = None) -> str:
        """The node_exporter textfile-collector format (Prometheus text 0.0.4): per check its
        outcome and figures as gauges, labelled by gate file, kind, check and severity; and the
        run's outcome and time, labelled by gate file (two gates may share a textfile folder)."""
        families: dict[str, list[str]] = defaultdict(list)
        seen: set[tuple[str, str]] = set()
        gates = sorted({record["file"] for record in self.records.values()}) or [""]
        for record in self.ordered():
            labels = _labels(gate=record["file"], kind=record["kind"], check=record["id"], severity=record["severity"])
            if record["status"] != "skipped":
                families["deploygate_check_passed"].append(f"{{{labels}}} {int(record['status'] == 'passed')}")
                families["deploygate_check_could_not_check"].append(
                    f"{{{labels}}} {int(bool(record.get('could_not_check')))}")
            for name, value in record.get("figures", {}).items():
                number = _finite(value)
                metric = f"deploygate_figure_{_metric_name(name)}"
                if number is None or (metric, labels) in seen:  # `p-50` and `p_50`: the first
                    continue
                seen.add((metric, labels))
                families[metric].append(f"{{{labels}}} {_number(number)}")
        counts = self.counts()
        passed = int(self.verdict() == "PASSED")
        stamp = _number(round(now if now is not None else time.time(), 3))
        for gate in gates:
            per_gate = Counter(r["status"] for r in self.records.values() if r["file"] == gate)
            families["deploygate_checks"] += [f'{{{_labels(gate=gate, status=status)}}} {per_gate[status] if gate else counts[status]}'
                                              for status in STATUSES]
            families["deploygate_passed"].append(f"{{{_labels(gate=gate)}}} {passed}")
            families["deploygate_exit_status"].append(f"{{{_labels(gate=gate)}}} {self.exitstatus if self.exitstatus is not None else -1}")
            families["deploygate_last_run_timestamp_seconds"].append(f"{{{_labels(gate=gate)}}} {stamp}")
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
                title = f"deploygate {record['kind']}[{record['id']}]" + (" could not check" if record.get("could_not_check") else "")
                message = "\n".join([record["verdict"], *record.get("samples", [])[:5]])
                yield (f"::{command} file={_property(shown)},line={record['line']},title={_property(title)}::"
                       f"{_data(message)}")
        left = max(0, len(errors) - ANNOTATIONS_SHOWN) + max(0, len(warnings) - ANNOTATIONS_SHOWN)
        if left:
            notice = (f"{plural(left, 'more check')} not annotated (GitHub shows {ANNOTATIONS_SHOWN} errors and "
                      f"{ANNOTATIONS_SHOWN} warnings per step): the job log and the step summary list them all")
            yield f"::notice title=deploygate::{_data(notice)}"


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to a temporary file beside `path` (the target of a link there) and rename it
    into place: a reader never sees half. The file gets the mode an existing one had, else what
    the umask allows."""
    path = Path(os.path.realpath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


_HELP = {
    "deploygate_check_passed": "1 when the deploy gate check passed, 0 when it failed, warned or could not check",
    "deploygate_check_could_not_check": "1 when the check could not run (a database down, a query error)",
    "deploygate_checks": "checks of the last run, by outcome",
    "deploygate_passed": "1 when the last run of the deploy gate passed (0 when it failed or did not get to its checks)",
    "deploygate_exit_status": "pytest's exit status of the last run (0 passed, 1 a check failed, 2 interrupted: a config error, 5 nothing selected)",
    "deploygate_last_run_timestamp_seconds": "when the deploy gate last ran (Unix time)",
}


def _figure_help(name: str) -> str:
    return f"the figure {name.removeprefix('deploygate_figure_')} the check measured"


def _finite(value: Any) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return value if math.isfinite(value) else None
    except OverflowError:  # an int too large for a float
        return None


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


def _cell(text: str, limit: int = 0) -> str:
    """A table cell as a code span, so that nothing in it (`*`, `_`, HTML) is read as Markdown:
    one line, cut at `limit` characters, a fence longer than any run of backticks in it, and `|`
    escaped (GitHub splits cells on it even in code)."""
    text = " ".join(text.split())
    if limit and len(text) > limit:
        text = text[:limit - 1] + "…"
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if longest else ""
    escaped = text.replace("|", "\\|")
    return f"{fence}{pad}{escaped}{pad}{fence}"


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
