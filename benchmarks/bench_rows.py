"""`[[rows]]` speed on 2,000,000 rows: the gate against a hand-written floor and against Soda Core.

Run: python benchmarks/bench_rows.py [--url postgresql://...] [--rows 2000000] [--repeat 5]
                                     [--soda-venv /tmp/soda-venv] [--no-soda]

It builds `ads` (id, title, slug, created_at) once in the database `deploygate_bench` (on the
server named by --url, else an embedded pgserver kept in /tmp/dg-bench-pg), then times, each
round in turn, best and median over --repeat rounds:

  (a) the whole `pytest --deploygate` run of seven rules (not_null, not_empty, pattern,
      max_length, unique on slug; not_null, not_empty on title), as a subprocess;
  (b) the same command on an empty gate (pytest's and the plugin's start-up);
  (c) the floor: one hand-written `count(*) FILTER (...)` scan plus one GROUP BY for the
      duplicates, on an open connection;

and prints (a - b) / c against the 1.2x target. Then the ways of answering `unique` side by side
(GROUP BY, COUNT(DISTINCT) in the scan, a sort with lag()), and Soda Core 3.5 on the same checks
(`soda scan`, whole CLI runs, telemetry off), installed into its own venv if missing.
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
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

DBNAME = "deploygate_bench"
PATTERN = "^[a-z0-9]+(-[a-z0-9]+)*-[0-9]+$"
BLANK = "E' \\t\\n\\r\\f\\v'"
GATE_TARGET = 1.2
SODA_TARGET = 0.7
SODA_SPEC = "soda-core-postgres>=3.5,<3.6"

GATE = f"""
[databases.main]
url = "{{url}}"
statement_timeout = "10m"

[deploygate]
timeout = "10m"

[[rows]]
table = "ads"
[rows.columns.slug]
not_null = true
not_empty = true
pattern = '{PATTERN}'
max_length = 200
unique = true
[rows.columns.title]
not_null = true
not_empty = true
"""

EMPTY_GATE = """
[databases.main]
url = "{url}"
"""

FLOOR_SCAN = f"""
SELECT count(*),
       count(*) FILTER (WHERE slug IS NULL),
       count(*) FILTER (WHERE btrim(slug, {BLANK}) = ''),
       count(*) FILTER (WHERE slug !~ '{PATTERN}'),
       count(*) FILTER (WHERE char_length(slug) > 200),
       count(*) FILTER (WHERE title IS NULL),
       count(*) FILTER (WHERE btrim(title, {BLANK}) = '')
FROM ads
"""
FLOOR_DUPLICATES = """
SELECT count(*), coalesce(sum(n), 0)
FROM (SELECT slug, count(*) AS n FROM ads WHERE slug IS NOT NULL GROUP BY slug HAVING count(*) > 1) d
"""
# the alternatives for `unique`, measured by --compare-unique
SCAN_WITH_DISTINCT = FLOOR_SCAN.replace("FROM ads", ", count(slug) - count(DISTINCT slug)\nFROM ads")
HASH_DUPLICATES = """
SELECT count(*) FROM (SELECT 1 FROM ads WHERE slug IS NOT NULL GROUP BY hashtextextended(slug, 0) HAVING count(*) > 1) d
"""
SORT_WITH_LAG = """
SELECT count(*) FROM (SELECT slug = lag(slug) OVER (ORDER BY slug) AS again FROM ads WHERE slug IS NOT NULL) d
WHERE again
"""

SODA_CHECKS = f"""
checks for ads:
  - missing_count(slug) = 0:
      missing values: ['']
  - invalid_count(slug) = 0:
      valid regex: '{PATTERN}'
  - invalid_count(slug) = 0:
      name: slug max length
      valid max length: 200
  - duplicate_count(slug) = 0
  - missing_count(title) = 0:
      missing values: ['']
