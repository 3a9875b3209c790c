"""Small real servers for tests: a TCP server that never answers, counting who connects; a
proxy that freezes; an HTTP(S) site whose answers each test sets."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class SilentServer:
    """Accepts TCP connections on 127.0.0.1 and never says a word: a hung database."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            self._held.append(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for conn in self._held:
            conn.close()
        self.sock.close()


@contextmanager
def silent_server() -> Iterator[SilentServer]:
    server = SilentServer()
    try:
        yield server
    finally:
        server.close()


class FreezingProxy:
    """A TCP proxy on 127.0.0.1 to a PostgreSQL server that stops forwarding, both ways and for
    good, once a client sends `marker`: a server that stops answering mid-run (as `kill -STOP`
    of the postmaster and its backends would make it), without freezing the suite's server."""

    def __init__(self, connect: Callable[[], socket.socket], marker: bytes = b"FREEZE_NOW") -> None:
        self.connect = connect
        self.marker = marker
        self.frozen = threading.Event()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._open: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                client, _ = self.sock.accept()
            except OSError:
                continue
            if not self.admit(client):
                client.close()
                continue
            server = self.connect()
            self._open += [client, server]
            threading.Thread(target=self._pipe, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, False), daemon=True).start()

    def admit(self, client: socket.socket) -> bool:
        """Whether to forward this client (every one, here)."""
        return True

    def _pipe(self, source: socket.socket, target: socket.socket, from_client: bool) -> None:
        try:
            while data := source.recv(65536):
                if from_client and self.marker in data:
                    self.frozen.set()
                if self.frozen.is_set():
                    continue  # swallowed: the server "stopped answering"
                target.sendall(data)
        except OSError:
            pass

    def close(self) -> None:
        self._stop.set()
        for sock in (*self._open, self.sock):
            sock.close()


class FirstConnectionProxy(FreezingProxy):
    """A TCP proxy to a PostgreSQL server that forwards its first connection and closes every
    later one at once: a database that answers one client and not the next."""

    def __init__(self, connect: Callable[[], socket.socket]) -> None:
        self.accepted = 0
        super().__init__(connect)

    def admit(self, client: socket.socket) -> bool:
        self.accepted += 1
        return self.accepted == 1


# -- HTTP --------------------------------------------------------------------------------------------


@dataclass
class Reply:
    """What a route of :class:`Site` answers: a status, headers, a body (bytes, text, or JSON for
    anything else), after `delay` seconds; with `drip`, the body one byte every `drip` seconds."""

    status: int = 200
    body: Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drip: float | None = None
    hang: bool = False  # accept the request and never answer


@dataclass
class Seen:
    """A request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class Site:
    """A real HTTP (or, given an SSL context, HTTPS) server on 127.0.0.1, in threads.

    `routes` maps a path (without query) to a Reply, or to a list of Replies given in turn (the
    last one repeats); `echo` routes answer with the request they got, as a hostile or careless
    server might. Every request is recorded in `seen`; `max_in_flight` is the most answered at once.
    """

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, Reply | list[Reply]] = {}
        self.seen: list[Seen] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def handle_one_request(self) -> None:
                try:
                    super().handle_one_request()
                except (OSError, ssl.SSLError):  # a client that gave up, a failed handshake
                    self.close_connection = True

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?")[0]
                with site._lock:
                    site.seen.append(Seen(self.command, self.path, dict(self.headers), body))
                    site.in_flight += 1
                    site.max_in_flight = max(site.max_in_flight, site.in_flight)
                try:
                    self._reply(site._reply_for(path, sum(1 for s in site.seen if s.path.split("?")[0] == path)),
                                path, body)
                finally:
                    with site._lock:
                        site.in_flight -= 1

            def _reply(self, reply: Reply | None, path: str, body: bytes) -> None:
                if reply is None:
                    if path.startswith("/echo"):
                        reply = Reply(200, {"path": self.path, "headers": dict(self.headers), "body": body.decode()})
                    else:
                        reply = Reply(404, "not found")
                if reply.hang:
                    site._stop.wait(60)
                    self.close_connection = True
                    return
                if reply.delay:
                    time.sleep(reply.delay)
                data = reply.body if isinstance(reply.body, bytes) else (
                    reply.body.encode() if isinstance(reply.body, str) else json.dumps(reply.body).encode())
                self.send_response(reply.status)
                headers = {"Content-Length": str(len(data))}
                if not isinstance(reply.body, bytes | str):
                    headers["Content-Type"] = "application/json"
                headers.update(reply.headers)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if reply.drip is None:
                    self.wfile.write(data)
                    return
                for byte in data:
                    if site._stop.wait(reply.drip):
                        return
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            # the handshake happens in the handler's thread, on its first read
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True, do_handshake_on_connect=False)
        self.port = self.server.server_address[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def _reply_for(self, path: str, nth: int) -> Reply | None:
        route = self.routes.get(path)
        if isinstance(route, list):
            return route[min(nth, len(route)) - 1]
        return route

    def requests_to(self, path: str) -> int:
        return sum(1 for seen in self.seen if seen.path.split("?")[0] == path)

    def close(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()
