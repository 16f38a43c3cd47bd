"""Work an adapter answers in the background: tracked, bounded, drained on stop.

Adapters acknowledge a platform event at once and answer it in a task. `BackgroundWork`
keeps those tasks: answers wait their turn (at most `MAX_CONCURRENT_ANSWERS` run
together, so a burst cannot open hundreds of provider streams and database
connections), a failure is logged by its class only (its message may quote payload
content), and `drain` lets running work finish briefly on stop before cancelling the rest.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

logger = logging.getLogger(__name__)

MAX_CONCURRENT_ANSWERS = 32
# How long a stop (SIGTERM) lets answers in flight finish before cancelling them; a
# cancelled answer still settles its reservation and writes its usage row. Under the
# 30 s `stop_grace_period` docker-compose.yml gives, so the bot exits before a SIGKILL.
STOP_GRACE_SECONDS = 20.0


class BackgroundWork:
    """The background tasks of one adapter (`platform` names it in log lines)."""

    def __init__(self, platform: str, *, concurrency: int = MAX_CONCURRENT_ANSWERS) -> None:
        self._platform = platform
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(concurrency)

    def spawn(self, work: Coroutine[Any, Any, None], *, kind: str, bounded: bool = True) -> None:
        """Run `work` as a tracked task; `bounded` work waits for a free answer slot."""
        task = asyncio.get_running_loop().create_task(self._bounded(work) if bounded else work)
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._finished(done, kind))

    async def _bounded(self, work: Coroutine[Any, Any, None]) -> None:
        try:
            async with self._slots:
                await work
        finally:
            work.close()  # cancelled while waiting: never started, and must not warn

    def _finished(self, task: asyncio.Task[None], kind: str) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            logger.error("%s %s handling failed: %s", self._platform, kind, type(error).__name__)

    async def drain(self, *, grace: float = STOP_GRACE_SECONDS) -> None:
        """Let running work finish for up to `grace` seconds, then cancel what is left."""
        if not self._tasks:
            return
        logger.info(
            "%s: finishing %d task(s) in flight (up to %.0fs)",
            self._platform,
            len(self._tasks),
            grace,
        )
        _done, pending = await asyncio.wait(set(self._tasks), timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            logger.warning("%s: cancelled %d task(s) still running", self._platform, len(pending))
            # Cancelled turns settle their reservations before they end (bot/turns/runner.py).
            await asyncio.gather(*pending, return_exceptions=True)
