"""[[logs]]: real files with real contents (and real gzip), on disk where the config says."""

from __future__ import annotations

import gzip
import os
import re
import time
from pathlib import Path

import pytest

from pytest_deploygate.checks import logs as logs_module
from pytest_deploygate.checks.logs import LogsOptions, line_time, read_log, since_start, tail_start

from .conftest import Gate

SIGNATURE = 'column "[^"]+" does not exist'
SHOWN = SIGNATURE.replace("[", "[[]")  # as fnmatch reads it


def stamp(seconds_ago: float, fmt: str = "%Y-%m-%dT%H:%M:%S") -> str:
    return time.strftime(fmt, time.localtime(time.time() - seconds_ago))


def write(path: Path, lines: list[str], *, end: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + end, encoding="utf-8")
    return path


def backend_log(gate: Gate, name: str = "logs/backend.log") -> Path:
    """An hour of a backend's log: a start, requests every minute, the incident's error twice."""
    lines = [f"{stamp(3700)} INFO server started on :3000"]
    for minute in range(60, 0, -1):
        lines.append(f"{stamp(minute * 60)} INFO GET /api/communities 200 12ms")
        if minute in (45, 5):
            lines.append(f'{stamp(minute * 60)} ERROR column "form_template" does not exist')
            lines.append("    at Parser.parseErrorMessage (node_modules/pg-protocol/dist/parser.js:287:98)")
    return write(gate.path / name, lines)


def logs_gate(gate: Gate, extra: str = "", path: str = "logs/backend.log") -> None:
    gate.config(f"[[logs]]\npath = \"{path}\"\nforbid = ['{SIGNATURE}', 'ECONNREFUSED']\n{extra}\n")


def test_the_error_signature_is_found_with_its_line_numbers(gate: Gate) -> None:
    backend_log(gate)
    logs_gate(gate)
    result = gate.run("--junitxml=out.xml")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        f"2 lines match '{SHOWN}' in logs/backend.log",
        '  line 18: * ERROR column "form_template" does not exist',
        '  line 60: * ERROR column "form_template" does not exist',
        f"FAILED deploygate.toml::logs[[]logs/backend.log[]] - 2 lines match '{SHOWN}' in logs/backend.log",
    ])
    assert 'name="lines" value="65"' in (gate.path / "out.xml").read_text()


def test_a_clean_log_passes_and_require_finds_its_line(gate: Gate) -> None:
    write(gate.path / "logs/backend.log", [f"{stamp(60)} INFO server started", f"{stamp(30)} INFO GET / 200"])
    logs_gate(gate, "require = ['server started']")
    result = gate.run("-v")
    result.assert_outcomes(passed=1)


def test_a_required_line_that_is_not_there_fails(gate: Gate) -> None:
    write(gate.path / "logs/backend.log", [f"{stamp(60)} INFO booting", f"{stamp(30)} ERROR cannot bind :3000"])
    gate.config("[[logs]]\npath = \"logs/backend.log\"\nrequire = ['server started']\ntail = 100\n")
    result = gate.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["no line matches 'server started' in logs/backend.log (the last 100 lines)"])


def test_tail_reads_only_the_last_lines_and_says_numbers_count_from_the_end(gate: Gate) -> None:
    backend_log(gate)
    logs_gate(gate, "tail = 20")
    result = gate.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        f"1 line matches '{SHOWN}' in logs/backend.log (in the last 20 lines; line numbers count from the end)",
        '  line -6: * ERROR column "form_template" does not exist',
    ])
    logs_gate(gate, "tail = 5")
    gate.run().assert_outcomes(passed=1)


def test_since_reads_the_recent_lines_and_a_trace_belongs_to_its_timestamp(gate: Gate) -> None:
    backend_log(gate)
    logs_gate(gate, 'since = "10m"')
    result = gate.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        f"1 line matches '{SHOWN}' in logs/backend.log (in the lines of the last 10m; line numbers count from the end)"])
    # the stack trace line after the 45-minute-old error has no timestamp: it is 45 minutes old too
    gate.config("[[logs]]\npath = \"logs/backend.log\"\nforbid = ['parseErrorMessage']\nsince = \"30m\"\n")
    result = gate.run()
    result.stdout.fnmatch_lines(["1 line matches 'parseErrorMessage' in logs/backend.log (in the lines of the last 30m;*"])
    logs_gate(gate, 'since = "4m"')
    gate.run().assert_outcomes(passed=1)


