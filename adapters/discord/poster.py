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
from bot.errors import ByokError

logger = logging.getLogger(__name__)


def guild_of(workspace: str) -> int | None:
    """The guild id of `discord:<guild id>`, or None for another platform's workspace."""
    prefix = PLATFORM + ":"
    if not workspace.startswith(prefix) or not workspace[len(prefix) :].isdigit():
        return None
    return int(workspace[len(prefix) :])


class DiscordPoster:
    """`ChannelPoster` for Discord: text split at 2,000 characters, then the file."""

    def __init__(self, client: Callable[[], discord.Client | None]) -> None:
        self._client = client

    async def post(
        self,
        *,
        workspace_id: str,
        channel_id: str,
        text: str,
        file: tuple[str, bytes] | None = None,
        request_id: str | None = None,
    ) -> None:
        """Post to the channel; `ByokError` if it is not in the workspace's guild or refused.

        `@<user id>` is a DM to that member; a `request_id` adds Approve / Deny buttons.
        """
        client = self._client()
        guild = guild_of(workspace_id)
        if client is None or client.user is None:
            raise ByokError("the Discord connection is not ready")
        if channel_id.startswith("@") and channel_id[1:].isdigit():
            await self._direct(client, int(channel_id[1:]), text)
            return
        if guild is None or not channel_id.isdigit():
            raise ByokError(f"{channel_id} is not a Discord channel of {workspace_id}")
        try:
            channel = client.get_channel(int(channel_id)) or await client.fetch_channel(
                int(channel_id)
            )
            # A channel of another guild is never posted to, whatever the stored id says.
            if getattr(getattr(channel, "guild", None), "id", None) != guild:
                raise ByokError(f"channel {channel_id} is not in {workspace_id}")
            if not isinstance(channel, discord.abc.Messageable):
                raise ByokError(f"channel {channel_id} does not take messages")
            # Defused as well as ping-free: a digest or alert names agents and model ids.
            if request_id is not None:
                await channel.send(
                    discord_safe(text)[:2000],
                    view=decision_view(request_id),
                    allowed_mentions=NO_PINGS,
                )
                return
            for piece in split_text(discord_safe(text)):
                if piece.strip():
                    await channel.send(piece, allowed_mentions=NO_PINGS)
            if file is not None:
                name, content = file
                await channel.send(
                    file=discord.File(io.BytesIO(content), name), allowed_mentions=NO_PINGS
                )
        except DISCORD_ERRORS as exc:
            reason = error_reason(exc)
            logger.warning("post to %s in %s failed (%s)", channel_id, workspace_id, reason)
            raise ByokError(f"Discord refused the post to {channel_id}: {reason}") from None

    async def _direct(self, client: discord.Client, user_id: int, text: str) -> None:
        """A DM to a member (a decision on their request)."""
        try:
            user = client.get_user(user_id) or await client.fetch_user(user_id)
            for piece in split_text(discord_safe(text)):
                if piece.strip():
                    await user.send(piece, allowed_mentions=NO_PINGS)
        except DISCORD_ERRORS as exc:
            logger.warning("DM to a member failed (%s)", error_reason(exc))
            raise ByokError(f"Discord refused the DM: {error_reason(exc)}") from None
