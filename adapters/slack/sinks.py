"""The core's reply sinks for Slack: private command replies and threaded message replies.

Every text is defused (`slack_safe`) on its way out: command replies echo user input and
model ids, hints and notices name agents, and none of it may mass-mention.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from adapters.mentions import slack_safe
from adapters.slack.blocks import refusal_blocks
from adapters.slack.secret_form import FormContext, build_view
from adapters.slack.streaming import SLACK_ERRORS, ThreadStream, error_reason
from adapters.slack.text import MAX_CHARS_IN_MESSAGES, split_text
from bot.boundary import NonStreamingSink, SecretForm

logger = logging.getLogger(__name__)

RESPONSE_URL_TIMEOUT = aiohttp.ClientTimeout(total=10)


async def send_private(
    client: AsyncWebClient,
    *,
    channel_id: str,
    user_id: str,
    text: str,
    thread_ts: str | None = None,
    blocks: list[dict[str, Any]] | None = None,
) -> None:
    """An ephemeral message; if the bot cannot post in the channel, a DM instead."""
    text = slack_safe(text)
    try:
        await client.chat_postEphemeral(
            channel=channel_id, user=user_id, text=text, thread_ts=thread_ts, blocks=blocks
        )
        return
    except SLACK_ERRORS as exc:
        logger.info(
            "ephemeral reply failed in %s (%s); sending a DM", channel_id, error_reason(exc)
        )
    try:
        opened = await client.conversations_open(users=user_id)
        await client.chat_postMessage(
            channel=str(opened["channel"]["id"]), text=text, blocks=blocks
        )
    except SLACK_ERRORS as exc:
        logger.warning("could not reach a user privately (%s)", error_reason(exc))


async def upload_private(
    client: AsyncWebClient, *, user_id: str, filename: str, content: bytes, title: str
) -> None:
    """Upload a file into the user's DM with the bot (files are never ephemeral in Slack)."""
    try:
        opened = await client.conversations_open(users=user_id)
        await client.files_upload_v2(
            channel=str(opened["channel"]["id"]),
            content=content,
            filename=filename,
            title=title or filename,
        )
    except SLACK_ERRORS as exc:
        logger.warning("could not upload a private file (%s)", error_reason(exc))


class _ToSender:
    """What both sinks send the sender alone: ephemerals (or a DM), DM files, refusals."""

    _client: AsyncWebClient
    _channel_id: str
    _user_id: str
    _thread_ts: str | None = None  # a message's thread; a command has none

    async def _send_private(self, text: str, *, blocks: list[dict[str, Any]] | None = None) -> None:
        await send_private(
            self._client,
            channel_id=self._channel_id,
            user_id=self._user_id,
            text=text,
            thread_ts=self._thread_ts,
            blocks=blocks,
        )

    async def _upload_private(self, *, filename: str, content: bytes, title: str) -> None:
        await upload_private(
            self._client, user_id=self._user_id, filename=filename, content=content, title=title
        )

    async def send_refusal(self, text: str, *, request_id: str) -> None:
        """A budget refusal only the sender sees, with its **Ask an admin** button."""
        await self._send_private(text, blocks=refusal_blocks(text, request_id))


class CommandSink(_ToSender, NonStreamingSink):
    """Answers a `/byok` command: always ephemeral, whatever the core asks."""

    def __init__(
        self,
        client: AsyncWebClient,
        session: aiohttp.ClientSession | None,
        *,
        channel_id: str,
        user_id: str,
        response_url: str | None,
        trigger_id: str | None,
    ) -> None:
        self._client = client
        self._session = session
        self._channel_id = channel_id
        self._user_id = user_id
        self._response_url = response_url
        self._trigger_id = trigger_id

    async def send(self, text: str, *, private: bool = True) -> None:
        """Reply privately (a key command is never answered in the channel)."""
        for piece in split_text(slack_safe(text)):
            if not await self._respond(piece):
                await self._send_private(piece)

    async def _respond(self, text: str) -> bool:
        if not self._response_url or self._session is None:
            return False
        body = {"response_type": "ephemeral", "replace_original": False, "text": text}
        try:
            async with self._session.post(
                self._response_url, json=body, timeout=RESPONSE_URL_TIMEOUT
            ) as response:
                if response.status < 300:
                    return True
                logger.info("response_url answered HTTP %d", response.status)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            logger.info("response_url failed (%s)", error_reason(exc))
        return False

    async def send_file(
        self, *, filename: str, content: bytes, title: str = "", private: bool = True
    ) -> None:
        """Files answering a command go to the user's DM with the bot."""
        await self._upload_private(filename=filename, content=content, title=title)

    async def open_secret_form(self, form: SecretForm) -> None:
        """Open the modal with the command's trigger id (valid for three seconds)."""
        if not self._trigger_id:
            await self.send("Run `/byok key add` again to open the form.", private=True)
            return
        view = build_view(
            form, FormContext(channel_id=self._channel_id, response_url=self._response_url)
        )
        try:
            await self._client.views_open(trigger_id=self._trigger_id, view=view)
        except SLACK_ERRORS as exc:
            logger.info("views.open failed (%s)", error_reason(exc))
            await self.send(
                "The key form could not be opened; run the command again.", private=True
            )


class MessageSink(_ToSender):
    """Answers a chat message in its thread (streamed), with private hints as ephemerals."""

    _thread_ts: str

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        team_id: str,
        channel_id: str,
        thread_ts: str,
        user_id: str,
    ) -> None:
        self._client = client
        self._team_id = team_id
        self._channel_id = channel_id
        self._thread_ts = thread_ts
        self._user_id = user_id
        self.last_stream: ThreadStream | None = None

    async def send(self, text: str, *, private: bool = False) -> None:
        """A whole reply in the thread, or an ephemeral one only the sender sees."""
        if private:
            await self._send_private(text)
            return
        if len(text) > MAX_CHARS_IN_MESSAGES:
            await self.send_file(filename="answer.md", content=text.encode(), title="Answer")
            return
        for piece in split_text(slack_safe(text)):
            try:
                await self._client.chat_postMessage(
                    channel=self._channel_id, thread_ts=self._thread_ts, text=piece
                )
            except SLACK_ERRORS as exc:
                logger.warning(
                    "could not reply in channel %s (%s)", self._channel_id, error_reason(exc)
                )
                return

    async def stream(self, chunks: AsyncIterator[str]) -> str:
        """Stream the answer into the thread; returns the full text."""
        self.last_stream = ThreadStream(
            self._client,
            channel=self._channel_id,
            thread_ts=self._thread_ts,
            team_id=self._team_id,
            user_id=self._user_id,
        )
        return await self.last_stream.run(chunks)

    async def send_file(
        self, *, filename: str, content: bytes, title: str = "", private: bool = False
    ) -> None:
        """A file in the thread, or in the sender's DM when private."""
        if private:
            await self._upload_private(filename=filename, content=content, title=title)
            return
        try:
            await self._client.files_upload_v2(
                channel=self._channel_id,
                thread_ts=self._thread_ts,
                content=content,
                filename=filename,
                title=title or filename,
            )
        except SLACK_ERRORS as exc:
            logger.warning(
                "could not upload a file to %s (%s)", self._channel_id, error_reason(exc)
            )

    async def open_secret_form(self, form: SecretForm) -> None:
        """A message cannot open a modal: point the user at the slash command."""
        await self.send(
            f"Use `/byok key {form.action} …` to enter the key in a private form.", private=True
        )
