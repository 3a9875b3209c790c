"""Test set-up: a real PostgreSQL (DEPLOYGATE_TEST_POSTGRES_URL, else an embedded pgserver),
one fresh database per test (`pg`), `db` (the same test on SQLite and on PostgreSQL), `gate`, a
pytester wrapper that writes configs and runs the gate, and `example`, which runs a folder of
conftest_examples/ as a user would.

Every test that reaches a PostgreSQL server (`pg`, `postgres_server`, `db[postgresql]`) is marked
`database`: CI runs `pytest -m database` again on the machine's PostgreSQL 15.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import textwrap
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jmespath
import psycopg
import pytest
import requests
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

import pytest_deploygate.items
import pytest_deploygate.report
from pytest_deploygate.checks import builtin_kinds

# The plugin imports the gate's modules only when a gate is collected. pytester's in-process runs
# drop every module first imported during a run, so without this each run would import (and,
# without bytecode files, compile) them all again: loaded here, once, they stay. The same goes for
# what [[endpoint]] imports when it first runs: a requests.Session made by one run's fixture would
# meet the classes of another run's fresh `requests` ("You can only merge into CookieJar").
builtin_kinds()
del pytest_deploygate, requests, jmespath

PG_ENV = "DEPLOYGATE_TEST_POSTGRES_URL"
#: a second server, for what crosses servers (dump/restore, prod against staging); .ci/run gives
#: the machine's PostgreSQL 15 while the suite runs on the embedded 16, and the other way round
SECOND_PG_ENV = "DEPLOYGATE_TEST_SECOND_POSTGRES_URL"
EXAMPLES = Path(__file__).parent.parent / "conftest_examples"
# the fixtures through which a test reaches a PostgreSQL server (`db` only with its postgresql param)
SERVER_FIXTURES = ("postgres_server", "pg", "second_postgres_server", "pg2")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "database: reaches a real PostgreSQL server (pg, postgres_server, db[postgresql]); set automatically, "
        "CI runs -m database again on PostgreSQL 15",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        callspec = getattr(item, "callspec", None)
        on_server = any(name in fixtures for name in SERVER_FIXTURES) or (
            "db" in fixtures and callspec is not None and callspec.params.get("db") == "postgresql")
        if on_server:
            item.add_marker(pytest.mark.database)


@pytest.fixture(scope="session")
def embedded_postgres() -> Iterator[str]:
    """The URL of the embedded PostgreSQL 16 (pgserver), started on first use."""
    import pgserver

    # a short path: the server's unix socket lives in it, and socket paths are limited to ~100 bytes
    datadir = Path(f"/tmp/dg-pg-{os.getpid()}")
    server = pgserver.get_server(datadir, cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def postgres_server(request: pytest.FixtureRequest) -> str:
    """The URL of a PostgreSQL server the tests may create databases on."""
    return os.environ.get(PG_ENV) or str(request.getfixturevalue("embedded_postgres"))


@pytest.fixture(scope="session")
def second_postgres_server(request: pytest.FixtureRequest, postgres_server: str) -> str:
    """Another server for what crosses servers: SECOND_PG_ENV, else the embedded 16 when the suite
    runs on a server of the environment's, else the suite's own server (a second database on it)."""
    url = os.environ.get(SECOND_PG_ENV)
    if url:
        return url
    if os.environ.get(PG_ENV):
        return str(request.getfixturevalue("embedded_postgres"))
    return postgres_server


#: the role the gates of the tests connect as: the least-privilege role the safety page recommends
#: (the superuser that sets a test up is refused user-written SQL, as it would be in production)
READER = "deploygate_reader"


def _ensure_reader(server_url: str) -> str:
    with _admin(server_url) as admin:
        admin.execute(f"""
            DO $$ BEGIN
              IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{READER}') THEN
                CREATE ROLE {READER} LOGIN;
              END IF;
            END $$;
            GRANT pg_read_all_data TO {READER};
        """.encode())
    return READER


@pytest.fixture(scope="session")
def reader_role(postgres_server: str) -> str:
    return _ensure_reader(postgres_server)


def database_url(server_url: str, dbname: str, user: str | None = None) -> str:
    params = conninfo_to_dict(server_url)
    if user is not None:
        params["user"] = user
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
    """A throwaway database: `url` for configs (a least-privilege role), `admin_url` and `execute`
    to set it up (read-write, as its owner)."""

    def __init__(self, server_url: str, name: str) -> None:
        self.server_url = server_url
        self.name = name
        self.admin_url = database_url(server_url, name)
        self.url = database_url(server_url, name, READER)

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.admin_url, autocommit=True)

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
def pg(postgres_server: str, reader_role: str) -> Iterator[PostgresDatabase]:
    """A fresh PostgreSQL database for this test, dropped afterwards."""
    # A plain CREATE DATABASE (WAL_LOG copy of template1) is the fastest way to a fresh empty
    # database; the alternatives were measured slower (median ms per database, 15 of each, one
    # connection each for create and drop; "busy" = 20,000 rows written before each create):
    #
    #                                         PG 16 (pgserver)         PG 15 (local)
    #                                         idle        busy         idle        busy
    #   CREATE DATABASE                       49 + 11     74 + 18      19 + 11     18 + 13
    #   ... TEMPLATE template1 FILE_COPY      80 + 33    126 + 36      31 + 27     39 + 27
    #   ... TEMPLATE template0 FILE_COPY      95 + 38    121 + 36      32 + 25     42 + 24
    #   ... TEMPLATE template0 (WAL_LOG)      70 + 13     63 + 15      20 + 11     27 + 13
    #   ... TEMPLATE <session tpl> FILE_COPY 100 + 30     79 + 29      28 + 24     43 + 25
    #   ... TEMPLATE <session tpl> (WAL_LOG)  71 + 14     78 + 14      20 + 10     28 + 12
    #                                         (create + DROP ... WITH (FORCE))
    #
    # FILE_COPY pays two checkpoints per create, and its databases cost twice as much to drop;
    # a session template is as empty as template1, so copying it saves nothing.
    with _fresh_database(postgres_server) as database:
        yield database


@pytest.fixture
def pg2(second_postgres_server: str) -> Iterator[PostgresDatabase]:
    """A fresh database on the second server (see `second_postgres_server`)."""
    _ensure_reader(second_postgres_server)
    with _fresh_database(second_postgres_server) as database:
        yield database


@contextmanager
def _fresh_database(server_url: str) -> Iterator[PostgresDatabase]:
    name = f"dg_{uuid.uuid4().hex[:12]}"
    with _admin(server_url) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield PostgresDatabase(server_url, name)
    finally:
        with _admin(server_url) as admin:
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

    # JUnit testcase properties are written under junit_family = xunit1, as the docs advise (a test
    # that wants pytest's default, xunit2, says so after these, and the last -o wins)
    DEFAULTS = ("--deploygate", "-p", "no:cacheprovider", "-o", "junit_family=xunit1")

    def run(self, *args: str) -> pytest.RunResult:
        return self.pytester.runpytest(*self.DEFAULTS, *args)

    def run_subprocess(self, *args: str) -> pytest.RunResult:
        return self.pytester.runpytest_subprocess(*self.DEFAULTS, *args)


@pytest.fixture
def gate(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Gate:
    # When the suite itself runs under `pytest -n`, its worker's run id would leak into the gates
    # run in-process here, and `[[schema]] against` would take one run's reflection for the next
    # run's (it shares a reflection between the workers of one xdist run). A gate run under `-n`
    # here gets a run id of its own from its own controller.
    monkeypatch.delenv("PYTEST_XDIST_TESTRUNUID", raising=False)
    return Gate(pytester)


@pytest.fixture(autouse=True)
def quiet_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """Gates run in the tests as on a CI machine (pytest then prints its short summary lines whole,
    verdicts included), but not as on GitHub Actions, whose variables would add annotations and a
    step summary to every run when the suite itself runs there (tests that want them set them)."""
    monkeypatch.setenv("CI", "true")
    for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITHUB_WORKSPACE"):
        monkeypatch.delenv(name, raising=False)


@dataclass
class Backend:
    """One database of the gate, on either engine, set up with the same script."""

    name: str
    gate: Gate
    url: str
    pg: PostgresDatabase | None = None

    def execute(self, script: str) -> None:
        script = script.replace("{now}", "CURRENT_TIMESTAMP")
        if self.pg is not None:
            self.pg.execute(script.replace("{days_ago:2}", "now() - interval '2 days'")
                            .replace("{tab_newline}", "E'\\t\\n '").replace("{tab_x}", "E'\\tx'")
                            .replace("{control}", "E'\\x01'"))
        else:
            self.gate.sqlite(script.replace("{days_ago:2}", "datetime('now', '-2 days')")
                             .replace("{tab_newline}", "char(9, 10, 32)").replace("{tab_x}", "char(9) || 'x'")
                             .replace("{control}", "char(1)"))

    def config(self, body: str, settings: str = "") -> None:
        self.gate.config(f'{settings}\n[databases.main]\nurl = "{self.url}"\n\n{body}')


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest) -> Backend:
    """The gate's database `main` (sqlite:///app.db in pytester's folder, or a fresh `pg`)."""
    # the server first: pytester restores sys.modules after each run, and a module first
    # imported during its lifetime (pgserver's psutil) would vanish under the session's feet
    pg: PostgresDatabase | None = request.getfixturevalue("pg") if request.param == "postgresql" else None
    gate: Gate = request.getfixturevalue("gate")
    if pg is None:
        return Backend("sqlite", gate, "sqlite:///app.db")
    return Backend("postgresql", gate, pg.url, pg)


class Example:
    """Copies a folder of conftest_examples/ into pytester's folder and runs it in a subprocess."""

    # what running an example leaves behind, or what its conftest makes afresh (the .gitignore's)
    LEFTOVERS = ("demo.db", "demo.tmp", "app.db", "app.tmp", "prod.db", "staging.db", "*.tmp", "public", "backups",
                 "__pycache__", "*.xml", "*.md", "report.json")

    def __init__(self, pytester: pytest.Pytester) -> None:
        self.pytester = pytester
        self.path = pytester.path

    def source(self, name: str) -> Path:
        return EXAMPLES / name

    def copy(self, name: str) -> Path:
        shutil.copytree(self.source(name), self.path, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*self.LEFTOVERS))
        return self.path

    def run(self, *args: str) -> pytest.RunResult:
        """pytest in the example's folder, in a subprocess, as a user would run it."""
        return self.pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)


@pytest.fixture
def example(pytester: pytest.Pytester) -> Example:
    return Example(pytester)
