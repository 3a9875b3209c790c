"""`[[endpoint]]` speed: a gate of many slow endpoints against the sum of their latencies.

Run: python benchmarks/bench_endpoint.py [--endpoints 40] [--latency 0.25] [--repeat 3]
                                         [--workers 4] [--concurrency 8]

A real HTTP server on 127.0.0.1 (a thread per request) answers every path after --latency
seconds. The gate has --endpoints `[[endpoint]]` entries, one per path, each asserting a status
and a JMESPath expression. Best and median over --repeat rounds of:

  (a) `pytest --deploygate` without -n, as a subprocess (the whole run: start-up included);
  (b) the same with `-n --workers` (pytest-xdist; its workers' start-up included);
  (c) the same command on a gate of one `[[environment]]` item (pytest's and the plugin's start-up);
  (d) what a `curl` loop costs: one request after another, --endpoints x --latency seconds;

and prints (a) / (d) against the 0.25 target and (b) / (d) against 0.5. It also checks from the
server's log that every endpoint was requested exactly once per run and how many were in flight
at most.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench_rows import GATE_ENV, rounds, show

TARGET_SERIAL = 0.25
TARGET_XDIST = 0.5


class Counting:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0


def serve(latency: float) -> tuple[ThreadingHTTPServer, Counting]:
    counting = Counting()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            with counting.lock:
                counting.requests.append(self.path)
                counting.in_flight += 1
                counting.max_in_flight = max(counting.max_in_flight, counting.in_flight)
            try:
                time.sleep(latency)
                body = b'{"status": "ok", "items": [1, 2, 3]}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            finally:
                with counting.lock:
                    counting.in_flight -= 1

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.request_queue_size = 128
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, counting


def gate_run(folder: Path, *args: str) -> Callable[[], None]:
    def run() -> None:
        proc = subprocess.run([sys.executable, "-m", "pytest", "--deploygate", "-q", "-p", "no:cacheprovider", *args],
                              cwd=folder, env=GATE_ENV, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"the gate in {folder} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoints", type=int, default=40)
    parser.add_argument("--latency", type=float, default=0.25)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    server, counting = serve(args.latency)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    with tempfile.TemporaryDirectory(prefix="dg-bench-endpoint-") as tmp:
        gate = Path(tmp, "gate")
        empty = Path(tmp, "empty")
        gate.mkdir()
        empty.mkdir()
        entries = "\n".join(f'[[endpoint]]\nurl = "{url}/api/e{i}"\njson = ["length(items) > 0"]\n'
                            for i in range(args.endpoints))
        (gate / "deploygate.toml").write_text(f"[deploygate]\nhttp_concurrency = {args.concurrency}\n\n{entries}")
        (empty / "deploygate.toml").write_text('[[environment]]\nrequire = ["PATH"]\n')

        serial, xdist, startup = gate_run(gate), gate_run(gate, "-n", str(args.workers)), gate_run(empty)
        serial()  # warm-up: bytecode, page cache
        counting.requests.clear()
        counting.max_in_flight = 0
        serial()
        once = sorted(counting.requests) == sorted(f"/api/e{i}" for i in range(args.endpoints))
        in_flight_serial = counting.max_in_flight
        counting.requests.clear()
        counting.max_in_flight = 0
        xdist()
        once_xdist = sorted(counting.requests) == sorted(f"/api/e{i}" for i in range(args.endpoints))
        in_flight_xdist = counting.max_in_flight
        times = rounds({"serial": serial, "xdist": xdist, "startup": startup}, args.repeat)
    server.shutdown()

    floor = args.endpoints * args.latency
    print(f"{args.endpoints} endpoints x {args.latency * 1000:.0f} ms = {floor:.2f} s one after another (a curl loop), "
          f"http_concurrency = {args.concurrency}, {args.repeat} rounds")
    print(show("(a) pytest --deploygate", times["serial"]))
    print(show(f"(b) pytest --deploygate -n {args.workers}", times["xdist"]))
    print(show("(c) start-up (a one-item gate)", times["startup"]))
    print(f"each endpoint requested once: {once} (serial), {once_xdist} (-n {args.workers}); "
          f"most in flight: {in_flight_serial} (serial), {in_flight_xdist} (-n {args.workers})")
    ratio_serial = statistics.median(times["serial"]) / floor
    ratio_xdist = statistics.median(times["xdist"]) / floor
    print(f"serial: median {ratio_serial:.3f}x of the sum (target <= {TARGET_SERIAL}x): "
          f"{'met' if ratio_serial <= TARGET_SERIAL else 'NOT met'}")
    print(f"-n {args.workers}: median {ratio_xdist:.3f}x of the sum (target <= {TARGET_XDIST}x): "
          f"{'met' if ratio_xdist <= TARGET_XDIST else 'NOT met'}")
    return 0 if once and once_xdist else 1


if __name__ == "__main__":
    sys.exit(main())
