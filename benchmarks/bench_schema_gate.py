"""A `[[schema]]` snapshot gate of 5,000 tables: the whole pytest run within 2x of its real work.

Target (issue: the per-item cost of the gate): (whole run - empty run) <= 2x the real work.

Run: python benchmarks/bench_schema_gate.py [--url postgresql://postgres@127.0.0.1:5432/postgres]
                                            [--tables 5000] [--repeat 3] [--keep]

It creates the database dg_bench_schema_gate on the server of --url (dropped at the end unless
--keep) with --tables tables (id serial primary key, name text not null, created_at timestamptz
default now(), an index on name), writes `deploygate snapshot URL -o schema.json`, and times, best
of --repeat:
  whole run - `pytest --deploygate -q -p no:cacheprovider` on `[[schema]] snapshot = "schema.json"`
              (one item per table, the enums and the unexpected tables; all pass), a subprocess;
  empty run - the same command on a gate of one `[[environment]]` check (pytest's start-up);
  real work - in this process, on an open connection: read the snapshot, reflect the database,
              compare every table (and the enums, and the set of table names).
and prints (whole - empty) / real work against the 2x target.

Subprocesses run with bytecode cached under /tmp (PYTHONPYCACHEPREFIX; PYTHONDONTWRITEBYTECODE
dropped) after a warm-up run, and load every installed pytest plugin.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

# the script's folder is on sys.path (run as python benchmarks/...): one copy of the helper
from bench_rows import with_dbname
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

DBNAME = "dg_bench_schema_gate"
TARGET = 2.0
BATCH = 100  # tables per transaction: a few hundred locks, well within max_locks_per_transaction
ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
ENV["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "dg-bench-pycache")


def first(name: str, *modules: str) -> Any:
    """`name` from the first of `modules` that has it: the package is being reorganised."""
    for module in modules:
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
    raise SystemExit(f"cannot find {name} in any of {', '.join(modules)}")


SCHEMA = ("pytest_deploygate.checks.schema", "pytest_deploygate.schema", "pytest_deploygate.snapshot")
REFLECT = ("pytest_deploygate.db.reflect", "pytest_deploygate.reflect", "pytest_deploygate.db.catalog")
read_snapshot = first("read_snapshot", *SCHEMA)
compare_table = first("compare_table", *SCHEMA)
compare_enums = first("compare_enums", *SCHEMA)
reflect = first("reflect", *REFLECT)
Database = first("Database", "pytest_deploygate.db")
DatabaseConfig = first("DatabaseConfig", "pytest_deploygate.db", "pytest_deploygate.db.url", "pytest_deploygate.config")
parse_database_url = first("parse_database_url", "pytest_deploygate.db.url", "pytest_deploygate.db")
Redactor = first("Redactor", "pytest_deploygate.secrets")


def as_url(conninfo: str) -> str:
    """A conninfo as the postgresql:// URL the gate's config and the CLI take (TCP hosts only)."""
    params = conninfo_to_dict(conninfo)
    password = params.get("password")
    auth = f"{params.get('user', 'postgres')}{':' + str(password) if password else ''}@"
    return f"postgresql://{auth}{params.get('host', '127.0.0.1')}:{params.get('port', 5432)}/{params['dbname']}"


def build(server: str, tables: int) -> str:
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DBNAME)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DBNAME)))
    conninfo = with_dbname(server, DBNAME)
    print(f"creating {tables:,} tables in {DBNAME} ...", flush=True)
    start = time.perf_counter()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for low in range(0, tables, BATCH):
            statements = []
            for t in range(low, min(tables, low + BATCH)):
                statements.append(f"CREATE TABLE t{t:05d} (id serial PRIMARY KEY, name text NOT NULL, "
                                  f"created_at timestamptz DEFAULT now());"
                                  f"CREATE INDEX t{t:05d}_name ON t{t:05d} (name);")
            with conn.transaction():
                conn.execute("".join(statements).encode())
        conn.execute(b"ANALYZE")
    print(f"created in {time.perf_counter() - start:.1f} s", flush=True)
    return conninfo


def drop(server: str) -> None:
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DBNAME)))


def snapshot(url: str, path: Path) -> None:
    cli = Path(sys.executable).parent / "deploygate"
    command = [str(cli)] if cli.exists() else [sys.executable, "-m", "pytest_deploygate.cli"]
    subprocess.run([*command, "snapshot", url, "-o", str(path)], env=ENV, check=True)


