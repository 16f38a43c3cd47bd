"""The database threads: work handed over from the event loop, results handed back in batches.

`loop.run_in_executor` costs, per unit of work, a work item, a `concurrent.futures`
future chained to an asyncio one, and one wake-up of the loop (a write to its self-pipe)
per finished unit. Here a unit is an entry in a C queue (`put` wakes a waiting thread
without a Python-level condition variable), and the results that finish while the loop
is busy reach it with one wake-up together.
Threads start on first use and end when `close` is called (daemon threads: they never hold up exit).
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_Job = tuple[Callable[[], Any], asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


class DbThreads:
    """A fixed number of threads running units of work for coroutines."""

    def __init__(self, count: int, *, name: str) -> None:
        self._count = count
        self._name = name
        # A C queue: `put` wakes a waiting thread without `threading.Condition`'s Python
        # code (its notify was ~3% of the CPU of an answer in bench/slack.py).
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0  # threads waiting for a job
        self._threads: list[threading.Thread] = []
        self._closed = False
        # Finished units per loop, delivered by one callback on that loop.
        self._done: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]]
        self._done = {}
        self._done_lock = threading.Lock()

    def submit(self, work: Callable[[], T]) -> asyncio.Future[T]:
        """A future of `work()`'s result, run on one of the threads."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the database threads are closed")
            self._jobs.put((work, loop, future))
            if not self._idle and len(self._threads) < self._count:
                self._start()
        return future

    def _start(self) -> None:
        thread = threading.Thread(
            target=_serve,
            args=(self._jobs, self),
            name=f"{self._name}_{len(self._threads)}",
            daemon=True,
        )
        self._threads.append(thread)
        thread.start()

    def _finished(self, loop: asyncio.AbstractEventLoop, item: tuple[Any, bool, Any]) -> None:
        with self._done_lock:
            pending = self._done.get(loop)
            if pending is not None:  # a delivery is already on its way
                pending.append(item)
                return
            self._done[loop] = [item]
        try:
            loop.call_soon_threadsafe(self._deliver, loop)
        except RuntimeError:  # the loop is closed: nobody waits for these any more
            with self._done_lock:
                self._done.pop(loop, None)

    def _deliver(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._done_lock:
            items = self._done.pop(loop, [])
        for future, ok, value in items:
            if future.cancelled():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    def close(self) -> None:
        """Let the threads end once the queued work is done."""
        with self._lock:
            self._closed = True
            for _ in self._threads:
                self._jobs.put(None)


def _serve(jobs: queue.SimpleQueue[_Job | None], owner: DbThreads) -> None:
    while True:
        with owner._lock:
            owner._idle += 1
        job = jobs.get()
        with owner._lock:
            owner._idle -= 1
        if job is None:
            return
        work, loop, future = job
        if future.cancelled():  # given up before it started: like a cancelled executor job
            continue
        try:
            item = (future, True, work())
        except BaseException as exc:
            item = (future, False, exc)
        owner._finished(loop, item)
        del job, work, item
