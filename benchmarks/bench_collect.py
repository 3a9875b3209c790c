"""Collection speed: a config of 10,000 [[sql]] checks must collect in < 3 s (issue: the gate itself).

Run: python benchmarks/bench_collect.py [--checks 10000] [--repeat 3]
It times `pytest --deploygate --collect-only -q` as a whole subprocess, minus the same command on
an empty gate (pytest's own start-up), and prints both and the target.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 3.0


def write_gate(folder: Path, checks: int) -> None:
    lines = ['[databases.main]', 'url = "postgresql://bench:secret@127.0.0.1:1/none"', ""]
    for i in range(checks):
        lines += ["[[sql]]", f'name = "check-{i:05d}"', f'query = "SELECT id FROM t{i % 100} WHERE x = {i}"', ""]
    (folder / "deploygate.toml").write_text("\n".join(lines), encoding="utf-8")


def timed(folder: Path) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "--deploygate", "--collect-only", "-q",
                           "-p", "no:cacheprovider"], cwd=folder, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"collection failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return elapsed, proc.stdout.strip().splitlines()[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checks", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as big, tempfile.TemporaryDirectory() as small:
        write_gate(Path(big), args.checks)
        write_gate(Path(small), 1)
        full = min(timed(Path(big))[0] for _ in range(args.repeat))
        base = min(timed(Path(small))[0] for _ in range(args.repeat))
        summary = timed(Path(big))[1]
    print(f"checks collected       : {summary}")
    print(f"pytest --collect-only  : {full:.2f} s  (best of {args.repeat})")
    print(f"same, a 1-check gate   : {base:.2f} s  (pytest start-up)")
    print(f"collection of the gate : {full - base:.2f} s")
    verdict = "met" if full < TARGET_SECONDS else "NOT met"
    print(f"target < {TARGET_SECONDS:.0f} s for the whole command: {verdict} ({full / TARGET_SECONDS:.2f}x of the budget)")
    return 0 if full < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
