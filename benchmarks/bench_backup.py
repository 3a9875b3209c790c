"""`[[backup]]` fixity speed: re-hashing every file of a backup against `sha256sum` on the same files.

Run: python benchmarks/bench_backup.py [--files 10000] [--megabytes 1024] [--repeat 3]

Builds (once, kept in /tmp/dg-bench-backup) a backup folder of --files files totalling --megabytes
(sizes spread from 4 KB to ~0.5 MB, as uploads are) and its `deploygate manifest`, then times, best
and median over --repeat rounds, each after the page cache is warm:

  (a) the gate's fixity hashing (`hash_all`: threads over `hashlib.file_digest`) of every file;
  (b) `sha256sum` over the same files (one process, `xargs -0`), the floor;
  (c) `deploygate manifest` on the folder (walk, hash, write the fixity file and the manifest);

and prints (b) / (a) as the share of sha256sum's throughput (target >= 80%).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from pytest_deploygate.checks.backup.manifest import discover, files_under, hash_all, write_manifest

ROOT = Path("/tmp/dg-bench-backup")
TARGET = 0.8


def build(files: int, megabytes: int) -> Path:
    folder = ROOT / f"{files}-{megabytes}" / "20251210_090000"
    uploads = folder / "uploads"
    done = folder / ".complete"
    if done.exists():
        return folder
    print(f"writing {files:,} files, {megabytes:,} MB under {uploads} ...", flush=True)
    rng = random.Random(7)
    weights = [rng.paretovariate(1.5) for _ in range(files)]
    scale = megabytes * 2**20 / sum(weights)
    block = os.urandom(2**20)
    for i, weight in enumerate(weights):
        path = uploads / f"{i % 100:02d}" / f"ad-{i}.webp"
        path.parent.mkdir(parents=True, exist_ok=True)
        size = max(4096, int(weight * scale))
        with open(path, "wb") as fh:
            while size > 0:
                fh.write(block[: min(size, len(block))])
                size -= len(block)
    done.touch()
    return folder


def timed(run: object) -> float:
    start = time.perf_counter()
    run()  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--megabytes", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    folder = build(args.files, args.megabytes)
    paths = [p for _, p in files_under(folder / "uploads")]
    listing = b"\0".join(os.fsencode(p) for p in paths)

    def ours() -> None:
        hash_all(paths)

    def floor() -> None:
        subprocess.run(["xargs", "-0", "sha256sum"], input=listing, stdout=subprocess.DEVNULL, check=True)

    def manifest() -> None:
        write_manifest(discover(folder))

    floor()  # warm the page cache
    times: dict[str, list[float]] = {"ours": [], "floor": [], "manifest": []}
    for _ in range(args.repeat):
        times["ours"].append(timed(ours))
        times["floor"].append(timed(floor))
        times["manifest"].append(timed(manifest))
    total = sum(p.stat().st_size for p in paths)
    print(f"\n{len(paths):,} files, {total / 2**20:,.0f} MB (page cache warm), {os.cpu_count()} cores")
    for name, label in (("ours", "(a) the gate's fixity hashing"), ("floor", "(b) sha256sum (xargs -0)"),
                        ("manifest", "(c) deploygate manifest, whole")):
        best, median = min(times[name]), statistics.median(times[name])
        print(f"{label:<34}: best {best:6.2f} s   median {median:6.2f} s   {total / 2**20 / best:7.0f} MB/s")
    share = min(times["floor"]) / min(times["ours"])
    print(f"throughput against sha256sum: {share:.0%} best, "
          f"{statistics.median(times['floor']) / statistics.median(times['ours']):.0%} median "
          f"(target >= {TARGET:.0%}): {'met' if share >= TARGET else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
