"""What the installed plugin costs a pytest run that does not ask for the gate (no --deploygate).

Target (issue: the per-item cost of the gate): < 15 ms added to a plain pytest run.

Run: python benchmarks/bench_startup.py [--repeat 15]

In a folder with one trivial test (`def test_x(): pass`), `python -m pytest -q -p no:cacheprovider`
with the plugin (registered by the pytest11 entry point `deploygate`) and with `-p no:deploygate`,
the two in turn, --repeat runs each after a warm-up; the best of each and the difference. Every
other installed pytest plugin loads in both. Also `python -X importtime -c "import
pytest_deploygate.plugin"`, best of 5: the cumulative time of the plugin module's line, and what
the import adds when pytest is already imported, as it is in a pytest run.

Subprocesses run with bytecode cached under /tmp (PYTHONPYCACHEPREFIX; PYTHONDONTWRITEBYTECODE
dropped), as a user's runs start from bytecode.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import entry_points
from pathlib import Path

TARGET_MS = 15.0
ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
ENV["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "dg-bench-pycache")
PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]


def run(command: list[str], folder: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=folder, env=ENV, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command[1:])} exited {proc.returncode}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return elapsed


def imports_plugin(command: list[str], folder: Path) -> bool:
    proc = subprocess.run([command[0], "-X", "importtime", *command[1:]], cwd=folder, env=ENV,
                          capture_output=True, text=True, check=False)
    return "pytest_deploygate" in proc.stderr


def importtime(code: str) -> dict[str, int]:
    """`-X importtime` of `code`: each module's cumulative import time, in microseconds."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code], env=ENV,
                          capture_output=True, text=True, check=True)
    found: dict[str, int] = {}
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "cumulative" not in line:
            _, cumulative, name = line.split("|")
            found.setdefault(name.strip(), int(cumulative))
    return found


def plugin_import_ms(code: str, repeat: int = 5) -> float:
    """The cumulative time on the `pytest_deploygate.plugin` line (the package, its modules and
    whatever they import that `code` has not imported before), best of `repeat`."""
    return min(importtime(code)["pytest_deploygate.plugin"] for _ in range(repeat)) / 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "test_x.py").write_text("def test_x():\n    pass\n", encoding="utf-8")
        contenders = {"with": PYTEST, "without": [*PYTEST, "-p", "no:deploygate"]}
        if not imports_plugin(contenders["with"], folder) or imports_plugin(contenders["without"], folder):
            raise SystemExit("the plugin is not loaded by its entry point, or -p no:deploygate does not keep it out")
        for command in contenders.values():  # warm-up: bytecode, OS caches
            run(command, folder)
        times: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(args.repeat):
            for name, command in contenders.items():
                times[name].append(run(command, folder))

    with_ms, without_ms = (min(times[name]) * 1000 for name in ("with", "without"))
    median = (statistics.median(times["with"]) - statistics.median(times["without"])) * 1000
    difference = with_ms - without_ms
    plugin_line = plugin_import_ms("import pytest_deploygate.plugin")
    after_pytest = plugin_import_ms("import pytest; import pytest_deploygate.plugin")
    others = sorted(ep.name for ep in entry_points(group="pytest11") if ep.name != "deploygate")
    print(f"other plugins loaded in both: {', '.join(others)}; python {sys.version.split()[0]}, {os.cpu_count()} cores")
    print(f"pytest -q, one trivial test, with the plugin   : {with_ms:7.1f} ms  (best of {args.repeat})")
    print(f"the same with -p no:deploygate                 : {without_ms:7.1f} ms")
    print(f"difference                                     : {difference:7.1f} ms  (medians: {median:.1f} ms)")
    print(f"-X importtime, pytest_deploygate.plugin line   : {plugin_line:7.1f} ms cumulative (includes importing pytest)")
    print(f"-X importtime, the plugin after `import pytest`: {after_pytest:7.1f} ms (what a pytest run imports for it)")
    ok = difference < TARGET_MS
    print(f"target < {TARGET_MS:.0f} ms added to a run without --deploygate: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
