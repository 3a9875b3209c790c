"""Builds the example's SQLite database; `SCHEMA_DRIFT=1` replays incident 1 (a restore that lost
`categories.form_template`, `ads.custom_fields` and the table `user_favorites`)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

HERE = Path(__file__).parent

TABLES = {
    "categories": "CREATE TABLE categories (id INTEGER PRIMARY KEY, name TEXT NOT NULL, form_template TEXT)",
    "ads": """CREATE TABLE ads (id INTEGER PRIMARY KEY, category_id INTEGER NOT NULL REFERENCES categories (id),
              slug TEXT UNIQUE, custom_fields TEXT, created_at TEXT NOT NULL DEFAULT (datetime('now')))""",
    "user_favorites": "CREATE TABLE user_favorites (user_id INTEGER NOT NULL, ad_id INTEGER NOT NULL, PRIMARY KEY (user_id, ad_id))",
}
AFTER_THE_RESTORE = {
    "categories": "CREATE TABLE categories (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
    "ads": """CREATE TABLE ads (id INTEGER PRIMARY KEY, category_id INTEGER NOT NULL REFERENCES categories (id),
              slug TEXT UNIQUE, created_at TEXT NOT NULL DEFAULT (datetime('now')))""",
}


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    tables = AFTER_THE_RESTORE if os.environ.get("SCHEMA_DRIFT") == "1" else TABLES
    tmp = HERE / "app.tmp"
    tmp.unlink(missing_ok=True)
    with sqlite3.connect(tmp) as conn:
        for statement in tables.values():
            conn.execute(statement)
        conn.execute("CREATE INDEX ads_category ON ads (category_id, created_at DESC)")
    conn.close()
    os.replace(tmp, HERE / "app.db")
