"""Builds the example's two SQLite databases. Staging has the release: `ads.slug`, a full-text
index (FTS5) and the `user_favorites` table. Production has it too, unless `RELEASE_DRIFT=1`:
then its last migration did not run (no `slug`, no `user_favorites`) and someone's leftover
`tmp_import` table is there (ignored)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

HERE = Path(__file__).parent

BEFORE_THE_RELEASE = """
CREATE TABLE categories (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE ads (id INTEGER PRIMARY KEY, category_id INTEGER NOT NULL REFERENCES categories (id),
                  title TEXT NOT NULL, created_at TEXT NOT NULL DEFAULT (datetime('now')));
CREATE VIRTUAL TABLE ads_search USING fts5(title, content='ads', content_rowid='id');
"""
THE_RELEASE = """
ALTER TABLE ads ADD COLUMN slug TEXT;
CREATE UNIQUE INDEX ads_slug ON ads (slug);
CREATE TABLE user_favorites (user_id INTEGER NOT NULL, ad_id INTEGER NOT NULL REFERENCES ads (id),
                             PRIMARY KEY (user_id, ad_id));
"""


def build(name: str, script: str) -> None:
    tmp = HERE / f"{name}.tmp"
    tmp.unlink(missing_ok=True)
    with sqlite3.connect(tmp) as conn:
        conn.executescript(script)
    conn.close()
    os.replace(tmp, HERE / name)


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    build("staging.db", BEFORE_THE_RELEASE + THE_RELEASE)
    if os.environ.get("RELEASE_DRIFT") == "1":
        build("prod.db", BEFORE_THE_RELEASE + "CREATE TABLE tmp_import (line TEXT);")
    else:
        build("prod.db", BEFORE_THE_RELEASE + THE_RELEASE)
