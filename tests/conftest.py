"""Test set-up: a real PostgreSQL (DEPLOYGATE_TEST_POSTGRES_URL, else an embedded pgserver),
one fresh database per test, and `gate`, a pytester wrapper that writes configs and runs the gate.
"""

from __future__ import annotations

import os
import sqlite3
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

PG_ENV = "DEPLOYGATE_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a PostgreSQL server the tests may create databases on."""
    url = os.environ.get(PG_ENV)
    if url:
        yield url
        return
    import pgserver

    # a short path: the server's unix socket lives in it, and socket paths are limited to ~100 bytes
    datadir = Path(f"/tmp/dg-pg-{os.getpid()}")
    server = pgserver.get_server(datadir, cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


def database_url(server_url: str, dbname: str) -> str:
    params = conninfo_to_dict(server_url)
    params["dbname"] = dbname
    if "host" in params and str(params["host"]).startswith("/"):
        # a socket directory: keep it in the query so that the URL stays a URL
        host = params.pop("host")
        rest = make_conninfo(**{k: v for k, v in params.items() if k not in ("dbname", "user", "password")})
        user = params.get("user", "postgres")
        query = f"host={host}" + ("&" + rest.replace(" ", "&") if rest else "")
        return f"postgresql://{user}@/{dbname}?{query}"
    user = params.get("user", "postgres")
    password = params.get("password")
    auth = f"{user}:{password}@" if password else f"{user}@"
    port = params.get("port", "5432")
    return f"postgresql://{auth}{params.get('host', '127.0.0.1')}:{port}/{dbname}"


class PostgresDatabase:
    """A throwaway database: `url` for configs, `execute` to set it up (read-write, as its owner)."""

    def __init__(self, server_url: str, name: str) -> None:
        self.server_url = server_url
        self.name = name
        self.url = database_url(server_url, name)

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.url, autocommit=True)

    def execute(self, script: str, params: Any = None) -> None:
        with self.connect() as conn:
            conn.execute(script.encode() if params is None else script, params)

    def scalar(self, query: str) -> Any:
        with self.connect() as conn:
            row = conn.execute(query.encode()).fetchone()
            return None if row is None else row[0]


def _admin(server_url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(server_url, autocommit=True)


@pytest.fixture
def pg(postgres_server: str) -> Iterator[PostgresDatabase]:
    """A fresh PostgreSQL database for this test, dropped afterwards."""
    name = f"dg_{uuid.uuid4().hex[:12]}"
    with _admin(postgres_server) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield PostgresDatabase(postgres_server, name)
    finally:
        with _admin(postgres_server) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


class Gate:
    """Writes a gate (config, SQLite databases, files) into pytester's folder and runs it."""

    def __init__(self, pytester: pytest.Pytester) -> None:
        self.pytester = pytester
        self.path = pytester.path

    def config(self, text: str, name: str = "deploygate.toml") -> Path:
        path = self.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def sqlite(self, script: str, name: str = "app.db") -> Path:
        path = self.path / name
        with sqlite3.connect(path) as conn:
            conn.executescript(textwrap.dedent(script))
        conn.close()
        return path

    def run(self, *args: str) -> pytest.RunResult:
        return self.pytester.runpytest("--deploygate", "-p", "no:cacheprovider", *args)

    def run_subprocess(self, *args: str) -> pytest.RunResult:
        return self.pytester.runpytest_subprocess("--deploygate", "-p", "no:cacheprovider", *args)


@pytest.fixture
def gate(pytester: pytest.Pytester) -> Gate:
    return Gate(pytester)
