"""Pure translation of Slack payloads into the core's boundary values (no I/O here).

Every text taken from a payload is normalised (`bot.safetext`): Slack's JSON may carry
lone surrogates (`"\\ud800"`), which no encoder downstream would accept.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bot.boundary import (
    CommandRequest,
    FileFetcher,
    HistoryFetcher,
    IncomingFile,
    IncomingMessage,
    Place,
    Sender,
)
from bot.providers.types import ChatMessage
from bot.safetext import clean, encodable

PLATFORM = "slack"
# Human messages carry no subtype; these two subtypes are human messages too.
_HUMAN_SUBTYPES = frozenset({"file_share", "thread_broadcast"})
# A deleted file, or one over the workspace's plan limits, has nothing to download.
_GONE_FILE_MODES = frozenset({"tombstone", "hidden_by_limit"})
# Builds the fetcher of one file from its URL and declared size (the adapter's I/O).
FileFetcherFactory = Callable[[str, int], FileFetcher]


def workspace_id(team_id: str) -> str:
    """`slack:<team id>` (enterprise-wide installs are still keyed by team id)."""
    return f"{PLATFORM}:{team_id}"


def team_of(body: Mapping[str, Any]) -> str | None:
    """The workspace a request belongs to: envelope team, then payload team, then enterprise."""
    team = body.get("team_id")
    if isinstance(team, str) and team:
        return team
    nested = body.get("team")
    if isinstance(nested, Mapping) and nested.get("id"):
        return str(nested["id"])
    user = body.get("user")
    if isinstance(user, Mapping) and user.get("team_id"):
        return str(user["team_id"])
    event = body.get("event")
    if isinstance(event, Mapping) and event.get("team"):
        return str(event["team"])
    enterprise = body.get("enterprise_id") or (body.get("enterprise") or {}).get("id")
    return str(enterprise) if enterprise else None


def is_human_message(event: Mapping[str, Any], *, bot_user_id: str | None) -> bool:
    """False for bots (ours or others), edits, deletions and every other non-human subtype."""
    if event.get("bot_id") or event.get("bot_profile"):
        return False
    subtype = event.get("subtype")
    if subtype is not None and subtype not in _HUMAN_SUBTYPES:
        return False
    user = event.get("user")
    return isinstance(user, str) and bool(user) and user != bot_user_id


def mentions(text: str, user_id: str | None) -> bool:
    """True when `text` contains `<@user_id>` (optionally with a `|label`)."""
    return (
        bool(user_id) and re.search(rf"<@{re.escape(user_id or '')}(\|[^>]*)?>", text) is not None
    )


def strip_mention(text: str, user_id: str | None) -> str:
    """`text` without mentions of `user_id`, whitespace-trimmed."""
    if user_id:
        text = re.sub(rf"<@{re.escape(user_id)}(\|[^>]*)?>", " ", text)
    return re.sub(r"[ \t]{2,}", " ", text).strip()


def unescape(text: str) -> str:
    """Undo Slack's three HTML escapes (`&lt;`, `&gt;`, `&amp;`), ampersand last."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def thread_of(event: Mapping[str, Any]) -> str:
    """The thread a reply goes to: the message's thread, or a new thread under the message."""
    return str(event.get("thread_ts") or event.get("ts") or "")


def message_place(event: Mapping[str, Any], *, team_id: str, team_name: str = "") -> Place:
    """Where a message event was said."""
    channel = str(event.get("channel", ""))
    direct = event.get("channel_type") == "im" or channel.startswith("D")
    return Place(
        workspace_id=workspace_id(team_id),
        platform=PLATFORM,
        channel_id=channel,
        thread_id=thread_of(event),
        is_direct=direct,
        workspace_name=team_name,
    )