"""


# -- the database -------------------------------------------------------------------------------


def server_url(args: argparse.Namespace) -> str:
    if args.url:
        return str(args.url)
    import pgserver

    # kept between runs (cleanup_mode=None): building 2,000,000 rows takes a while
    return str(pgserver.get_server(Path("/tmp/dg-bench-pg"), cleanup_mode=None).get_uri())


def with_dbname(url: str, dbname: str) -> str:
    params = conninfo_to_dict(url)
    params["dbname"] = dbname
    return make_conninfo(**params)


def as_url(conninfo: str) -> str:
    """A conninfo as a postgresql:// URL for the gate's config (socket directories in the query)."""
    params = conninfo_to_dict(conninfo)
    user = params.pop("user", "postgres")
    password = params.pop("password", None)
    dbname = params.pop("dbname", DBNAME)
    host = str(params.pop("host", "127.0.0.1"))
    port = params.pop("port", None)
    auth = f"{user}:{password}@" if password else f"{user}@"
    if host.startswith("/"):
        extra = {"port": port, **params} if port else params
        query = "&".join([f"host={host}", *(f"{k}={v}" for k, v in extra.items())])
        return f"postgresql://{auth}/{dbname}?{query}"
    return f"postgresql://{auth}{host}:{port or 5432}/{dbname}"


def build(server: str, rows: int, rebuild: bool) -> str:
    with psycopg.connect(server, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DBNAME]).fetchone()
        if exists and rebuild:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(DBNAME)))
            exists = None
        if not exists:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DBNAME)))
    conninfo = with_dbname(server, DBNAME)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        have = conn.execute("SELECT count(*) FROM pg_class WHERE relname = 'ads'").fetchone()
        if have and have[0]:
            counted = conn.execute("SELECT count(*) FROM ads").fetchone()
            if counted and counted[0] == rows:
                return conninfo
            conn.execute("DROP TABLE ads")
        print(f"building ads with {rows:,} rows ...", flush=True)
        start = time.perf_counter()
        conn.execute("""
            CREATE TABLE ads (
                id bigint PRIMARY KEY,
                title text NOT NULL,
                slug text,
                created_at timestamptz NOT NULL
            )""")
        conn.execute("""
            INSERT INTO ads
            SELECT i,
                   (ARRAY['Used road bike', 'Dune, first edition', 'Leather sofa', 'Phone 12, 128 GB'])[1 + i %% 4] || ' #' || i,
                   (ARRAY['used-road-bike', 'dune-first-edition', 'leather-sofa', 'phone-12-128-gb'])[1 + i %% 4] || '-' || i,
                   now() - make_interval(secs => i)
            FROM generate_series(1, %s) AS i""", [rows])
        conn.execute("VACUUM (ANALYZE, FREEZE) ads")  # hint bits and visibility set: scans only read
        print(f"built in {time.perf_counter() - start:.1f} s", flush=True)
    return conninfo


# -- timing -------------------------------------------------------------------------------------


