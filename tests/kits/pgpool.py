"""Fresh PostgreSQL test databases made ahead and dropped behind, off the tests' clock.

`CREATE DATABASE … TEMPLATE` takes a fraction of a second and `DROP DATABASE` more (on
PostgreSQL 15 it waits for an immediate checkpoint); a test needs to wait for neither. A
maker thread keeps one migrated database ready, so a test takes it at once; a dropper
thread drops used ones while the next test runs. Every test still gets its own database,
which nobody else ever uses.
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

_STOP = ""


class DatabasePool:
    """Hands out databases from `create()`; `release` drops them in the background."""

    def __init__(self, *, create: Callable[[], str], drop: Callable[[str], None]) -> None:
        self._create = create
        self._drop = drop
        self._ready: queue.Queue[str | BaseException] = queue.Queue(maxsize=1)
        self._used: queue.Queue[str] = queue.Queue()
        self._closing = threading.Event()
        self._maker = threading.Thread(target=self._make, name="pg-maker", daemon=True)
        self._dropper = threading.Thread(target=self._drop_used, name="pg-dropper", daemon=True)
        self._maker.start()
        self._dropper.start()

    def take(self, *, timeout: float = 120.0) -> str:
        """A database nobody has used; the maker's error if it could not make one."""
        made = self._ready.get(timeout=timeout)
        if isinstance(made, BaseException):
            self._ready.put(made)  # the next test fails the same way, not by timing out
            raise made
        return made

    def release(self, name: str) -> None:
        """Drop `name` in the background (its test is over)."""
        self._used.put(name)

    def close(self) -> None:
        """Stop making, drop what is left, and wait for every drop to finish."""
        self._closing.set()
        while self._maker.is_alive():
            self._discard_ready()
            self._maker.join(timeout=0.1)
        self._discard_ready()
        self._used.put(_STOP)
        self._dropper.join()

    def _discard_ready(self) -> None:
        try:
            made = self._ready.get_nowait()
        except queue.Empty:
            return
        if isinstance(made, str):
            self._used.put(made)

    def _make(self) -> None:
        while not self._closing.is_set():
            try:
                made: str | BaseException = self._create()
            except Exception as exc:  # handed to the test that takes it
                made = exc
            while True:
                try:
                    self._ready.put(made, timeout=0.1)
                    break
                except queue.Full:
                    if self._closing.is_set():
                        if isinstance(made, str):
                            self._used.put(made)
                        return
            if isinstance(made, BaseException):
                return

    def _drop_used(self) -> None:
        # Each DROP DATABASE waits for a checkpoint (PostgreSQL 15); drops started together
        # share one, so the dropper takes whatever has piled up and drops it at once.
        with ThreadPoolExecutor(max_workers=8, thread_name_prefix="pg-drop") as drops:
            stopping = False
            while not stopping:
                names = [self._used.get()]
                while True:
                    try:
                        names.append(self._used.get_nowait())
                    except queue.Empty:
                        break
                stopping = _STOP in names
                for done in [drops.submit(self._drop_one, n) for n in names if n != _STOP]:
                    done.result()

    def _drop_one(self, name: str) -> None:
        try:
            self._drop(name)
        except Exception as exc:  # a leftover test database is no test's failure
            # Not logged: a test capturing every logger must not see another's clean-up.
            print(f"could not drop test database {name}: {exc}", file=sys.stderr)
