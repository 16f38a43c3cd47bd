"""Pure translation of Discord values into the core's boundary values (no I/O here).

Every text taken from Discord is normalised (`bot.safetext`): gateway JSON may carry
lone surrogates (`"\\ud800"`), which no encoder downstream would accept.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bot.boundary import FileFetcher, IncomingFile, Place, Sender
from bot.providers.types import ChatMessage
from bot.safetext import clean, encodable

PLATFORM = "discord"
MESSAGE_LIMIT = 2_000  # characters in one Discord message
HISTORY_LIMIT = 20  # messages of a reply chain handed to the core as context
# Builds the fetcher of one attachment from its URL and declared size (the adapter's I/O).
FileFetcherFactory = Callable[[str, int], FileFetcher]


def workspace_id(guild_id: int | str) -> str:
    """`discord:<guild id>`."""
    return f"{PLATFORM}:{guild_id}"


def is_admin(*, administrator: bool, manage_guild: bool, in_guild: bool) -> bool:
    """Manage Server or Administrator in a guild; anything outside a guild is never an admin."""
    return in_guild and (administrator or manage_guild)


def mention_pattern(bot_id: int) -> re.Pattern[str]:
    """`<@id>` and the legacy nickname form `<@!id>` of the bot user."""
    return re.compile(rf"<@!?{bot_id}>")


def mentions(text: str, bot_id: int | None) -> bool:
    """True when `text` mentions the bot user."""
    return bot_id is not None and mention_pattern(bot_id).search(text) is not None


def strip_mention(text: str, bot_id: int | None) -> str:
    """`text` without mentions of the bot, whitespace-trimmed and normalised."""
    text = clean(text)
    if bot_id is not None:
        text = mention_pattern(bot_id).sub(" ", text)
    return re.sub(r"[ \t]{2,}", " ", text).strip()


def place(
    *,
    guild_id: int | None,
    channel_id: int,
    workspace: str | None = None,
    workspace_name: str = "",
) -> Place:
    """Where something was said; a DM (no guild) takes the workspace the caller resolved."""
    direct = guild_id is None
    resolved = workspace if workspace is not None else workspace_id(guild_id or 0)
    return Place(
        workspace_id=resolved,
        platform=PLATFORM,
        channel_id=str(channel_id),
        thread_id=None,
        is_direct=direct,
        workspace_name=workspace_name,
    )


def sender(*, user_id: int, name: str, admin: bool, bot: bool = False) -> Sender:
    """Who spoke, with the adapter's fail-closed admin verdict."""
    return Sender(
        user_id=str(user_id), display_name=clean(name), is_platform_admin=admin, is_bot=bot
    )


def command_text(words: Sequence[str]) -> str:
    """An app command's options as the grammar's command line (shell-quoted, normalised)."""
    return encodable(shlex.join(words))


@dataclass(frozen=True, slots=True)
class AttachmentRef:
    """What Discord declares about one attachment of a message (its name is content)."""

    filename: str = field(repr=False)
    content_type: str | None
    size: int
    url: str = field(repr=False)


def incoming_files(
    attachments: Sequence[AttachmentRef], *, fetcher: FileFetcherFactory
) -> tuple[IncomingFile, ...]:
    """The message's attachments as declared (type, size); each fetched only on demand."""
    return tuple(
        IncomingFile(
            name=clean(ref.filename),
            mime=clean((ref.content_type or "").split(";", 1)[0].strip().lower()),
            size=ref.size if ref.size >= 0 else -1,
            fetch=fetcher(ref.url, ref.size),
        )
        for ref in attachments
    )


@dataclass(frozen=True, slots=True)
class ChainLink:
    """One message of a reply chain, newest first as it is walked."""

    author_id: int
    author_is_bot: bool
    text: str


def history_from_chain(
    chain: Sequence[ChainLink], *, bot_id: int | None, limit: int = HISTORY_LIMIT
) -> list[ChatMessage]:
    """The reply chain as context, oldest first: our messages as assistant, humans as user.

    `chain` is newest first (the order it is walked in); other bots and empty texts are
    left out.
    """
    turns: list[ChatMessage] = []
    for link in chain:
        if not link.text.strip():
            continue
        if bot_id is not None and link.author_id == bot_id:
            turns.append(ChatMessage(role="assistant", text=clean(link.text)))
        elif not link.author_is_bot:
            turns.append(ChatMessage(role="user", text=strip_mention(link.text, bot_id)))
    turns.reverse()
    return turns[-limit:] if limit > 0 else []


def cut_point(text: str, limit: int) -> int:
    """Where to cut `text` to at most `limit` characters: a newline, a space, or hard."""
    if len(text) <= limit:
        return len(text)
    window = text[:limit]
    for sep in ("\n", " "):
        at = window.rfind(sep)
        if at >= limit // 2:
            return at + 1
    return limit


def split_text(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """`text` in pieces of at most `limit` characters, cut at line or word ends if possible."""
    pieces: list[str] = []
    while len(text) > limit:
        at = cut_point(text, limit)
        pieces.append(text[:at])
        text = text[at:]
    if text or not pieces:
        pieces.append(text)
    return pieces