def timed(run: Callable[[], Any]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


# Ours runs from this checkout (editable), Soda from site-packages, where pip compiled its bytecode
# at install. Under PYTHONDONTWRITEBYTECODE (set on some machines) the checkout would be compiled
# anew by every run (~0.15 s here); without it, the warm-up run writes __pycache__ as a user's
# first run would, and both tools start from bytecode.
GATE_ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def pytest_run(python: Path | str, folder: Path, expect: tuple[int, ...]) -> Callable[[], None]:
    def run() -> None:
        proc = subprocess.run([str(python), "-m", "pytest", "--deploygate", "-q", "-p", "no:cacheprovider"],
                              cwd=folder, env=GATE_ENV, capture_output=True, text=True, check=False)
        if proc.returncode not in expect:
            raise SystemExit(f"the gate in {folder} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    return run


def queries(conninfo: str, *statements: str) -> Callable[[], None]:
    conn = psycopg.connect(conninfo, autocommit=True)

    def run() -> None:
        for statement in statements:
            cur = conn.execute(statement.encode())
            if cur.description:
                cur.fetchall()
    return run


def plans(conninfo: str, statements: tuple[str, ...]) -> str:
    """How PostgreSQL plans each SELECT: aggregated in parallel workers, or not."""
    found = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for statement in statements:
            if not statement.lstrip().upper().startswith("SELECT"):
                conn.execute(statement.encode())  # the SETs the SELECTs run under
                continue
            lines = [row[0] for row in conn.execute(f"EXPLAIN {statement}".encode()).fetchall()]
            if any("Partial" in line for line in lines):
                found.append("parallel")
            elif any("Gather" in line for line in lines):
                found.append("parallel read, serial aggregate")
            else:
                found.append("serial")
    return "/".join(found)


def rounds(named: dict[str, Callable[[], Any]], repeat: int) -> dict[str, list[float]]:
    """Each round runs every contender once, in turn, so that drift hits them alike."""
    times: dict[str, list[float]] = {name: [] for name in named}
    for _ in range(repeat):
        for name, run in named.items():
            times[name].append(timed(run))
    return times


def show(label: str, samples: list[float]) -> str:
    return f"{label:<46}: best {min(samples):6.2f} s   median {statistics.median(samples):6.2f} s"


# -- Soda Core ----------------------------------------------------------------------------------


def gate_python(venv: Path) -> Path | None:
    """Ours in a venv of its own, as Soda gets one: `pip install pytest-deploygate` (this checkout,
    editable) and nothing else, so no test plugins (xdist, httpserver) load at start-up."""
    python = venv / "bin" / "python"
    if python.exists():
        return python
    print(f"installing this checkout into {venv} ...", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-e", str(Path(__file__).parent.parent)], check=True)
    except (subprocess.CalledProcessError, OSError) as exc:
        print(f"could not make {venv} ({exc}); only the development venv is measured.")
        return None
    return python


def soda_executable(venv: Path) -> Path | None:
    soda = venv / "bin" / "soda"
    if soda.exists():
        return soda
    print(f"installing {SODA_SPEC} into {venv} ...", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", SODA_SPEC], check=True)
    except (subprocess.CalledProcessError, OSError) as exc:
        print(f"Soda Core could not be installed here ({exc}); its comparison is not measured.")
        return None
    return soda if soda.exists() else None


def soda_folder(conninfo: str) -> Path:
    params = conninfo_to_dict(conninfo)
    folder = Path(tempfile.mkdtemp(prefix="dg-soda-"))
    (folder / "configuration.yml").write_text(textwrap.dedent(f"""
        data_source bench:
          type: postgres
          host: "{params.get('host', '127.0.0.1')}"
          port: {params.get('port', 5432)}
          username: "{params.get('user', 'postgres')}"
          password: "{params.get('password', '')}"
          database: {DBNAME}
          schema: public
    """))
    (folder / "checks.yml").write_text(SODA_CHECKS)
    # telemetry off, as Soda documents it: `send_anonymous_usage_stats: false` in ~/.soda/config.yml
    # (HOME is this folder for the Soda process, which also runs in it: ./.soda/config.yml)
    (folder / ".soda").mkdir()
    (folder / ".soda" / "config.yml").write_text("send_anonymous_usage_stats: false\n")
    return folder


def soda_run(soda: Path, folder: Path) -> Callable[[], None]:
    env = {**os.environ, "HOME": str(folder)}

    def run() -> None:
        proc = subprocess.run([str(soda), "scan", "-d", "bench", "-c", "configuration.yml", "checks.yml"],
                              cwd=folder, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or "All is good" not in proc.stdout:
            raise SystemExit(f"soda scan exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    return run


# -- main ---------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="PostgreSQL server to use (default: an embedded pgserver)")
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rebuild", action="store_true", help="Drop and rebuild the table")
    parser.add_argument("--soda-venv", type=Path, default=Path("/tmp/soda-venv"))
    parser.add_argument("--gate-venv", type=Path, default=Path("/tmp/deploygate-bench-venv"),
                        help="A venv with only pytest-deploygate installed (made if missing)")
    parser.add_argument("--no-soda", action="store_true")
    parser.add_argument("--no-unique-alternatives", action="store_true")
    args = parser.parse_args()

    conninfo = build(server_url(args), args.rows, args.rebuild)
    url = as_url(conninfo)
    with psycopg.connect(conninfo) as conn:
        version = conn.info.server_version
    print(f"PostgreSQL {version // 10000}.{version % 100}, table ads: {args.rows:,} rows, "
          f"{args.repeat} rounds, python {sys.version.split()[0]}\n")

    with tempfile.TemporaryDirectory() as full, tempfile.TemporaryDirectory() as empty:
        Path(full, "deploygate.toml").write_text(GATE.replace("{url}", url))
        Path(empty, "deploygate.toml").write_text(EMPTY_GATE.replace("{url}", url))
        contenders: dict[str, Callable[[], Any]] = {
            "gate": pytest_run(sys.executable, Path(full), (0,)),
            "empty": pytest_run(sys.executable, Path(empty), (0, 5)),  # 5: pytest's "no tests collected"
            "floor": queries(conninfo, FLOOR_SCAN, FLOOR_DUPLICATES),
        }
        clean = gate_python(args.gate_venv)
        if clean:
            contenders["gate_clean"] = pytest_run(clean, Path(full), (0,))
            contenders["empty_clean"] = pytest_run(clean, Path(empty), (0, 5))
        soda = None if args.no_soda else soda_executable(args.soda_venv)
        folder = soda_folder(conninfo) if soda else None
        if soda and folder:
            contenders["soda"] = soda_run(soda, folder)
        for run in contenders.values():  # warm the OS cache and the bytecode; check that each passes
            run()
        times = rounds(contenders, args.repeat)
        if folder:
            shutil.rmtree(folder, ignore_errors=True)

    best = {name: min(samples) for name, samples in times.items()}
    median = {name: statistics.median(samples) for name, samples in times.items()}
    ok = True
    venvs = [("", "development venv (with the test plugins)")]
    if "gate_clean" in times:
        venvs.append(("_clean", f"venv with only pytest-deploygate ({args.gate_venv})"))
    for suffix, label in venvs:
        gate, empty = f"gate{suffix}", f"empty{suffix}"
        print(f"-- {label}")
        print(show("(a) pytest --deploygate, seven rules", times[gate]))
        print(show("(b) pytest --deploygate, empty gate", times[empty]))
        print(show("(c) floor: one FILTER scan + one GROUP BY", times["floor"]))
        ratio_best = (best[gate] - best[empty]) / best["floor"]
        ratio_median = (median[gate] - median[empty]) / median["floor"]
        print(f"(a - b) / c: best {ratio_best:.2f}x, median {ratio_median:.2f}x "
              f"(target <= {GATE_TARGET}x: {'met' if ratio_median <= GATE_TARGET else 'NOT met'})")
        ok = ok and ratio_median <= GATE_TARGET
        if "soda" in times:
            print(show("Soda Core: soda scan, same checks (own venv)", times["soda"]))
            soda_ratio = median[gate] / median["soda"]
            print(f"ours / soda, whole CLI runs: best {best[gate] / best['soda']:.2f}x, median {soda_ratio:.2f}x "
                  f"(target <= {SODA_TARGET}x: {'met' if soda_ratio <= SODA_TARGET else 'NOT met'})")
            if suffix == venvs[-1][0]:  # the like-for-like one: each tool in a venv of its own
                ok = ok and soda_ratio <= SODA_TARGET
        print()
    if "soda" not in times and not args.no_soda:
        print("Soda Core: not measured (could not be installed)\n")

    if not args.no_unique_alternatives:
        print("unique: the ways of counting duplicates (with the six other rules' scan)")
        alternatives = {
            "scan + GROUP BY slug HAVING count(*) > 1": (FLOOR_SCAN, FLOOR_DUPLICATES),
            "scan + GROUP BY 64-bit hash, sorted (ours)": (FLOOR_SCAN, "SET enable_hashagg = off", HASH_DUPLICATES,
                                                           "RESET enable_hashagg"),
            "one scan with count(DISTINCT slug)": (SCAN_WITH_DISTINCT,),
            "scan + sort with lag() over (ORDER BY slug)": (FLOOR_SCAN, SORT_WITH_LAG),
        }
        unique_times = rounds({name: queries(conninfo, *stmts) for name, stmts in alternatives.items()}, args.repeat)
        for name, stmts in alternatives.items():
            print(show(f"{name}", unique_times[name]) + f"   plan: {plans(conninfo, stmts)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
