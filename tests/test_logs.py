"""[[logs]]: real files with real contents (and real gzip), on disk where the config says."""

from __future__ import annotations

import gzip
import os
import re
import time
from pathlib import Path
from typing import Any

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
    result.stdout.fnmatch_lines(["logs/plain.log: no line begins with a timestamp the gate reads*"])


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
    result.assert_outcomes(failed=1)  # could not check: the link out is not followed, and said
    result.stdout.fnmatch_lines(["logs/linked.log is a link out of the config's folder: not followed (write the "
                                 "absolute path of the log it points to, to read it)"])
    assert "ECONNREFUSED" not in result.stdout.str()
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


# -- found by trying to break it ------------------------------------------------------------------


def test_many_matching_lines_are_counted_in_linear_time_with_the_right_numbers(gate: Gate) -> None:
    write(gate.path / "app.log", [f"{stamp(5)} ERROR request {i} failed" for i in range(60_000)])
    gate.config("[[logs]]\npath = \"app.log\"\nforbid = ['ERROR']\n")
    started = time.monotonic()
    result = gate.run()
    assert time.monotonic() - started < 10  # was quadratic: 28 s for 40,000 lines
    result.stdout.fnmatch_lines(["60,000 lines match 'ERROR' in app.log", "  line 59,996: * request 59995 failed",
                                 "  line 60,000: * request 59999 failed"])


def test_since_reads_a_long_untimed_stretch_about_once(tmp_path: Path) -> None:
    """One old timestamp, then 20 MB without any: every probe stops where the last one began."""
    path = tmp_path / "a.log"
    with open(path, "w") as handle:
        handle.write(f"{stamp(7200)} INFO start\n")
        handle.write("    untimed continuation line\n" * 700_000)
    read = 0

    class Counting:
        def __init__(self, handle: Any) -> None:
            self.handle = handle

        def readline(self, limit: int = -1) -> bytes:
            nonlocal read
            line: bytes = self.handle.readline(limit)
            read += len(line)
            return line

        def __getattr__(self, name: str) -> Any:
            return getattr(self.handle, name)

    size = path.stat().st_size
    with open(path, "rb") as raw:
        assert since_start(Counting(raw), size, time.time() - 3600, time.time()) == size  # nothing recent
    assert read < 3 * size


def test_what_cannot_be_read_is_said_not_skipped(gate: Gate, tmp_path_factory: pytest.TempPathFactory) -> None:
    outside = tmp_path_factory.mktemp("elsewhere")
    write(outside / "x.log", ["ERROR secret outside"])
    os.symlink(outside, gate.path / "linkdir")
    gate.config(f"""
        [[logs]]
        name = "linked"
        path = "linkdir/*.log"
        forbid = ['ERROR']

        [[logs]]
        name = "long"
        path = "{'x' * 300}/*.log"
        forbid = ['ERROR']
    """)
    result = gate.run()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([
        "linkdir is a link out of the config's folder: not followed*",
        "no file matches xxxxx*/*.log",  # a name too long for the system: no file can have it
    ], consecutive=False)
    assert "secret outside" not in result.stdout.str()
    assert "Traceback" not in result.stdout.str()


def test_a_name_that_is_not_utf8_runs_under_xdist(gate: Gate) -> None:
    (gate.path / "logs").mkdir()
    with open(os.path.join(os.fsencode(gate.path / "logs"), b"caf\xe9.log"), "w") as handle:
        handle.write("ECONNREFUSED\n")
    gate.config("[[logs]]\npath = \"logs/*.log\"\nforbid = ['ECONNREFUSED']\n")
    result = gate.run_subprocess("-n", "2", "-v")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*logs[[]logs/caf\\xe9.log[]]*", "*1 line matches 'ECONNREFUSED' in logs/caf\\xe9.log*"])
    assert "INTERNALERROR" not in result.stdout.str()


def test_names_that_differ_only_in_what_an_id_cannot_hold_get_distinct_ids(gate: Gate) -> None:
    for name in ("a b.log", "a_b.log", "a[1].log"):
        write(gate.path / "logs" / name, ["ok"])
    gate.config("[[logs]]\npath = \"logs/*.log\"\nforbid = ['ERROR']\n")
    result = gate.run("-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*logs[[]logs/a%20b.log[]] PASSED*", "*logs[[]logs/a%5B1%5D.log[]] PASSED*",
                                 "*logs[[]logs/a_b.log[]] PASSED*"])


def test_compressed_files_without_timestamps_cannot_be_read_with_since(gate: Gate) -> None:
    with gzip.open(gate.path / "notime.log.gz", "wt") as handle:
        handle.write("ECONNREFUSED\n")
    gate.config("[[logs]]\npath = \"notime.log.gz\"\nforbid = ['ECONNREFUSED']\nsince = \"1h\"\n")
    result = gate.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["notime.log.gz: no line begins with a timestamp the gate reads*"])


def test_a_file_truncated_while_read_could_not_be_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "app.log", [f"line {i}" for i in range(100_000)] + ["ERROR at the end"])
    monkeypatch.setattr(logs_module, "BLOCK", 64 * 1024)  # reads past what the file object buffers
    options = LogsOptions("app.log", tmp_path, ("ERROR",), (), None, None, False)
    with pytest.raises(logs_module.CheckError, match=r"app.log was truncated while it was read \(rotated\?\)"):
        read_log(path, options, [re.compile("ERROR")], [], 5, time.time(), progress=lambda: path.write_text(""),
                 name="app.log")