@pytest.mark.parametrize(("line", "seconds_ago"), [
    ("{iso}Z GET /", None),
    ("{iso_local} INFO x", 120),
    ("{iso_local},123 INFO x", 120),
    ("[{iso_local}.5+00:00] x", None),
    ("<34>1 {iso}Z host app - - - x", None),
    ("{nginx} [error] 1#1: x", 120),
    ("{syslog} host app[1]: x", 120),
    ("[{apache_error} 2026] [core:error] x".replace(" 2026]", " {year}]"), 120),
    ('127.0.0.1 - - [{clf} +0000] "GET / HTTP/1.1" 200 12', None),
])
def test_timestamps_of_common_formats_are_read(line: str, seconds_ago: float | None) -> None:
    now = time.time()
    utc = time.gmtime(now - 120)
    local = time.localtime(now - 120)
    text = line.format(
        iso=time.strftime("%Y-%m-%dT%H:%M:%S", utc), iso_local=time.strftime("%Y-%m-%dT%H:%M:%S", local),
        nginx=time.strftime("%Y/%m/%d %H:%M:%S", local), syslog=time.strftime("%b %e %H:%M:%S", local),
        apache_error=time.strftime("%a %b %d %H:%M:%S.123456", local), year=local.tm_year,
        clf=time.strftime("%d/%b/%Y:%H:%M:%S", utc),
    )
    found = line_time(text.encode(), now)
    assert found is not None, text
    assert abs((now - found) - 120) < 1.5, text


def test_lines_without_a_timestamp_the_gate_reads_are_not_timed() -> None:
    now = time.time()
    for text in (b"    at Object.<anonymous> (index.js:1:1)", b"GET / 200", b"12345 hello", b""):
        assert line_time(text, now) is None


def test_since_on_a_log_without_timestamps_could_not_check(gate: Gate) -> None:
    write(gate.path / "logs/plain.log", ["started", "ECONNREFUSED"])
    logs_gate(gate, 'since = "1h"', path="logs/plain.log")
    result = gate.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*logs/plain.log: no line begins with a timestamp the gate reads*"])


def test_each_file_the_glob_matches_is_an_item_gzip_included(gate: Gate) -> None:
    backend_log(gate)
    rotated = gate.path / "logs/backend.log.1.gz"
    with gzip.open(rotated, "wt") as handle:
        handle.write(f"{stamp(90000)} ERROR connect ECONNREFUSED 127.0.0.1:5432\n" * 3)
    write(gate.path / "logs/worker.log", [f"{stamp(10)} INFO idle"])
    logs_gate(gate, path="logs/backend*")
    result = gate.run("-v")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([
        "*logs[[]logs/backend.log[]] FAILED*",
        "*logs[[]logs/backend.log.1.gz[]] FAILED*",
    ])
    result.stdout.fnmatch_lines(["3 lines match 'ECONNREFUSED' in logs/backend.log.1.gz", "  line 1: *"])


def test_tail_and_since_work_on_a_gzip_file(gate: Gate) -> None:
    lines = [f"{stamp(3600 - i * 60)} INFO {'ECONNREFUSED' if i in (5, 58) else 'ok'} {i}" for i in range(60)]
    with gzip.open(gate.path / "old.log.gz", "wt") as handle:
        handle.write("\n".join(lines) + "\n")
    gate.config("[[logs]]\nname = \"t\"\npath = \"old.log.gz\"\nforbid = ['ECONNREFUSED']\nrequire = ['ok 59']\ntail = 10\n"
                "[[logs]]\nname = \"s\"\npath = \"old.log.gz\"\nforbid = ['ECONNREFUSED']\nsince = \"10m\"\n")
    result = gate.run()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([
        "1 line matches 'ECONNREFUSED' in old.log.gz (in the last 10 lines; line numbers count from the end)",
        "  line -2: * ECONNREFUSED 58",
        "1 line matches 'ECONNREFUSED' in old.log.gz (in the lines of the last 10m; line numbers count from the end)",
        "  line -2: * ECONNREFUSED 58",
    ])


