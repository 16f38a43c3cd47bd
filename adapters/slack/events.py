"""Events API intake: acknowledged events answered by a fixed number of workers.

The request handler only checks, parses and queues an event (Slack wants its ack within
three seconds, and an ack that waits behind answers is a retry). Each worker takes one
event at a time, dispatches it through bolt and runs the answer it starts to the end
before taking the next: at most `WORKERS` answers are in flight, a burst waits as plain
dicts in the queue, and the event loop's ready queue stays short enough for acks.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

from adapters.slack.translation import is_human_message
from bot.background import BackgroundWork

logger = logging.getLogger(__name__)

#: Answers in flight at once over HTTP. Measured with `bench/slack.py` (zero-latency
#: provider): fewer workers shorten the loop's ready queue (ack latency); with real
#: providers an answer mostly waits, so the bound must stay well above a handful.
WORKERS = 32
_MESSAGE_EVENTS = frozenset({"message", "app_mention"})

Work = Coroutine[Any, Any, None]
# Set while a worker dispatches an event: answers it starts are collected here and run
# by the worker itself instead of as tasks of their own.
_COLLECTED: contextvars.ContextVar[list[Work] | None] = contextvars.ContextVar(
    "slack_collected_work", default=None
)


def answered_here(work: Work) -> bool:
    """Take `work` into the current worker when called inside one; False otherwise."""
    collected = _COLLECTED.get()
    if collected is None:
        return False
    collected.append(work)
    return True


def never_answered(body: Mapping[str, Any]) -> bool:
    """True for an event the bot ignores whatever its workspace: bots' messages, edits,
    deletions and other non-human message subtypes (checked again after bolt)."""
    event = body.get("event")
    if not isinstance(event, Mapping) or event.get("type") not in _MESSAGE_EVENTS:
        return False
    # The bot's own user id is not known here; that check runs in the listener.
    return not is_human_message(event, bot_user_id=None)


class EventWorkers:
    """The queue of acknowledged events and the workers that answer them."""

    def __init__(
        self,
        dispatch: Callable[[dict[str, Any]], Awaitable[None]],
        background: BackgroundWork,
        *,
        workers: int = WORKERS,
    ) -> None:
        self._dispatch = dispatch
        self._background = background
        self._workers = workers
        self._queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._started = False
        self._closed = False

    def put(self, body: dict[str, Any]) -> None:
        """Queue one acknowledged event (dropped once the adapter is stopping)."""
        if self._closed:
            return
        if not self._started:
            self._started = True
            for _ in range(self._workers):
                self._background.spawn(self._work(), kind="event worker", bounded=False)
        self._queue.put_nowait(body)

    def close(self) -> None:
        """No new events; each worker ends once the events queued before are answered."""
        self._closed = True
        if self._started:
            for _ in range(self._workers):
                self._queue.put_nowait(None)

    @property
    def waiting(self) -> int:
        """Events acknowledged and not yet taken by a worker."""
        return self._queue.qsize()

    async def _work(self) -> None:
        while (body := await self._queue.get()) is not None:
            await self._answer(body)

    async def _answer(self, body: dict[str, Any]) -> None:
        collected: list[Work] = []
        token = _COLLECTED.set(collected)
        try:
            await self._dispatch(body)
        except Exception as exc:  # a failure is logged by class: its text may quote content
            logger.error("slack event dispatch failed: %s", type(exc).__name__)
        finally:
            _COLLECTED.reset(token)
        try:
            for work in collected:
                try:
                    await work
                except Exception as exc:
                    logger.error("slack message handling failed: %s", type(exc).__name__)
        finally:
            for work in collected:
                work.close()  # cancelled before it started: it must not warn
