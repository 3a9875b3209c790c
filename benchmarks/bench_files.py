"""`[[files]]` speed: the gate against a plain program, per-row `os.path.exists`, and the old shell way.

Run: python benchmarks/bench_files.py [--url postgresql://...] [--sizes 200000,1000000] [--repeat 3]
                                      [--shell-sample 1000]

For each size N it builds (once, kept between runs) a table of N stored paths in the database
`deploygate_bench_files` (on the server named by --url, else the embedded pgserver kept in
/tmp/dg-bench-pg) and N files in 200 folders under /tmp/dg-bench-files/<N>/public; 100 rows name
files that are not there and 100 files are named by no row. Then, best and median over --repeat
rounds:

  (a) the whole `pytest --deploygate` run of one `[[files]]` entry with `orphans` (two items:
      missing and orphans), as a subprocess, and its peak memory (VmHWM);
  (b) the same command on an empty gate (pytest's and the plugin's start-up);
  (c) the floor: one COPY of the column into a set, one os.scandir walk into a set, two set
      differences, on an open connection;
  (d) per row: the column streamed, `os.path.exists` for each path;
  (e) the old shell way: one `psql` per row and a `test -f`, timed on --shell-sample rows and
      extrapolated to N;

and prints (a - b) / c against the 1.5x target.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path

import psycopg
from bench_rows import GATE_ENV, as_url, rounds, server_url, show, timed, with_dbname
from psycopg import sql

DBNAME = "deploygate_bench_files"
FILES = Path("/tmp/dg-bench-files")
FOLDERS = 200
MISSING = ORPHANS = 100
TARGET = 1.5

GATE = """
[databases.main]
url = "{url}"
statement_timeout = "10m"

[deploygate]
timeout = "10m"

[[files]]
table = "{table}"
column = "file_path"
root = "{root}"
orphans = "uploads/ads/**/*.webp"
orphans_severity = "fail"
"""
PEAK = """
import re

def pytest_sessionfinish(session):
    with open("peak.txt", "w") as fh, open("/proc/self/status") as status:
        fh.write(re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1))
