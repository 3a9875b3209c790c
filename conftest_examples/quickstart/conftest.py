"""The quickstart's stand-in for production: a small marketplace in SQLite, built fresh each run,
and its API, served on 127.0.0.1 while the gate runs.

`pytest --deploygate` checks healthy data and passes. `DEMO_INCIDENT=1 pytest --deploygate` replays
incident 2 of the SPEC (ads saved with a NULL or empty slug), incident 3 (the uploads folder
restored from another backup than the database: three images missing, one nobody references) and
the seeds' API incident (`/api/communities` answering 200 with an empty list, the backend's log
saying `column "form_template" does not exist`, and a route edited after the last build), and the
gate fails, saying which rows, files, answers, log lines and sources.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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
    if hasattr(config, "workerinput"):  # under -n, the controller has built it and serves the API
        return
    incident = os.environ.get("DEMO_INCIDENT") == "1"
    start_api(config, incident)
    write_backend(incident)
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


# -- the API --------------------------------------------------------------------------------------

API_TOKEN = "demo-api-token-0b9f3c"  # what the deploy environment would hold; never printed by the gate


def start_api(config: pytest.Config, incident: bool) -> None:
    """The marketplace's API on 127.0.0.1 (a free port), in a thread, until pytest ends. Its
    address and token go into the environment, where the gate's `${DEMO_API_URL}` and
    `${DEMO_API_TOKEN}` read them (xdist workers inherit it)."""

    class Api(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.path == "/api/health":
                self.answer(200, {"status": "ok", "database": "ok"})
            elif self.path == "/api/communities":
                if self.headers.get("Authorization") != f"Bearer {API_TOKEN}":
                    self.answer(401, {"error": "unauthorized"})
                else:  # the incident: a release that broke the query behind it
                    self.answer(200, {"communities": [] if incident else [
                        {"id": 1, "name": "Cyclists"}, {"id": 2, "name": "Book lovers"}]})
            else:
                self.answer(404, {"error": "not found"})

        def answer(self, status: int, document: object) -> None:
            body = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    config.add_cleanup(server.server_close)
    config.add_cleanup(server.shutdown)
    os.environ["DEMO_API_URL"] = f"http://127.0.0.1:{server.server_address[1]}"
    os.environ["DEMO_API_TOKEN"] = API_TOKEN


# -- the backend's log and build --------------------------------------------------------------------


def write_backend(incident: bool) -> None:
    """The backend's last hour of log, and its compiled output. In the incident the restored
    database lacks a column the code reads, and a route was edited after the last build."""
    import time

    now = time.time()

    def stamp(minutes_ago: float) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now - minutes_ago * 60))

    lines = [f"{stamp(61)} INFO server started on :3000"]
    for minute in range(60, 0, -1):
        lines.append(f"{stamp(minute)} INFO GET /api/communities 200 {10 + minute % 7}ms")
        if incident and minute in (12, 3):
            lines.append(f'{stamp(minute)} ERROR GET /api/categories 500: column "form_template" does not exist')
    (HERE / "logs").mkdir(exist_ok=True)
    (HERE / "logs" / "backend.log").write_text("\n".join(lines) + "\n", encoding="utf-8")

    backend = HERE / "backend"
    shutil.rmtree(backend, ignore_errors=True)
    for route in ("communities", "ads", "categories"):
        source = backend / "src" / "routes" / f"{route}.ts"
        output = backend / "dist" / "routes" / f"{route}.js"
        source.parent.mkdir(parents=True, exist_ok=True)
        output.parent.mkdir(parents=True, exist_ok=True)
        source.write_text(f"export const route = '{route}';\n")
        output.write_text(f"exports.route = '{route}';\n")
        edited = 3 if incident and route == "communities" else 30  # minutes ago
        os.utime(source, (now - edited * 60, now - edited * 60))
        os.utime(output, (now - 6 * 60, now - 6 * 60))  # built 6 minutes ago
