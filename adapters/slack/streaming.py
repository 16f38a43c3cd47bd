"""One streamed answer in a Slack thread.

An answer complete within `START_AFTER` seconds of the start is posted whole with one
`chat.postMessage` (the same markdown): most short answers cost one call, not three.
Otherwise Slack's chat streaming API (`chat.startStream` / `appendStream` / `stopStream`)
is used, from the moment the window passes or enough text is waiting. Where it is
refused (workspace, channel type, token) or the stream expires, the rest goes into one
ordinary message edited with `chat.update` at most once a second. A part that grows past
Slack's size limit is closed and continued in a new message; an answer past the total
limit ends as a file in the thread. Every chunk is defused (`adapters.mentions`) before
it is counted or sent, so no part can mass-mention.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.mentions import DefusedStream, StreamDefuser, slack_stream
from adapters.slack import webapi
from adapters.slack.text import (
    MAX_CHARS_IN_MESSAGES,
    MESSAGE_LIMIT,
    STREAM_PART_LIMIT,
    cut_point,
    escape,
)

logger = logging.getLogger(__name__)

START_AFTER = 0.3  # seconds: an answer done by then is posted whole, not streamed
APPEND_INTERVAL = 0.5  # seconds between appendStream calls
APPEND_BUFFER = 1_000  # ...or sooner once this much text is waiting
UPDATE_INTERVAL = 1.0  # Slack allows about one chat.update per second per message
SLACK_ERRORS = (SlackApiError, SlackClientError, OSError, TimeoutError)


class ThreadStream(DefusedStream):
    """Writes one answer into a thread as it is generated; `run()` returns the whole text."""

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        channel: str,
        thread_ts: str,
        team_id: str,
        user_id: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._channel = channel
        self._thread_ts = thread_ts
        self._team_id = team_id
        self._user_id = user_id
        self._clock = clock
        self._streaming = True  # False once streaming was refused or expired
        self._broken = False  # True once Slack refused every way to post
        self._ts: str | None = None  # the current part's message
        self._part = ""  # text of the current part (stream mode: including pending)
        self._pending = ""  # stream mode: text not yet appended
        self._shown = ""  # update mode: text the message shows now
        self._last_flush = 0.0
        self._window = True  # until START_AFTER has passed the answer may come whole
        self._closed = False  # `_finish` has run: the window's opener does nothing
        # The window's timer opens the stream from its own task: the lock keeps it from
        # posting while a chunk is being fed, and the other way round.
        self._lock = asyncio.Lock()
        self._opener: asyncio.Task[None] | None = None
        self._posted_chars = 0  # characters in closed parts
        self._overflow = False  # past the total limit: the answer ends as a file
        self.full: list[str] = []
        self.used_fallback = False

    def _defuser(self) -> StreamDefuser:
        return slack_stream()

    async def run(self, chunks: AsyncIterator[str]) -> str:
        """Consume `chunks` to the end, writing them to the thread; return the full text."""
        timer = asyncio.get_running_loop().call_later(START_AFTER, self._window_passed)
        try:
            return await super().run(chunks)
        finally:
            timer.cancel()
            if self._opener is not None:
                self._opener.cancel()  # `_finish` ran: it can only be waiting to do nothing

    def _window_passed(self) -> None:
        """The answer is slow: show what it has so far without waiting for the next chunk."""
        self._window = False
        if self._streaming and self._ts is None and self._pending and not self._closed:
            self._opener = asyncio.create_task(self._open_stream())

    async def _open_stream(self) -> None:
        async with self._lock:
            if self._streaming and self._ts is None and not self._closed:
                await self._stream_pending(force=False)

    # -- feeding -----------------------------------------------------------------------
    async def _feed(self, chunk: str) -> None:
        async with self._lock:
            await self._feed_part(chunk)

    async def _feed_part(self, chunk: str) -> None:
        if self._overflow or self._broken:
            return
        self._part += chunk
        self._pending += chunk
        while not self._overflow:
            limit = STREAM_PART_LIMIT if self._streaming else MESSAGE_LIMIT
            limit = max(1, min(limit, MAX_CHARS_IN_MESSAGES - self._posted_chars))
            if len(self._part) <= limit:
                break
            at = cut_point(self._part, limit)
            if self._streaming:
                # Text already appended to the stream cannot move to the next part.
                at = max(at, len(self._part) - len(self._pending))
                self._pending = self._pending[: len(self._pending) - (len(self._part) - at)]
            head, tail = self._part[:at], self._part[at:]
            self._part = head
            await self._close_part()
            if self._posted_chars + len(tail) > MAX_CHARS_IN_MESSAGES:
                self._overflow = True
                return
            self._part = tail
            self._pending = tail
        if self._streaming:
            await self._stream_pending(force=False)
        else:
            await self._update(force=False)

    async def _stream_pending(self, *, force: bool) -> None:
        if not self._pending:
            return
        now = self._clock()
        if self._ts is None:
            if self._window and len(self._pending) < APPEND_BUFFER:
                return  # it may all come within the window: then one chat.postMessage
            try:
                response = await webapi.call(
                    self._client,
                    "chat.startStream",
                    channel=self._channel,
                    thread_ts=self._thread_ts,
                    markdown_text=self._pending,
                    recipient_team_id=self._team_id,
                    recipient_user_id=self._user_id,
                )
                self._ts = str(response["ts"])
                self._pending = ""
                self._last_flush = now
            except SLACK_ERRORS as exc:
                logger.info("chat streaming refused (%s); using chat.update", error_reason(exc))
                await self._fall_back(shown_in_stream="")
            return
        due = now - self._last_flush >= APPEND_INTERVAL or len(self._pending) >= APPEND_BUFFER
        if not (force or due):
            return
        try:
            await webapi.call(
                self._client,
                "chat.appendStream",
                channel=self._channel,
                ts=self._ts,
                markdown_text=self._pending,
            )
            self._pending = ""
            self._last_flush = now
        except SLACK_ERRORS as exc:
            logger.info("chat stream ended early (%s); using chat.update", error_reason(exc))
            shown = self._part[: len(self._part) - len(self._pending)]
            await self._fall_back(shown_in_stream=shown)

    async def _fall_back(self, *, shown_in_stream: str) -> None:
        """Switch to post-and-update; what the dead stream shows counts as a closed part."""
        self.used_fallback = True
        self._streaming = False
        self._posted_chars += len(shown_in_stream)
        self._part = self._pending
        self._ts = None
        self._shown = ""
        await self._update(force=True)

    async def _update(self, *, force: bool) -> None:
        if not self._part or self._part == self._shown:
            return
        now = self._clock()
        try:
            if self._ts is None:
                response = await webapi.call(
                    self._client,
                    "chat.postMessage",
                    channel=self._channel,
                    thread_ts=self._thread_ts,
                    text=escape(self._part),
                )
                self._ts = str(response["ts"])
            elif force or now - self._last_flush >= UPDATE_INTERVAL:
                await webapi.call(
                    self._client,
                    "chat.update",
                    channel=self._channel,
                    ts=self._ts,
                    text=escape(self._part),
                )
            else:
                return
        except SLACK_ERRORS as exc:
            logger.warning(
                "could not post a reply in channel %s (%s)", self._channel, error_reason(exc)
            )
            self._broken = True
            return
        self._shown = self._part
        self._pending = ""
        self._last_flush = now

    # -- closing -----------------------------------------------------------------------
    async def _close_part(self) -> None:
        """Finish the current message with all of its text."""
        if self._streaming:
            if self._ts is None:
                await self._post_whole()  # complete before its stream started
            else:
                await self._stop_stream()
        if not self._streaming:
            await self._update(force=True)
        self._posted_chars += len(self._part)
        self._ts = None
        self._part = self._pending = self._shown = ""

    async def _post_whole(self) -> None:
        """The part as one message in the thread, with the markdown a stream would show."""
        if not self._part:
            return
        try:
            await webapi.call(
                self._client,
                "chat.postMessage",
                channel=self._channel,
                thread_ts=self._thread_ts,
                markdown_text=self._part,
            )
        except SLACK_ERRORS as exc:
            logger.info("markdown post refused (%s); posting plain text", error_reason(exc))
            await self._fall_back(shown_in_stream="")
            return
        self._pending = ""

    async def _stop_stream(self) -> None:
        assert self._ts is not None
        try:
            await webapi.call(
                self._client,
                "chat.stopStream",
                channel=self._channel,
                ts=self._ts,
                markdown_text=self._pending or None,
            )
            self._pending = ""
        except SLACK_ERRORS as exc:
            logger.info("chat.stopStream failed (%s)", error_reason(exc))
            if self._pending:
                await self._fall_back(shown_in_stream=self._part[: -len(self._pending)])

    async def _finish(self) -> None:
        async with self._lock:
            self._closed = True
            await self._finish_parts()

    async def _finish_parts(self) -> None:
        if self._broken:
            return
        if self._part:
            await self._close_part()
        if self._overflow:
            await self._send_file()

    async def _send_file(self) -> None:
        try:
            await self._client.files_upload_v2(
                channel=self._channel,
                thread_ts=self._thread_ts,
                content="".join(self.full).encode("utf-8"),
                filename="answer.md",
                title="Full answer",
                initial_comment="The answer is too long for Slack messages; here it is in full.",
            )
        except SLACK_ERRORS as exc:
            logger.warning("could not upload a long answer (%s)", error_reason(exc))


def error_reason(exc: BaseException) -> str:
    """A log-safe reason: Slack's error code, or the exception class."""
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error", "error"))
    return type(exc).__name__