def test_a_glob_that_matches_nothing_fails_unless_missing_ok(gate: Gate) -> None:
    logs_gate(gate, path="logs/*.log")
    result = gate.run("-v")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*logs[[]logs/*.log[]] FAILED*", "no file matches logs/*.log"])
    logs_gate(gate, "missing_ok = true", path="logs/*.log")
    gate.run().assert_outcomes(passed=1)


def test_long_lines_bad_bytes_and_a_last_line_without_newline_are_read(gate: Gate) -> None:
    path = gate.path / "logs/app.log"
    path.parent.mkdir()
    with open(path, "wb") as handle:
        handle.write(b"ECONNREFUSED at the start of a long line " + b"x" * (3 * 1024 * 1024) + b"ECONNREFUSED late\n")
        handle.write(b"y" * (9 * 1024 * 1024) + b" ECONNREFUSED after 9 MiB: not checked\n")
        handle.write(b"caf\xe9 ECONNREFUSED in latin-1\n")
        handle.write(b"ok\n" * 10)
        handle.write(b"ECONNREFUSED still being written")
    gate.config("[[logs]]\npath = \"logs/app.log\"\nforbid = ['ECONNREFUSED']\n")
    result = gate.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "3 lines match 'ECONNREFUSED' in logs/app.log",
        "  line 1: ECONNREFUSED at the start of a long line xxx*…",
        "  line 3: caf\ufffd ECONNREFUSED in latin-1",
        "  line 14: ECONNREFUSED still being written",
        "  (1 line longer than 8 MiB checked on its first 8 MiB)",
    ])


def test_a_pattern_never_matches_across_lines(gate: Gate) -> None:
    write(gate.path / "app.log", ["fatal error", "   in module", "fatal", "error here"])
    gate.config("[[logs]]\npath = \"app.log\"\nforbid = ['fatal\\s+error']\n")
    result = gate.run()
    result.stdout.fnmatch_lines(["1 line matches 'fatal\\s+error' in app.log", "  line 1: fatal error"])


def test_only_what_the_file_held_when_opened_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A log being appended to: the lines written while the gate reads wait for the next run."""
    path = write(tmp_path / "app.log", [f"line {i}" for i in range(100)])
    monkeypatch.setattr(logs_module, "BLOCK", 64)
    options = LogsOptions("app.log", tmp_path, ("ECONNREFUSED",), (), None, None, False)

    def append() -> None:
        with open(path, "a") as handle:
            handle.write("ECONNREFUSED appended\n")

    scan = read_log(path, options, [re.compile("ECONNREFUSED")], [], 5, time.time(), progress=append)
    assert scan.lines == 100
    assert scan.hits["ECONNREFUSED"].lines == 0


def test_tail_start_and_since_start_find_their_lines(tmp_path: Path) -> None:
    now = float(int(time.time()))  # whole seconds, as the lines are written
    lines = [f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.localtime(now - 1000 + i))} n{i}" for i in range(1000)]
    path = write(tmp_path / "a.log", lines)
    with open(path, "rb") as handle:
        size = path.stat().st_size
        handle.seek(tail_start(handle, size, 3))
        assert handle.read().decode().split("\n")[0].endswith("n997")
        assert tail_start(handle, size, 5000) == 0
        start = since_start(handle, size, now - 100.5, now)
        assert start is not None
        handle.seek(start)
        assert handle.readline().decode().strip().endswith("n900")
        assert since_start(handle, size, now + 10, now) == size


def test_paths_stay_inside_the_config_folder(gate: Gate, tmp_path_factory: pytest.TempPathFactory) -> None:
    outside = tmp_path_factory.mktemp("outside")
    write(outside / "secret.log", ["ECONNREFUSED"])
    (gate.path / "logs").mkdir()
    os.symlink(outside / "secret.log", gate.path / "logs" / "linked.log")
    gate.config("[[logs]]\npath = \"logs/*.log\"\nforbid = ['ECONNREFUSED']\n")
    result = gate.run("-v")
    result.stdout.fnmatch_lines(["*no file matches logs/*.log"])  # the link out is not followed
    gate.config("[[logs]]\nname = \"x\"\npath = \"../outside/*.log\"\nforbid = ['ECONNREFUSED']\n")
    result = gate.run()
    result.stdout.fnmatch_lines(['*[[][[]logs]] #1 "x": key "path": "../outside/*.log" leaves the config\'s folder*'])
    gate.config(f"[[logs]]\npath = \"{outside}/*.log\"\nforbid = ['ECONNREFUSED']\n")  # absolute, on purpose
    gate.run().assert_outcomes(failed=1)


def test_a_file_gone_since_collection_says_so(gate: Gate) -> None:
    write(gate.path / "conftest.py", [
        "import os",
        "def pytest_collection_finish(session):",
        "    os.remove('app.log')",
    ])
    write(gate.path / "app.log", ["ok"])
    gate.config("[[logs]]\npath = \"*.log\"\nforbid = ['ECONNREFUSED']\n")
    result = gate.run()
    result.stdout.fnmatch_lines(["app.log is gone (it was there when the gate was collected: rotated?)"])


def test_under_xdist_every_worker_collects_the_same_files(gate: Gate) -> None:
    for i in range(6):
        write(gate.path / f"logs/app{i}.log", [f"{stamp(5)} {'ECONNREFUSED' if i == 3 else 'ok'}"])
    gate.config("[[logs]]\npath = \"logs/*.log\"\nforbid = ['ECONNREFUSED']\n")
    result = gate.run_subprocess("-n", "2")
    result.assert_outcomes(passed=5, failed=1)
    result.stdout.fnmatch_lines(["*FAILED deploygate.toml::logs[[]logs/app3.log[]]*"])


@pytest.mark.parametrize(("entry", "message"), [
    ("path = \"a.log\"", 'forbid: give forbid (patterns no line may match) or require*'),
    ("path = \"a.log\"\nforbid = ['x*']", "forbid: 'x*' matches an empty line, so every line"),
    ("path = \"a.log\"\nforbid = ['(unclosed']", "forbid: *"),
    ("path = \"a.log\"\nforbid = ['x']\ntail = 10\nsince = \"1h\"", "since: give tail (the last N lines) or since*"),
    ("path = \"a.log\"\nforbid = ['x']\ntail = 0", "tail: *"),
    ("path = \"\"\nforbid = ['x']", "path: is empty"),
    ("path = \"a.log\"\nforbid = ['x']\nsince = \"soon\"", 'since: "soon" is not a duration*'),
])
def test_bad_logs_config_is_one_clear_message(gate: Gate, entry: str, message: str) -> None:
    gate.config(f"[[logs]]\nname = \"app\"\n{entry}\n")
    result = gate.run()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    key, text = message.split(": ", 1)
    result.stdout.fnmatch_lines([f'*[[][[]logs]] #1 "app": key "{key}": {text}'])
    assert "Traceback" not in result.stdout.str()
