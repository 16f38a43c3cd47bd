"""Unprompted posts (digests, budget alerts, key failures) with the workspace's bot token."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from adapters.mentions import slack_safe
from adapters.poster import Poster
from adapters.slack.blocks import decision_blocks
from adapters.slack.clients import make_client
from adapters.slack.installations import SqlInstallationStore
from adapters.slack.streaming import SLACK_ERRORS, error_reason
from adapters.slack.text import split_text
from adapters.slack.translation import PLATFORM, workspace_id
from bot.config import Settings
from bot.errors import ByokError

logger = logging.getLogger(__name__)


class TokenSource(Protocol):
    """Finds the bot token for a workspace."""

    async def bot_token(self, workspace: str) -> str | None:
        """The token for `slack:<team>`, or None when the bot is not in that workspace."""
        ...


class SingleTokens:
    """Single-workspace mode: one token, valid for the team `auth.test` reports."""

    def __init__(self, settings: Settings, token: str) -> None:
        self._settings = settings
        self._token = token
        self._workspace: str | None = None

    async def bot_token(self, workspace: str) -> str | None:
        """The configured token, if `workspace` is its team."""
        if not self._token:
            return None
        if self._workspace is None:
            try:
                found = await make_client(self._settings, token=self._token).auth_test()
                self._workspace = workspace_id(str(found["team_id"]))
            except SLACK_ERRORS as exc:
                logger.warning("auth.test failed (%s)", error_reason(exc))
                return None
        return self._token if workspace == self._workspace else None


class InstalledTokens:
    """Multi-workspace mode: tokens from the installation store."""

    def __init__(self, store: SqlInstallationStore) -> None:
        self._store = store

    async def bot_token(self, workspace: str) -> str | None:
        """The installation's bot token, if the app is installed in `workspace`."""
        prefix = PLATFORM + ":"
        if not workspace.startswith(prefix):
            return None
        bot = await self._store.async_find_bot(enterprise_id=None, team_id=workspace[len(prefix) :])
        return bot.bot_token if bot is not None else None


_Channel = tuple[AsyncWebClient, str]  # a post's client (the workspace's token) and channel


class SlackPoster(Poster[_Channel]):
    """`ChannelPoster` for Slack: text split to Slack's limits, files via files.uploadV2.

    The text is defused first: a digest or alert names agents and model ids. A `@<user>`
    channel is the member's DM with the app (Slack takes a user id there).
    """

    platform = "Slack"
    errors = SLACK_ERRORS

    def __init__(
        self,
        settings: Settings,
        tokens: TokenSource,
        *,
        session: Callable[[], aiohttp.ClientSession | None],
    ) -> None:
        self._settings = settings
        self._tokens = tokens
        self._session = session

    def _channel(self, channel_id: str) -> str:
        return channel_id.removeprefix("@")

    async def _open(self, workspace_id: str, channel_id: str) -> _Channel:
        token = await self._tokens.bot_token(workspace_id)
        if token is None:
            raise ByokError(f"byokbot is not installed in Slack workspace {workspace_id}")
        return make_client(self._settings, token=token, session=self._session()), channel_id

    def _pieces(self, text: str) -> list[str]:
        return [piece for piece in split_text(slack_safe(text)) if piece]

    async def _send_text(self, target: _Channel, piece: str) -> None:
        client, channel = target
        await client.chat_postMessage(channel=channel, text=piece)

    async def _send_request(self, target: _Channel, text: str, request_id: str) -> None:
        client, channel = target
        await client.chat_postMessage(
            channel=channel, text=slack_safe(text), blocks=decision_blocks(text, request_id)
        )

    async def _send_file(self, target: _Channel, name: str, content: bytes) -> None:
        client, channel = target
        await client.files_upload_v2(channel=channel, content=content, filename=name, title=name)

    _reason = staticmethod(error_reason)