def incoming_message(
    event: Mapping[str, Any],
    *,
    team_id: str,
    event_id: str,
    bot_user_id: str | None,
    mentions_bot: bool,
    history: HistoryFetcher | None,
    files: tuple[IncomingFile, ...] = (),
) -> IncomingMessage:
    """An `IncomingMessage` for a human message (mention stripped, entities unescaped)."""
    raw = clean(str(event.get("text") or ""))
    return IncomingMessage(
        place=message_place(event, team_id=team_id),
        sender=Sender(user_id=str(event.get("user", "")), is_bot=bool(event.get("bot_id"))),
        text=unescape(strip_mention(raw, bot_user_id)),
        event_id=event_id,
        message_id=str(event.get("ts", "")),
        mentions_bot=mentions_bot,
        is_edit=event.get("subtype") == "message_changed",
        history=history,
        files=files,
    )


def incoming_files(
    event: Mapping[str, Any], *, fetcher: FileFetcherFactory
) -> tuple[IncomingFile, ...]:
    """The files of this message (its `files` array), as declared; fetched only on demand.

    `url_private` is preferred, `url_private_download` taken when it is the only one; a
    file without either (a Slack Connect file to look up, say) gets a fetcher that fails
    with a line. Deleted files are left out.
    """
    files = event.get("files")
    if not isinstance(files, list):
        return ()
    found: list[IncomingFile] = []
    for item in files:
        if not isinstance(item, Mapping) or item.get("mode") in _GONE_FILE_MODES:
            continue
        url = item.get("url_private") or item.get("url_private_download") or ""
        size = item.get("size")
        declared = size if isinstance(size, int) and not isinstance(size, bool) else -1
        found.append(
            IncomingFile(
                name=clean(str(item.get("name") or item.get("title") or "")),
                mime=clean(str(item.get("mimetype") or "")),
                size=declared,
                fetch=fetcher(str(url), declared),
            )
        )
    return tuple(found)


def command_place(payload: Mapping[str, Any], *, team_id: str) -> Place:
    """Where a slash command was typed."""
    channel = str(payload.get("channel_id", ""))
    return Place(
        workspace_id=workspace_id(team_id),
        platform=PLATFORM,
        channel_id=channel,
        thread_id=None,
        is_direct=channel.startswith("D") or payload.get("channel_name") == "directmessage",
        workspace_name=str(payload.get("team_domain", "")),
    )


def command_request(payload: Mapping[str, Any], *, team_id: str, is_admin: bool) -> CommandRequest:
    """A `CommandRequest` for `/byok <text>`; the text may hold a secret and is never logged."""
    sender = Sender(
        user_id=str(payload.get("user_id", "")),
        display_name=clean(str(payload.get("user_name", ""))),
        is_platform_admin=is_admin,
    )
    return CommandRequest(
        place=command_place(payload, team_id=team_id),
        sender=sender,
        text=encodable(str(payload.get("text") or "")).strip(),
        event_id=None,
    )


def history_from_replies(
    messages: Sequence[Mapping[str, Any]],
    *,
    current_ts: str,
    bot_user_id: str | None,
    bot_id: str | None,
    limit: int,
) -> list[ChatMessage]:
    """Thread context, oldest first: our bot's messages as assistant, humans as user.

    Other bots' messages, non-human subtypes, empty texts and the current message (and
    anything after it) are left out; only the newest `limit` turns are kept.
    """
    turns: list[ChatMessage] = []
    for message in messages:
        ts = str(message.get("ts", ""))
        if ts == current_ts or (current_ts and _ts_after(ts, current_ts)):
            continue
        text = clean(str(message.get("text") or ""))
        if not text.strip():
            continue
        ours = (bot_id is not None and message.get("bot_id") == bot_id) or (
            bot_user_id is not None and message.get("user") == bot_user_id
        )
        if ours:
            turns.append(ChatMessage(role="assistant", text=unescape(text)))
        elif is_human_message(message, bot_user_id=bot_user_id):
            turns.append(ChatMessage(role="user", text=unescape(strip_mention(text, bot_user_id))))
    return turns[-limit:] if limit > 0 else []


def _ts_after(ts: str, other: str) -> bool:
    try:
        return float(ts) > float(other)
    except ValueError:
        return False
