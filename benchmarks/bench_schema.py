"""Schema snapshot + compare on 1,000 tables x 20 columns with indexes and foreign keys.

Targets (issue "Schema drift and migration tracking"): snapshot + compare in < 2 s, and within 1.5x
of the catalog queries alone.

Run: python benchmarks/bench_schema.py [--url postgresql://...] [--tables 1000] [--repeat 5]
Without --url it starts an embedded PostgreSQL (pgserver). It prints the best of --repeat runs of:
  catalog  - the reflection's catalog queries alone, rows fetched, nothing built
  snapshot - reflect into the model and serialise it as the snapshot file's JSON
  snapshot+compare - one reflection, written as the JSON, read back and compared with itself
             (every table and the enums): the figure held against the targets
  compare  - what each gate run does: parse the snapshot's JSON, reflect, compare
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

from pytest_deploygate.checks.schema import (
    compare_enums,
    compare_table,
    parse_snapshot,
    schema_json,
)
from pytest_deploygate.config import DatabaseConfig
from pytest_deploygate.db import Database
from pytest_deploygate.db.reflect import Schema, postgres_catalog_queries, reflect
from pytest_deploygate.db.url import parse_database_url
from pytest_deploygate.secrets import Redactor

TYPES = ["integer", "bigint", "text", "varchar(200)", "numeric(12,2)", "boolean", "timestamptz", "date", "jsonb", "uuid"]


def build(url: str, tables: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        existing = conn.execute(b"SELECT count(*) FROM pg_tables WHERE schemaname = 'bench'").fetchone()
        if existing and existing[0] == tables:
            return  # built by an earlier run
        # newest first (foreign keys), a few hundred per transaction (lock table size)
        for start in range(existing[0] if existing else 0, 0, -200):
            names = ", ".join(f"bench.t{t}" for t in range(max(0, start - 200), start))
            conn.execute(f"DROP TABLE IF EXISTS {names} CASCADE".encode())
        conn.execute(b"DROP SCHEMA IF EXISTS bench CASCADE; CREATE SCHEMA bench")
        for t in range(tables):
            with conn.transaction():
                columns = ["id bigserial PRIMARY KEY"]
                columns += [f"c{c} {TYPES[c % len(TYPES)]}{' NOT NULL' if c % 3 == 0 else ''}"
                            f"{' DEFAULT 0' if TYPES[c % len(TYPES)] == 'integer' else ''}" for c in range(1, 18)]
                columns.append(f"parent_id bigint REFERENCES bench.t{t - 1} (id) ON DELETE CASCADE" if t else "parent_id bigint")
                columns.append("code text UNIQUE")
                conn.execute(f"CREATE TABLE bench.t{t} ({', '.join(columns)})".encode())
                conn.execute(f"CREATE INDEX t{t}_c1_c2 ON bench.t{t} (c1, c2 DESC)".encode())
                conn.execute(f"CREATE INDEX t{t}_lower ON bench.t{t} (lower(c2)) WHERE c5".encode())
                conn.execute(f"ALTER TABLE bench.t{t} ADD CONSTRAINT t{t}_c4_positive CHECK (c4 >= 0)".encode())
        conn.execute(b"ANALYZE")


def differences(expected: Schema, live: Schema) -> int:
    """Every difference the gate's items would report: each table, then the enums."""
    found = sum(len(compare_table(name, table, live.tables[name])) for name, table in expected.tables.items())
    return found + len(compare_enums(expected.enums, live.enums))


def best(repeat: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url")
    parser.add_argument("--tables", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    server = None
    url = args.url
    if url is None:
        import pgserver

        server = pgserver.get_server(Path(tempfile.mkdtemp(prefix="dg-bench-")), cleanup_mode="delete")
        url = server.get_uri()
    try:
        build(url, args.tables)
        database = Database(DatabaseConfig("bench", parse_database_url(url, Path.cwd()), 10, 600), Redactor())
        queries = postgres_catalog_queries()

        def catalog_only() -> None:
            with database.session() as session:
                session.query("SET LOCAL search_path = pg_catalog")
                for query in queries.values():
                    session.query(query)

        def snapshot() -> str:
            with database.session() as session:
                return schema_json(reflect(session))

        text = snapshot()

        def snapshot_and_compare() -> int:
            with database.session() as session:
                live = reflect(session)
            written = schema_json(live)
            expected = parse_snapshot(written)  # as the gate reads the file
            return differences(expected, live)

        def compare_only() -> int:  # what each gate run does: read the snapshot, reflect, compare
            expected = parse_snapshot(text)
            with database.session() as session:
                live = reflect(session)
            return differences(expected, live)

        assert snapshot_and_compare() == 0, "a false positive on the benchmark database"
        assert compare_only() == 0, "a false positive on the benchmark database"
        t_catalog = best(args.repeat, catalog_only)
        t_snapshot = best(args.repeat, snapshot)
        t_total = best(args.repeat, snapshot_and_compare)
        t_compare = best(args.repeat, compare_only)
        database.close()
    finally:
        if server is not None:
            server.cleanup()

    tables = len(json.loads(text)["tables"])
    print(f"database        : {tables} tables x 20 columns, 2 indexes, 1 unique, 1 check, 1 FK each ({os.cpu_count()} cores)")
    print(f"catalog queries : {t_catalog * 1000:7.0f} ms  (best of {args.repeat})")
    print(f"snapshot        : {t_snapshot * 1000:7.0f} ms  (reflect + JSON; {t_snapshot / t_catalog:.2f}x)")
    print(f"compare         : {t_compare * 1000:7.0f} ms  (read the JSON + reflect + compare all, a gate run;"
          f" {t_compare / t_catalog:.2f}x)")
    print(f"snapshot+compare: {t_total * 1000:7.0f} ms  (reflect + JSON + read back + compare all)")
    ratio = t_total / t_catalog
    print(f"ratio to catalog: {ratio:.2f}x  (target <= 1.5x: {'met' if ratio <= 1.5 else 'NOT met'})")
    print(f"absolute        : {t_total:.2f} s  (target < 2 s: {'met' if t_total < 2 else 'NOT met'})")
    return 0 if ratio <= 1.5 and t_total < 2 else 1


if __name__ == "__main__":
    sys.exit(main())
