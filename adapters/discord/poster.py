"""Unprompted posts (digests, budget alerts, key failures) to a Discord channel over REST."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable

import discord

from adapters.discord.buttons import decision_view
from adapters.discord.streaming import DISCORD_ERRORS, NO_PINGS, error_reason
from adapters.discord.translation import PLATFORM, split_text
from adapters.mentions import discord_safe
from adapters.poster import Poster
from bot.errors import ByokError

logger = logging.getLogger(__name__)


def guild_of(workspace: str) -> int | None:
    """The guild id of `discord:<guild id>`, or None for another platform's workspace."""
    prefix = PLATFORM + ":"
    if not workspace.startswith(prefix) or not workspace[len(prefix) :].isdigit():
        return None
    return int(workspace[len(prefix) :])


class DiscordPoster(Poster[discord.abc.Messageable]):
    """`ChannelPoster` for Discord: text split at 2,000 characters, then the file.

    Only a channel of the workspace's guild is posted to; `@<user id>` is a DM to that
    member. Everything is defused as well as ping-free: a digest or alert names agents and
    model ids.
    """

    platform = "Discord"
    errors = DISCORD_ERRORS

    def __init__(self, client: Callable[[], discord.Client | None]) -> None:
        self._client = client

    async def _open(self, workspace_id: str, channel_id: str) -> discord.abc.Messageable:
        client = self._client()
        guild = guild_of(workspace_id)
        if client is None or client.user is None:
            raise ByokError("the Discord connection is not ready")
        member = _member(channel_id)
        if member is not None:  # a DM: a decision on their request
            return client.get_user(member) or await client.fetch_user(member)
        if guild is None or not channel_id.isdigit():
            raise ByokError(f"{channel_id} is not a Discord channel of {workspace_id}")
        channel = client.get_channel(int(channel_id)) or await client.fetch_channel(int(channel_id))
        # A channel of another guild is never posted to, whatever the stored id says.
        if getattr(getattr(channel, "guild", None), "id", None) != guild:
            raise ByokError(f"channel {channel_id} is not in {workspace_id}")
        if not isinstance(channel, discord.abc.Messageable):
            raise ByokError(f"channel {channel_id} does not take messages")
        return channel

    def _pieces(self, text: str) -> list[str]:
        return [piece for piece in split_text(discord_safe(text)) if piece.strip()]

    async def _send_text(self, target: discord.abc.Messageable, piece: str) -> None:
        await target.send(piece, allowed_mentions=NO_PINGS)

    async def _send_request(
        self, target: discord.abc.Messageable, text: str, request_id: str
    ) -> None:
        await target.send(
            discord_safe(text)[:2000], view=decision_view(request_id), allowed_mentions=NO_PINGS
        )

    async def _send_file(self, target: discord.abc.Messageable, name: str, content: bytes) -> None:
        await target.send(file=discord.File(io.BytesIO(content), name), allowed_mentions=NO_PINGS)

    _reason = staticmethod(error_reason)

    def _refused(self, exc: Exception, *, workspace_id: str, channel_id: str) -> ByokError:
        if _member(channel_id) is None:
            return super()._refused(exc, workspace_id=workspace_id, channel_id=channel_id)
        logger.warning("DM to a member failed (%s)", error_reason(exc))
        return ByokError(f"Discord refused the DM: {error_reason(exc)}")


def _member(channel_id: str) -> int | None:
    """The member a `@<user id>` channel names (a DM), or None for a channel."""
    return int(channel_id[1:]) if channel_id.startswith("@") and channel_id[1:].isdigit() else None
