"""A conftest that adds a check kind, `[[http_status]]`, and watches every result.

Three hooks do it: `pytest_deploygate_kinds` registers the kind (its table name, its keys and their
validation, its items, its runner), the kind asks for a fixture (`deploygate_http`, which this
conftest could override), and `pytest_deploygate_result` sees each result.

The API it checks is a tiny server on 127.0.0.1 that this conftest starts, so the example needs
nothing from outside.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
import requests

from pytest_deploygate import CheckError, CheckKind, EntryReader, Result, RunContext, Target


@dataclass(frozen=True)
class HttpStatusOptions:
    url: str
    status: int


class HttpStatusCheck(CheckKind[HttpStatusOptions, None]):
    """`[[http_status]]`: a URL must answer with the expected status."""

    name = "http_status"
    summary = "a URL answers with the expected HTTP status"
    fixtures = ("deploygate_http",)  # arrives in ctx.fixtures; a conftest can override it

    def parse(self, reader: EntryReader) -> HttpStatusOptions:
        url = reader.required_string("url")
        if not url.startswith(("http://", "https://")):
            raise reader.error("url", f"expected an http:// or https:// URL, got {url!r}")
        status = reader.integer("status", 200, minimum=100)
        assert status is not None
        return HttpStatusOptions(url, status)

    def default_name(self, options: HttpStatusOptions, entry_index: int, database: str | None) -> str:
        return f"http{entry_index}"

    def run(self, target: Target[HttpStatusOptions, None], ctx: RunContext) -> Result:
        options = target.entry.options
        session: requests.Session = ctx.fixtures["deploygate_http"]
        try:
            response = session.get(options.url, timeout=ctx.timeout)
        except requests.RequestException as exc:
            raise CheckError(f"GET {urlsplit(options.url).path}: {type(exc).__name__}") from None
        latency_ms = round(response.elapsed.total_seconds() * 1000)
        # the path only: the host part usually comes from the environment and may be secret
        verdict = f"GET {urlsplit(options.url).path}: {response.status_code} (expected {options.status}) in {latency_ms}ms"
        if response.status_code != options.status:
            return Result.fail(verdict, latency_ms=latency_ms, status=response.status_code)
        return Result.ok(verdict, latency_ms=latency_ms, status=response.status_code)


def pytest_deploygate_kinds(config: pytest.Config) -> list[CheckKind]:
    return [HttpStatusCheck()]


def pytest_deploygate_result(target: Target, result: Result, item: pytest.Item) -> None:
    # every result passes here, already free of secrets: send it to a dashboard, a chat, a log;
    # here, a JUnit property, where the JUnit family has them (xunit1: see docs/reporting.md)
    if getattr(item, "junit_properties", True):
        item.user_properties.append(("observed_by", "custom_kind conftest"))


class DemoAPI(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = 200 if self.path == "/health" else 503
        body = b'{"status": "ok"}' if status == 200 else b'{"status": "down"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


def pytest_configure(config: pytest.Config) -> None:
    # before collection: the config's ${DEMO_API_URL} is read when the gate file is collected
    server = ThreadingHTTPServer(("127.0.0.1", 0), DemoAPI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    os.environ["DEMO_API_URL"] = f"http://127.0.0.1:{server.server_address[1]}"
    config.stash[SERVER_KEY] = server


def pytest_unconfigure(config: pytest.Config) -> None:
    server = config.stash.get(SERVER_KEY, None)
    if server is not None:
        server.shutdown()
        server.server_close()


SERVER_KEY = pytest.StashKey[ThreadingHTTPServer]()
