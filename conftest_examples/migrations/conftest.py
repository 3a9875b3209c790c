"""Builds the example's SQLite database as `prisma migrate deploy` leaves it: the schema and a
`_prisma_migrations` row (with Prisma's SHA-256 checksum) for each folder under prisma/migrations.
`MIGRATIONS_INCIDENT=1` replays incident 1: the restored database has no tracking table."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import uuid
from pathlib import Path

import pytest

HERE = Path(__file__).parent
MIGRATIONS = HERE / "prisma" / "migrations"

PRISMA_MIGRATIONS = """
CREATE TABLE "_prisma_migrations" (
    "id"                    TEXT PRIMARY KEY NOT NULL,
    "checksum"              TEXT NOT NULL,
    "finished_at"           DATETIME,
    "migration_name"        TEXT NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        DATETIME,
    "started_at"            DATETIME NOT NULL DEFAULT current_timestamp,
    "applied_steps_count"   INTEGER UNSIGNED NOT NULL DEFAULT 0
)
"""


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    incident = os.environ.get("MIGRATIONS_INCIDENT") == "1"
    tmp = HERE / "app.tmp"
    tmp.unlink(missing_ok=True)
    with sqlite3.connect(tmp) as conn:
        if not incident:
            conn.execute(PRISMA_MIGRATIONS)
        for script in sorted(MIGRATIONS.glob("*/migration.sql")):
            conn.executescript(script.read_text(encoding="utf-8"))
            if not incident:
                conn.execute(
                    "INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, applied_steps_count) "
                    "VALUES (?, ?, current_timestamp, ?, 1)",
                    (str(uuid.uuid4()), hashlib.sha256(script.read_bytes()).hexdigest(), script.parent.name),
                )
    conn.close()
    os.replace(tmp, HERE / "app.db")
