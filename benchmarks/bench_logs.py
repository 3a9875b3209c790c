"""`[[logs]]` speed: the last lines of a 1 GB log, and its last hour.

Run: python benchmarks/bench_logs.py [--size-mb 1024] [--tail 2000] [--repeat 5]

Builds (once, kept) /tmp/dg-bench-logs/backend.log: --size-mb of a web backend's log lines whose
timestamps climb over the last 24 hours (one error signature every ~100,000 lines). Then, best and
median over --repeat rounds:

  (a) the gate's work for `tail = N`: the [[logs]] item's read and search of that file, in this
      process (what the item costs once pytest runs it);
  (b) the same for `since = "1h"`;
  (c) the whole `pytest --deploygate` run of a `tail = N` gate, and (d) of a one-item gate of
      another kind (pytest's and the plugin's start-up), so (c) - (d) is the item in a real run;
  (e) the shell: `tail -n N backend.log | grep -E -c ...`;
  (f) the gate reading the whole file (no tail, no since), for scale;

and prints (a) against the 0.15 s target.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_rows import GATE_ENV, rounds, show

from pytest_deploygate.checks.logs import LogsCheck, LogsOptions, read_log

FOLDER = Path("/tmp/dg-bench-logs")
PATTERNS = ('column "[^"]+" does not exist', "ECONNREFUSED")
TARGET = 0.15


def build(size_mb: int) -> Path:
    path = FOLDER / "backend.log"
    marker = FOLDER / f".built-{size_mb}"
    if path.exists() and marker.exists():
        return path
    FOLDER.mkdir(exist_ok=True)
    for old in FOLDER.glob(".built-*"):
        old.unlink()
    now = time.time()
    line = "{t} INFO [api] GET /api/communities 200 12ms user=42 request_id=abcdef0123456789\n"
    total = size_mb * 1024 * 1024
    per_block = 10_000
    blocks = total // (len(line.format(t="2026-12-01T02:00:00.123Z")) * per_block) + 1
    with open(path, "w") as handle:
        for block in range(blocks):
            moment = now - 86400 + 86400 * block / blocks  # climbing over the last day, up to now
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(moment)) + ".123Z"
            text = line.format(t=stamp) * per_block
            if block % 10 == 0:
                text += f'{stamp} ERROR column "form_template" does not exist\n'
            handle.write(text)
    marker.touch()
    return path


def gate_work(path: Path, options: LogsOptions) -> float:
    import re

    started = time.perf_counter()
    scan = read_log(path, options, [re.compile(p, re.MULTILINE) for p in options.forbid], [], 5, time.time())
    took = time.perf_counter() - started
    assert scan.lines > 0
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--tail", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    path = build(args.size_mb)
    size = path.stat().st_size
    tail = LogsOptions(str(path), FOLDER, PATTERNS, (), args.tail, None, False)
    since = LogsOptions(str(path), FOLDER, PATTERNS, (), None, 3600.0, False)
    whole = LogsOptions(str(path), FOLDER, PATTERNS, (), None, None, False)
    assert LogsCheck.name == "logs"

    with tempfile.TemporaryDirectory(prefix="dg-bench-logs-") as tmp:
        gate, empty = Path(tmp, "gate"), Path(tmp, "empty")
        gate.mkdir()
        empty.mkdir()
        forbid = ", ".join(f"'{p}'" for p in PATTERNS)
        (gate / "deploygate.toml").write_text(f'[[logs]]\npath = "{path}"\nforbid = [{forbid}]\ntail = {args.tail}\n'
                                              "severity = \"warn\"\n")
        (empty / "deploygate.toml").write_text('[[environment]]\nrequire = ["PATH"]\n')

        def run(folder: Path) -> None:
            proc = subprocess.run([sys.executable, "-m", "pytest", "--deploygate", "-q", "-p", "no:cacheprovider"],
                                  cwd=folder, env=GATE_ENV, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise SystemExit(proc.stdout[-2000:])

        shell = f"tail -n {args.tail} {path} | grep -E -c '{PATTERNS[0]}|{PATTERNS[1]}'"
        run(gate)  # warm-up
        times = rounds({
            "tail": lambda: gate_work(path, tail),
            "since": lambda: gate_work(path, since),
            "gate": lambda: run(gate),
            "startup": lambda: run(empty),
            "shell": lambda: subprocess.run(shell, shell=True, capture_output=True, check=False),
        }, args.repeat)
        whole_time = [gate_work(path, whole) for _ in range(2)]

    print(f"{path}: {size / 1e9:.2f} GB, {args.repeat} rounds, page cache warm")
    print(show_ms(f"(a) the gate's work, tail = {args.tail}", times["tail"]))
    print(show_ms("(b) the gate's work, since = \"1h\"", times["since"]))
    print(show(f"(c) pytest --deploygate, tail = {args.tail}", times["gate"]))
    print(show("(d) start-up (a one-item gate)", times["startup"]))
    print(show_ms(f"(e) tail -n {args.tail} | grep -E -c", times["shell"]))
    print(show("(f) the gate's work, the whole file", whole_time))
    work = statistics.median(times["tail"])
    in_run = statistics.median(times["gate"]) - statistics.median(times["startup"])
    print(f"(a) median {work * 1000:.1f} ms (target < {TARGET * 1000:.0f} ms): {'met' if work < TARGET else 'NOT met'}; "
          f"(c) - (d) {in_run * 1000:.0f} ms")
    print(f"memory: this process's peak {_peak_mb():.0f} MB")
    return 0


def show_ms(label: str, samples: list[float]) -> str:
    return f"{label:<46}: best {min(samples) * 1000:7.1f} ms  median {statistics.median(samples) * 1000:7.1f} ms"


def _peak_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


if __name__ == "__main__":
    os.environ.setdefault("TZ", "UTC")
    sys.exit(main())
