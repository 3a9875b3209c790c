"""Collection cost per item: the gate's `[[sql]]` checks against pytest's own parametrized tests.

Targets (issue: the gate itself):
  ratio  - collecting 50,000 `[[sql]]` checks costs no more than 1.2x what pytest pays to collect
           50,000 parametrized tests (one test function, `@pytest.mark.parametrize("i", range(N))`);
  budget - a config of 10,000 `[[sql]]` checks collects in < 3 s, whole command (--budget-checks 0
           leaves it out).

Run: python benchmarks/bench_collect.py [--checks 50000] [--repeat 3] [--budget-checks 10000]

Each figure is a whole subprocess, best of --repeat, minus an empty run of the same kind (a 1-check
gate; a 1-parameter test file), so that pytest's start-up cancels out:
  gate   - `pytest --deploygate --collect-only -q -p no:cacheprovider`, a deploygate.toml of N
           `[[sql]]` entries whose `[databases.main]` URL points nowhere (collection never connects);
  pytest - `pytest --collect-only -q -p no:cacheprovider test_p.py`.
Both load the same plugins (every pytest11 plugin installed in this interpreter's environment: the
deploygate plugin is loaded, dormant, in the pytest runs too). The contenders run in turn, one of
each per round, after one warm-up run each.

Bytecode: PYTHONDONTWRITEBYTECODE is dropped for the subprocesses and PYTHONPYCACHEPREFIX points
to a directory in /tmp, so every run (after the warm-up) starts from cached bytecode, as a user's
does, and nothing is written next to the sources.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from importlib.metadata import entry_points
from importlib.util import find_spec
from pathlib import Path

RATIO_TARGET = 1.2
BUDGET_SECONDS = 3.0
PYCACHE = Path(tempfile.gettempdir()) / "dg-bench-pycache"
ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
ENV["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
PYTEST = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]


def write_gate(folder: Path, checks: int) -> list[str]:
    lines = ['[databases.main]', 'url = "postgresql://bench:secret@127.0.0.1:1/none"', ""]
    for i in range(checks):
        lines += ["[[sql]]", f'name = "check-{i:06d}"', f'query = "SELECT id FROM t{i % 100} WHERE x = {i}"', ""]
    (folder / "deploygate.toml").write_text("\n".join(lines), encoding="utf-8")
    return [*PYTEST, "--deploygate"]


def write_parametrized(folder: Path, tests: int) -> list[str]:
    (folder / "test_p.py").write_text(
        "import pytest\n\n\n"
        f'@pytest.mark.parametrize("i", range({tests}))\n'
        "def test_p(i):\n"
        "    pass\n", encoding="utf-8")
    return [*PYTEST, "test_p.py"]


def run(command: list[str], folder: Path) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=folder, env=ENV, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command[1:])} in {folder} exited {proc.returncode}:\n"
                         f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return elapsed, proc.stdout.strip().splitlines()[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checks", type=int, default=50_000, help="items of each kind (default 50,000)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--budget-checks", type=int, default=10_000,
                        help="also time a gate of this many checks against the 3 s budget (0: skip)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        specs = {"gate": (write_gate, args.checks), "gate, 1 check": (write_gate, 1),
                 "pytest": (write_parametrized, args.checks), "pytest, 1 test": (write_parametrized, 1)}
        if args.budget_checks:
            specs["gate, budget"] = (write_gate, args.budget_checks)
        contenders: dict[str, tuple[list[str], Path]] = {}
        for index, (name, (write, count)) in enumerate(specs.items()):
            folder = root / f"c{index}"
            folder.mkdir()
            contenders[name] = (write(folder, count), folder)
        # the warm-up run, which also checks that each collects
        summaries = {name: run(command, folder)[1].split(" in ")[0] for name, (command, folder) in contenders.items()}
        times: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(args.repeat):
            for name, (command, folder) in contenders.items():
                times[name].append(run(command, folder)[0])

    best = {name: min(samples) for name, samples in times.items()}
    gate = best["gate"] - best["gate, 1 check"]
    floor = best["pytest"] - best["pytest, 1 test"]
    plugins = sorted(ep.name for ep in entry_points(group="pytest11"))
    print(f"plugins loaded in every run: {', '.join(plugins)} (-p no:cacheprovider); python {sys.version.split()[0]}, "
          f"{os.cpu_count()} cores, best of {args.repeat}")
    spec = find_spec("pytest_deploygate")
    print(f"pytest_deploygate from {Path(spec.origin).parent if spec and spec.origin else '?'}")
    print(f"gate   : {summaries['gate']}")
    print(f"pytest : {summaries['pytest']}")
    print(f"gate,   {args.checks:,} [[sql]] checks  : {best['gate']:6.2f} s whole command, "
          f"{best['gate, 1 check']:5.2f} s on a 1-check gate -> {gate:6.2f} s collection")
    print(f"pytest, {args.checks:,} parametrized   : {best['pytest']:6.2f} s whole command, "
          f"{best['pytest, 1 test']:5.2f} s on a 1-test file -> {floor:6.2f} s collection")
    ratio = gate / floor
    ok = ratio <= RATIO_TARGET
    print(f"ratio gate / pytest: {ratio:.2f}x  (target <= {RATIO_TARGET}x: {'met' if ok else 'NOT met'})")
    if args.budget_checks:
        whole = best["gate, budget"]
        met = whole < BUDGET_SECONDS
        print(f"gate, {args.budget_checks:,} checks, whole command: {whole:.2f} s  (target < {BUDGET_SECONDS:.0f} s: "
              f"{'met' if met else 'NOT met'}, {whole / BUDGET_SECONDS:.2f}x of the budget)")
        ok = ok and met
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