"""


def path_of(i: int) -> str:
    return f"uploads/ads/{i % FOLDERS:03d}/ad-1759979208{i:07d}.webp"


def build(server: str, n: int) -> tuple[str, Path]:
    """The table `ad_images_<n>` and the folder of n files: rows 1..n name files 1..n, but the
    last MISSING rows name files that are not there, and the last ORPHANS files no row names."""
    with psycopg.connect(server, autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DBNAME]).fetchone():
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DBNAME)))
    conninfo = with_dbname(server, DBNAME)
    table = f"ad_images_{n}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        counted = conn.execute("SELECT count(*) FROM pg_class WHERE relname = %s", [table]).fetchone()
        if not counted or not counted[0]:
            print(f"building {table} ...", flush=True)
            conn.execute(sql.SQL("CREATE TABLE {} (id bigint PRIMARY KEY, file_path text NOT NULL)").format(
                sql.Identifier(table)))
            conn.execute(sql.SQL("""
                INSERT INTO {} SELECT i, 'uploads/ads/' || lpad((i %% {})::text, 3, '0') || '/ad-1759979208'
                    || lpad(CASE WHEN i > %s THEN i + %s ELSE i END::text, 7, '0') || '.webp'
                FROM generate_series(1, %s) i""").format(sql.Identifier(table), sql.Literal(FOLDERS)),
                [n - MISSING, n, n])
            conn.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(table)))
    root = FILES / str(n) / "public"
    done = root.parent / "complete"
    if not done.exists():
        print(f"writing {n:,} files under {root} ...", flush=True)
        shutil.rmtree(root, ignore_errors=True)
        for folder in range(FOLDERS):
            (root / "uploads" / "ads" / f"{folder:03d}").mkdir(parents=True)
        for i in range(1, n + 1):  # the last MISSING rows name other numbers: their files are the orphans
            (root / path_of(i)).touch()
        done.touch()
    return conninfo, root


def floor(conninfo: str, table: str, root: Path) -> Callable[[], None]:
    conn = psycopg.connect(conninfo, autocommit=True)

    def run() -> None:
        referenced = set()
        with conn.cursor().copy(sql.SQL("COPY (SELECT file_path FROM {}) TO STDOUT").format(sql.Identifier(table))) as copy:
            for row in copy.rows():
                referenced.add(row[0])
        files = set()
        folders = [("", str(root))]
        while folders:
            relative, folder = folders.pop()
            with os.scandir(folder) as entries:
                for entry in entries:
                    path = f"{relative}/{entry.name}" if relative else entry.name
                    if entry.is_dir(follow_symlinks=False):
                        folders.append((path, entry.path))
                    else:
                        files.add(path)
        missing, orphans = referenced - files, files - referenced
        assert (len(missing), len(orphans)) == (MISSING, ORPHANS), (len(missing), len(orphans))
    return run


def per_row_exists(conninfo: str, table: str, root: Path) -> Callable[[], None]:
    conn = psycopg.connect(conninfo)

    def run() -> None:
        missing = 0
        with conn.cursor(name="rows") as cur:
            cur.execute(sql.SQL("SELECT file_path FROM {}").format(sql.Identifier(table)))
            for (path,) in cur:
                if not os.path.exists(os.path.join(root, path)):
                    missing += 1
        conn.rollback()
        assert missing == MISSING
    return run


def shell_way(conninfo: str, table: str, root: Path, sample: int) -> float:
    """Seconds for `sample` rows the old way: one psql per row, then test -f."""
    psql = shutil.which("psql")
    if psql is None:
        import pgserver

        psql = str(Path(pgserver.__file__).parent / "pginstall" / "bin" / "psql")
    script = textwrap.dedent(f"""
        for id in $(seq 1 {sample}); do
          path=$("{psql}" "$DB" -At -c "SELECT file_path FROM {table} WHERE id = $id")
          test -f "{root}/$path" || echo "missing: $path"
        done
    """)
    return timed(lambda: subprocess.run(["bash", "-c", script], env={**os.environ, "DB": conninfo}, check=True,
                                        capture_output=True))


def gate_run(folder: Path, expect: tuple[int, ...] = (1,)) -> Callable[[], None]:
    def run() -> None:
        proc = subprocess.run([sys.executable, "-m", "pytest", "--deploygate", "-q", "-p", "no:cacheprovider"],
                              cwd=folder, env=GATE_ENV, capture_output=True, text=True, check=False)
        if proc.returncode not in expect:
            raise SystemExit(f"the gate in {folder} exited {proc.returncode}:\n{proc.stdout[-3000:]}")
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url")
    parser.add_argument("--sizes", default="200000,1000000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--shell-sample", type=int, default=1000)
    args = parser.parse_args()
    server = server_url(args)
    with tempfile.TemporaryDirectory() as work:
        for n in (int(size) for size in args.sizes.split(",")):
            conninfo, root = build(server, n)
            table = f"ad_images_{n}"
            gate, empty = Path(work) / f"gate-{n}", Path(work) / f"empty-{n}"
            for folder, text in ((gate, GATE), (empty, '[databases.main]\nurl = "{url}"\n')):
                folder.mkdir()
                (folder / "deploygate.toml").write_text(text.format(url=as_url(conninfo), table=table, root=root))
                (folder / "pytest.ini").write_text("[pytest]\n")
            (gate / "conftest.py").write_text(PEAK)
            gate_run(gate)()  # warm-up: bytecode written, caches filled
            times = rounds({"gate": gate_run(gate), "empty": gate_run(empty, (5,)), "floor": floor(conninfo, table, root),
                            "exists": per_row_exists(conninfo, table, root)}, args.repeat)
            shell = shell_way(conninfo, table, root, args.shell_sample)
            print(f"\n{n:,} rows against {n:,} files in {FOLDERS} folders ({MISSING} missing, {ORPHANS} orphans)")
            print(show("(a) pytest --deploygate, missing + orphans", times["gate"]))
            print(show("(b) an empty gate", times["empty"]))
            print(show("(c) floor: COPY + scandir + 2 set differences", times["floor"]))
            print(show("(d) per row: os.path.exists", times["exists"]))
            print(f"{'(e) shell: psql + test -f per row':<46}: {shell / args.shell_sample * 1000:.1f} ms a row, "
                  f"{shell / args.shell_sample * n / 60:.0f} min for {n:,} (from {args.shell_sample:,} rows)")
            gate_best = min(times["gate"]) - min(times["empty"])
            gate_median = statistics.median(times["gate"]) - statistics.median(times["empty"])
            ratio = gate_best / min(times["floor"])
            print(f"(a - b) / c: {ratio:.2f}x best, {gate_median / statistics.median(times['floor']):.2f}x median "
                  f"(target {TARGET}x): {'met' if ratio <= TARGET else 'NOT met'}")
            print(f"per-row exists / gate: {min(times['exists']) / gate_best:.2f}x; "
                  f"shell / gate: {shell / args.shell_sample * n / gate_best:.0f}x")
            peak = int((gate / "peak.txt").read_text())
            print(f"gate's peak memory (VmHWM, whole pytest process): {peak / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
