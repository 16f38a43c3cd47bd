"""One streamed answer on Discord: a reply to the message, edited as text arrives.

Discord rate-limits message edits, so the reply is edited at most once a second (and
once more at the end with everything). A part that grows past Discord's 2,000-character
limit is finished and the rest continues in a further reply. Every chunk is defused
(`adapters.mentions`) and every send carries `AllowedMentions.none()`: no pings at all.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import aiohttp
import discord

from adapters.discord.translation import MESSAGE_LIMIT, cut_point
from adapters.mentions import DefusedStream, StreamDefuser, discord_stream

logger = logging.getLogger(__name__)

EDIT_INTERVAL = 1.0  # seconds between edits of one message
DISCORD_ERRORS = (discord.DiscordException, aiohttp.ClientError, OSError, TimeoutError)
NO_PINGS = discord.AllowedMentions.none()  # model output must never ping @everyone or users


def error_reason(exc: BaseException) -> str:
    """A log-safe reason: Discord's HTTP status and error code, or the exception class."""
    if isinstance(exc, discord.HTTPException):
        return f"HTTP {exc.status}, code {exc.code}"
    return type(exc).__name__


class ReplyStream(DefusedStream):
    """Writes one answer as replies to `target`; `run()` returns the whole text."""

    def __init__(
        self,
        target: discord.Message,
        *,
        interval: float = EDIT_INTERVAL,
        limit: int = MESSAGE_LIMIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._target = target
        self._interval = interval
        self._limit = limit
        self._clock = clock
        self._current: discord.Message | None = None  # the part being written
        self._part = ""
        self._shown = ""
        self._last_edit = 0.0
        self._broken = False
        self.full: list[str] = []
        self.messages = 0

    def _defuser(self) -> StreamDefuser:
        return discord_stream()

    async def _finish(self) -> None:
        await self._flush(force=True)

    async def _feed(self, chunk: str) -> None:
        if self._broken:
            return
        self._part += chunk
        while len(self._part) > self._limit:
            at = cut_point(self._part, self._limit)
            head, tail = self._part[:at], self._part[at:]
            self._part = head
            await self._flush(force=True)
            if self._broken:
                return
            self._current = None
            self._shown = ""
            self._part = tail
        await self._flush(force=False)

    async def _flush(self, *, force: bool) -> None:
        if self._broken or not self._part.strip() or self._part == self._shown:
            return
        now = self._clock()
        try:
            if self._current is None:
                self._current = await self._target.reply(
                    self._part, mention_author=False, allowed_mentions=NO_PINGS
                )
                self.messages += 1
            elif force or now - self._last_edit >= self._interval:
                await self._current.edit(content=self._part, allowed_mentions=NO_PINGS)
            else:
                return
        except DISCORD_ERRORS as exc:
            logger.warning(
                "could not reply in channel %s (%s)", self._target.channel.id, error_reason(exc)
            )
            self._broken = True
            return
        self._shown = self._part
        self._last_edit = now