def test_crlf_lines_anchors_and_a_hole_of_nul_bytes(gate: Gate) -> None:
    with open(gate.path / "app.log", "wb") as handle:
        handle.write(b"job failed\r\nFATAL boot\r\nok\r\n")
        handle.write(b"\x00" * (2 * 1024 * 1024))  # truncated under a writer that kept its offset
        handle.write(b"ERROR after hole\nok\n")
    gate.config("[[logs]]\npath = \"app.log\"\nforbid = ['failed$', '\\AFATAL', '^ERROR']\n")
    result = gate.run()
    result.stdout.fnmatch_lines([
        "1 line matches 'failed$' in app.log",
        "  also: 1 line matches '\\AFATAL' in app.log",
        "  also: 1 line matches '^ERROR' in app.log",
        "  line 1: job failed",
        "  line 2: FATAL boot",
        "  line 4: ERROR after hole",
    ])


def test_each_matching_pattern_shows_lines_of_its_own(gate: Gate) -> None:
    write(gate.path / "app.log", ["COLUMN missing"] * 3 + ["REFUSED"] * 10)
    gate.config("[[logs]]\npath = \"app.log\"\nforbid = ['COLUMN', 'REFUSED']\n")
    result = gate.run()
    result.stdout.fnmatch_lines(["3 lines match 'COLUMN' in app.log", "  also: 10 lines match 'REFUSED' in app.log",
                                 "  line 1: COLUMN missing", "  line 2: COLUMN missing", "  line 3: COLUMN missing",
                                 "  line 13: REFUSED"])


def test_utf16_logs_and_folders_are_said_to_be_what_they_are(gate: Gate) -> None:
    (gate.path / "win.log").write_bytes("ERROR x\r\n".encode("utf-16"))
    (gate.path / "logs" / "sub").mkdir(parents=True)
    gate.config("[[logs]]\npath = \"win.log\"\nforbid = ['ERROR']\n[[logs]]\npath = \"logs/sub\"\nforbid = ['ERROR']\nmissing_ok = true\n")
    result = gate.run()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([
        "win.log is UTF-16 (it starts with a byte-order mark)*",
        "no file matches logs/sub (logs/sub is a folder: give a glob of its files, logs/sub/*.log)",
    ], consecutive=False)


def test_bz2_and_xz_files_are_read_and_require_may_match_an_empty_line(gate: Gate) -> None:
    import bz2
    import lzma

    (gate.path / "a.log.bz2").write_bytes(bz2.compress(b"ok\nECONNREFUSED\n\n"))
    (gate.path / "a.log.XZ").write_bytes(lzma.compress(b"ok\nECONNREFUSED\n\n"))
    gate.config("[[logs]]\npath = \"a.log.*\"\nforbid = ['ECONNREFUSED']\nrequire = ['^$']\n")
    result = gate.run()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["1 line matches 'ECONNREFUSED' in a.log.XZ", "1 line matches 'ECONNREFUSED' in a.log.bz2"],
                                consecutive=False)


def test_a_naive_timestamp_followed_by_a_number_is_local_time() -> None:
    now = time.time()
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now - 60)) + " -1234 items"
    found = line_time(text.encode(), now)
    assert found is not None
    assert abs(now - 60 - found) < 1.5


def test_a_folder_that_cannot_be_searched_is_reported_not_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As a deploy user reading /var/log/nginx (0750 root:adm): the tests run as root, where
    permissions do not stop reads, so the refusal is made by hand."""
    from pytest_deploygate.checks import paths

    (tmp_path / "locked" / "sub").mkdir(parents=True)

    def refuse(self: Path) -> bool:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "is_dir", refuse)
    found = paths.find(tmp_path, "locked/sub/*.log")
    assert found.files == {}
    assert found.unreadable == [("locked/sub", "Permission denied")]


def test_a_secret_in_the_glob_never_reaches_an_item_id(gate: Gate, monkeypatch: pytest.MonkeyPatch) -> None:
    """`${VAR}` values are secrets: the files a glob with one finds are named with it masked, in
    pytest's ids, JUnit and the reports (the loader masks every id a kind makes)."""
    monkeypatch.setenv("DG_LOG_DIR", "hunter2hunter2dir")
    write(gate.path / "hunter2hunter2dir" / "a.log", ["ECONNREFUSED"])
    gate.config("[[logs]]\npath = \"${DG_LOG_DIR}/*.log\"\nforbid = ['ECONNREFUSED']\n"
                "[[build]]\nsources = \"${DG_LOG_DIR}/*.log\"\noutputs = \"${DG_LOG_DIR}/*.out\"\n")
    result = gate.run("-v", "--junitxml=out.xml", "--deploygate-report=r.json", "--deploygate-report=r.md")
    result.stdout.fnmatch_lines(["*logs[[]***/a.log[]] FAILED*", "*build[[]***[]] FAILED*"])
    for text in (result.stdout.str(), *(
            (gate.path / name).read_text() for name in ("out.xml", "r.json", "r.md"))):
        assert "hunter2hunter2dir" not in text
