"""Which workspace a direct message belongs to: the one guild the user shares with the bot.

A DM belongs to no guild. Answering it from a guess would mix one team's agents, keys
and budgets with another's, so a DM is answered only when the bot and the user share
exactly one guild; otherwise the user gets a one-line hint to talk in a server channel.
A replica holding only some of the shards (DISCORD_SHARD_IDS) knows only its own guilds,
so it cannot tell that the user shares just one: it gives the hint too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import discord

from adapters.discord.streaming import DISCORD_ERRORS, error_reason
from adapters.discord.translation import workspace_id

logger = logging.getLogger(__name__)

CACHE_SECONDS = 300.0
MAX_GUILDS_CHECKED = 25  # beyond this many guilds a DM is not worth a look-up per guild
_MAX_ENTRIES = 10_000
HINT = (
    "I can only answer direct messages from members of exactly one server I am in; "
    "mention me in a channel of your server instead."
)


class DirectWorkspaces:
    """Resolves (and briefly caches) the workspace of a user's DMs; None when ambiguous."""

    def __init__(
        self, *, ttl: float = CACHE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[int, tuple[str | None, float]] = {}

    async def workspace_of(self, client: discord.Client, user_id: int) -> str | None:
        """`discord:<guild id>` of the one guild shared with `user_id`, else None."""
        if _some_shards_only(client):
            return None
        now = self._clock()
        cached = self._cache.get(user_id)
        if cached is not None and cached[1] > now:
            return cached[0]
        guilds = client.guilds
        if len(guilds) > MAX_GUILDS_CHECKED:
            return None
        shared: list[int] = []
        for guild in guilds:
            if guild.get_member(user_id) is None:
                try:
                    await guild.fetch_member(user_id)
                except discord.NotFound:
                    continue
                except DISCORD_ERRORS as exc:
                    # Not knowing is not an answer: fail closed and do not cache.
                    logger.info(
                        "member look-up failed in guild %s (%s)", guild.id, error_reason(exc)
                    )
                    return None
            shared.append(guild.id)
            if len(shared) > 1:
                break
        found = workspace_id(shared[0]) if len(shared) == 1 else None
        if len(self._cache) >= _MAX_ENTRIES:
            self._cache.clear()
        self._cache[user_id] = (found, now + self._ttl)
        return found


def _some_shards_only(client: discord.Client) -> bool:
    """True when the client holds only some of the bot's shards (guilds split by replica)."""
    if not isinstance(client, discord.AutoShardedClient) or client.shard_ids is None:
        return False
    return len(client.shard_ids) < (client.shard_count or 0)
