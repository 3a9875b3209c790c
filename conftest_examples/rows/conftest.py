"""The `[[rows]]` example's stand-in for production: a marketplace in SQLite, built fresh each run.

`pytest --deploygate` checks healthy data and passes. `DEMO_INCIDENT=1 pytest --deploygate` replays
incident 2 of the SPEC (a release saved ads with a NULL, empty or blank slug, and one slug twice)
and the gate fails, naming the rows.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

HERE = Path(__file__).parent

SCHEMA = """
CREATE TABLE categories (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE ads (
    id INTEGER PRIMARY KEY,
    category_id INTEGER NOT NULL REFERENCES categories(id),
    title TEXT NOT NULL,
    slug TEXT,
    price_cents INTEGER NOT NULL,
    status TEXT NOT NULL,
    published_at TEXT,
    created_at TEXT NOT NULL DEFAULT (datetime('now'))
);
"""


def build_demo_database(path: Path, incident: bool) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    with sqlite3.connect(tmp) as conn:
        conn.executescript(SCHEMA)
        conn.executemany("INSERT INTO categories VALUES (?, ?)", [(1, "Bikes"), (2, "Books"), (3, "Phones")])
        ads = [(i, 1 + i % 3, f"Ad number {i}", f"ad-number-{i}", 100 * i, "published", "2025-01-01 10:00:00")
               for i in range(1, 201)]
        if incident:  # what the broken release wrote
            ads += [(201, 1, "Vintage road bike", None, 25000, "published", "2025-01-02 10:00:00"),
                    (202, 2, "Dune, first edition", "", 9000, "published", "2025-01-02 10:00:00"),
                    (203, 3, "Old phone", "   ", 1500, "published", None),
                    (204, 1, "Another ad", "ad-number-7", 700, "published", "2025-01-02 10:00:00")]
        conn.executemany("INSERT INTO ads (id, category_id, title, slug, price_cents, status, published_at)"
                         " VALUES (?, ?, ?, ?, ?, ?, ?)", ads)
    conn.close()
    os.replace(tmp, path)  # atomic: a gate never sees a half-built database


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):  # under -n, the controller has built it already
        return
    build_demo_database(HERE / "demo.db", incident=os.environ.get("DEMO_INCIDENT") == "1")
