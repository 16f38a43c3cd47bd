"""Context for an answer: the Discord reply chain, walked back from the message."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import discord

from adapters.discord.streaming import DISCORD_ERRORS, error_reason
from adapters.discord.translation import HISTORY_LIMIT, ChainLink, history_from_chain
from bot.boundary import HistoryFetcher
from bot.providers.types import ChatMessage

logger = logging.getLogger(__name__)


def reply_chain(message: discord.Message, *, bot_id: int | None) -> HistoryFetcher | None:
    """Reads the messages `message` replies to (bounded), or None when it replies to none."""
    if message.reference is None or message.reference.message_id is None:
        return None

    async def fetch() -> Sequence[ChatMessage]:
        links = await walk(message, limit=HISTORY_LIMIT)
        return history_from_chain(links, bot_id=bot_id, limit=HISTORY_LIMIT)

    return fetch


async def walk(message: discord.Message, *, limit: int) -> list[ChainLink]:
    """Up to `limit` earlier messages of the chain, newest first, in `message`'s channel only."""
    links: list[ChainLink] = []
    current = message
    seen = {message.id}
    while len(links) < limit:
        ref = current.reference
        if ref is None or ref.message_id is None or ref.message_id in seen:
            break
        if ref.channel_id != message.channel.id:
            break  # a reply across channels: the other channel's talk is not this context
        seen.add(ref.message_id)
        resolved = ref.resolved if isinstance(ref.resolved, discord.Message) else None
        if resolved is None:
            try:
                resolved = await message.channel.fetch_message(ref.message_id)
            except DISCORD_ERRORS as exc:
                logger.info(
                    "reply chain unavailable in channel %s (%s)",
                    message.channel.id,
                    error_reason(exc),
                )
                break
        links.append(
            ChainLink(
                author_id=resolved.author.id,
                author_is_bot=resolved.author.bot,
                text=resolved.content,
            )
        )
        current = resolved
    return links
