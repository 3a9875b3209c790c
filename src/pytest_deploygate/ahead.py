"""Work that waits on the outside world, started before the item that needs it.

A gate with forty endpoints must not take the sum of their latencies. The plugin starts the
fetches of the next items of a kind that fetches (see `CheckKind.fetch`) while the current one
runs, at most `limit` at a time; each item then takes its own result. Each fetch runs in a daemon
thread and each wait is bounded: a server that never finishes answering costs its item its time
budget and nothing more, and cannot keep the process from exiting.

Plain Python (no pytest), below the kind API.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from .errors import CheckError
from .wording import format_duration


class FetchTimeout(CheckError):
    """A fetch not finished when its bound ran out."""

    def __init__(self, bound: float) -> None:
        super().__init__(f"no complete answer within {format_duration(bound)}")
        self.bound = bound


class _Job:
    """One fetch: its work, its time bound, and whether it still holds a slot."""

    def __init__(self, work: Callable[[], Any], bound: float) -> None:
        self.work = work
        self.bound = bound
        self.future: Future[Any] = Future()
        self.began = threading.Event()
        self.began_at = 0.0
        self._holds_slot = False
        self._lock = threading.Lock()

    def hold(self, slots: threading.Semaphore) -> None:
        # a fetch waits for a slot at most its own bound: if the ones ahead of it hang (and no
        # item has given up on them yet), it runs anyway rather than wait behind them forever
        got = slots.acquire(timeout=self.bound)
        with self._lock:
            self._holds_slot = got
        self.began_at = time.monotonic()
        self.began.set()

    def release(self, slots: threading.Semaphore) -> None:
        """Give the slot back, once: when the work ends or when its item stops waiting for it."""
        with self._lock:
            held, self._holds_slot = self._holds_slot, False
        if held:
            slots.release()


class Ahead:
    """Fetches started ahead of their items, at most `limit` running at a time.

    Args:
        limit: how many fetches may run at once (`[deploygate] http_concurrency`).
    """

    def __init__(self, limit: int = 1) -> None:
        self.limit = max(1, limit)
        self._slots = threading.Semaphore(self.limit)
        self._lock = threading.Lock()
        self._jobs: dict[Hashable, _Job] = {}

    def start(self, key: Hashable, work: Callable[[], Any], bound: float) -> None:
        """Start `work` for `key` (no-op when already started and not yet taken).

        Args:
            key: what names it (an item), for :meth:`take`.
            work: the fetch; it should bound its own time (an HTTP timeout).
            bound: seconds after it begins when its item stops waiting for it.
        """
        with self._lock:
            if key in self._jobs:
                return
            job = self._jobs[key] = _Job(work, bound)
        threading.Thread(target=self._run, args=(job,), daemon=True, name=f"deploygate-fetch-{key}").start()

    def _run(self, job: _Job) -> None:
        job.hold(self._slots)
        try:
            result = job.work()
        except BaseException as exc:  # handed to the item, which raises it where it runs
            job.future.set_exception(exc)
        else:
            job.future.set_result(result)
        finally:
            job.release(self._slots)

    def take(self, key: Hashable) -> Any:
        """The result of the fetch started for `key` (see :meth:`start`).

        Raises what the work raised, or FetchTimeout (a CheckError) when it has not finished
        its bound after it began (its thread is left to end on its own; its slot is given back).
        """
        with self._lock:
            job = self._jobs.pop(key)
        job.began.wait(job.bound + 1.0)  # hold() takes at most `bound` to begin it
        left = (job.began_at or time.monotonic()) + job.bound - time.monotonic()
        try:
            return job.future.result(timeout=max(0.0, left))
        except FutureTimeout:
            job.release(self._slots)
            raise FetchTimeout(job.bound) from None

    def pending(self) -> int:
        """How many fetches were started and not taken (for tests)."""
        with self._lock:
            return len(self._jobs)