def pytest_run(folder: Path) -> Callable[[], str]:
    def run() -> str:
        proc = subprocess.run([sys.executable, "-m", "pytest", "--deploygate", "-q", "-p", "no:cacheprovider"],
                              cwd=folder, env=ENV, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"the gate in {folder} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
        return proc.stdout.strip().splitlines()[-1].split(" in ")[0]
    return run


def plain_pytest(folder: Path, count: int) -> tuple[Callable[[], str], Callable[[], str]]:
    """pytest's own cost for `count` items that do nothing (one parametrized test), and for one."""
    (folder / "test_many.py").write_text(
        f"import pytest\n\n\n@pytest.mark.parametrize('i', range({count}))\ndef test_many(i):\n    pass\n")
    (folder / "test_one.py").write_text("def test_one():\n    pass\n")

    def runner(name: str) -> Callable[[], str]:
        def run() -> str:
            proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", name],
                                  cwd=folder, env=ENV, capture_output=True, text=True, check=True)
            return proc.stdout.strip().splitlines()[-1].split(" in ")[0]
        return run

    return runner("test_many.py"), runner("test_one.py")


def real_work(url: str, path: Path) -> tuple[Callable[[], int], Callable[[], None]]:
    """What any snapshot gate must do: read the file, reflect, compare; on a connection kept open."""
    database = Database(DatabaseConfig("main", parse_database_url(url, Path.cwd()), 10.0, 600.0), Redactor())

    def work() -> int:
        expected = read_snapshot(path)
        with database.session() as session:
            live = reflect(session)
        found = 0
        for name, table in expected.tables.items():
            found += len(compare_table(name, table, live.tables[name])) if name in live.tables else 1
        found += len(compare_enums(expected.enums, live.enums))
        return found + len(live.tables.keys() - expected.tables.keys())

    return work, database.close


def timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="a server to create the benchmark database on (its database: where to connect)")
    parser.add_argument("--tables", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="leave the database in place at the end")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="dg-bench-schema-gate-"))
    try:
        url = as_url(build(args.url, args.tables))
        gate, empty, plain = tmp / "gate", tmp / "empty", tmp / "plain"
        gate.mkdir()
        empty.mkdir()
        plain.mkdir()
        snapshot(url, gate / "schema.json")
        (gate / "deploygate.toml").write_text(
            f'[databases.main]\nurl = "{url}"\n\n[[schema]]\ndatabase = "main"\nsnapshot = "schema.json"\n')
        (empty / "deploygate.toml").write_text('[[environment]]\nrequire = ["PATH"]\n')

        whole_run, empty_run = pytest_run(gate), pytest_run(empty)
        summary = whole_run()  # warm-up: bytecode, the server's catalog caches; all must pass
        empty_run()
        many_run, one_run = plain_pytest(plain, int(summary.split()[0]))
        many_run()
        one_run()
        work, close = real_work(url, gate / "schema.json")
        differences = work()
        if differences:
            raise SystemExit(f"{differences} differences between the snapshot and the database it was taken of")
        t_whole = t_empty = t_work = t_many = t_one = float("inf")
        for _ in range(args.repeat):  # in turn, so that drift on the machine hits all alike
            t_whole = min(t_whole, timed(whole_run))
            t_empty = min(t_empty, timed(empty_run))
            t_work = min(t_work, timed(work))
            t_many = min(t_many, timed(many_run))
            t_one = min(t_one, timed(one_run))
        close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if not args.keep:
            drop(args.url)

    with psycopg.connect(args.url) as conn:
        version = conn.info.server_version
    cost = t_whole - t_empty
    ratio = cost / t_work
    print(f"PostgreSQL {version // 10000}.{version % 100}, {args.tables:,} tables, python {sys.version.split()[0]}, "
          f"{os.cpu_count()} cores, best of {args.repeat}")
    print(f"gate      : {summary}")
    print(f"whole run : {t_whole:6.2f} s  (pytest --deploygate -q, a subprocess)")
    print(f"empty run : {t_empty:6.2f} s  (a 1-check [[environment]] gate: pytest's start-up)")
    print(f"gate cost : {t_whole - t_empty:6.2f} s  (whole - empty)")
    print(f"real work : {t_work:6.2f} s  (read_snapshot + reflect + compare every table, in-process, connection open)")
    floor = t_many - t_one
    print(f"pytest    : {floor:6.2f} s  (the same number of parametrized tests that do nothing, minus one: "
          f"pytest's own per-item cost)")
    print(f"gate cost - real work - pytest: {cost - t_work - floor:6.2f} s  (what the plugin adds per item, in all)")
    print(f"ratio     : {ratio:.2f}x  (target <= {TARGET}x: {'met' if ratio <= TARGET else 'NOT met'}; "
          f"pytest alone is {(floor + t_work) / t_work:.2f}x of the real work)")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
