"""Small real servers for tests: a TCP server that never answers, counting who connects."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


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
