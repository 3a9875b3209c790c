"""The quickstart's stand-in for production: a small marketplace in SQLite, built fresh each run.

`pytest --deploygate` checks healthy data and passes. `DEMO_INCIDENT=1 pytest --deploygate` replays
incident 2 of the SPEC (ads saved with a NULL or empty slug) and incident 3 (the uploads folder
restored from another backup than the database: three images missing, one nobody references) and
the gate fails, saying which rows and files.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

HERE = Path(__file__).parent

SCHEMA = """
CREATE TABLE categories (id INTEGER PRIMARY KEY, name TEXT NOT NULL, form_template TEXT);
CREATE TABLE ads (
    id INTEGER PRIMARY KEY,
    category_id INTEGER NOT NULL REFERENCES categories(id),
    title TEXT NOT NULL,
    slug TEXT,
    custom_fields TEXT,
    created_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE TABLE ad_images (id INTEGER PRIMARY KEY, ad_id INTEGER NOT NULL REFERENCES ads(id), file_path TEXT NOT NULL);
CREATE TABLE user_favorites (user_id INTEGER NOT NULL, ad_id INTEGER NOT NULL, PRIMARY KEY (user_id, ad_id));
"""


def build_demo_database(path: Path, incident: bool) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    with sqlite3.connect(tmp) as conn:
        conn.executescript(SCHEMA)
        conn.executemany("INSERT INTO categories VALUES (?, ?, ?)",
                         [(1, "Bikes", "{}"), (2, "Books", "{}"), (3, "Phones", "{}")])
        ads = [(i, 1 + i % 3, f"Ad number {i}", f"ad-number-{i}", "{}") for i in range(1, 201)]
        if incident:  # what the broken release wrote
            ads += [(201, 1, "Vintage road bike", None, "{}"), (202, 2, "Dune, first edition", "", "{}"),
                    (203, 3, "Old phone", "   ", "{}")]
        conn.executemany("INSERT INTO ads (id, category_id, title, slug, custom_fields) VALUES (?, ?, ?, ?, ?)", ads)
        conn.executemany("INSERT INTO ad_images (ad_id, file_path) VALUES (?, ?)",
                         [(i, f"uploads/ads/ad-{i}.webp") for i in range(1, 201)])
    conn.close()
    os.replace(tmp, path)  # atomic: a gate never sees a half-built database


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):  # under -n, the controller has built it already
        return
    incident = os.environ.get("DEMO_INCIDENT") == "1"
    build_demo_database(HERE / "demo.db", incident=incident)
    uploads = HERE / "public" / "uploads" / "ads"
    shutil.rmtree(uploads, ignore_errors=True)
    uploads.mkdir(parents=True)
    # the incident's uploads came from an older backup: the newest three are not there, and an
    # image of an ad deleted since is
    for i in range(1, 198 if incident else 201):
        (uploads / f"ad-{i}.webp").write_bytes(b"RIFF\x00\x00\x00\x00WEBP")
    if incident:
        (uploads / "ad-0.webp").write_bytes(b"RIFF\x00\x00\x00\x00WEBP")
    make_backup(incident)


def make_backup(incident: bool) -> None:
    """Last night's backup, as a backup script would make it: a copy of the database (SQLite's
    backup API), a copy of the uploads, and `deploygate manifest` to describe both. In the
    incident, the uploads copy came from an older backup: three of the images the database
    names are not in it."""
    from pytest_deploygate.cli import main as deploygate

    backups = HERE / "backups"
    shutil.rmtree(backups, ignore_errors=True)
    folder = backups / "20260101_020000"
    (folder / "uploads").mkdir(parents=True)
    with sqlite3.connect(HERE / "demo.db") as source, sqlite3.connect(folder / "database.db") as copy:
        source.backup(copy)
    source.close()
    copy.close()
    shutil.copytree(HERE / "public" / "uploads" / "ads", folder / "uploads" / "ads")
    if incident:
        for i in (198, 199, 200):
            (folder / "uploads" / "ads" / f"ad-{i}.webp").unlink(missing_ok=True)
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
        deploygate(["manifest", str(folder)])
    # what a deploy environment would provide; the gate checks it is there, never shows its value
    os.environ.setdefault("DEMO_SESSION_SECRET", "s3cr3t-only-for-the-demo")
