"""Hostile text made safe: lone surrogates become U+FFFD, stray control characters go.

Chat platforms hand us JSON that may hold lone surrogates (`"\\ud800"`), a console may
hand us bytes that are not UTF-8 (read as U+FFFD or as surrogate escapes): a string
with a surrogate cannot be encoded, so a database driver, a provider request or a size
estimate would raise on it. Adapters normalise every text at their boundary with these
helpers; the core does it again on entry (defence in depth), so no platform quirk ever
ends a turn with "internal error".
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from bot.boundary import CommandRequest, IncomingMessage, Sender
from bot.providers.types import ChatMessage

REPLACEMENT = "\ufffd"

# Python strings cannot hold a *paired* surrogate, so every match here is a lone one.
_SURROGATE = re.compile("[\ud800-\udfff]")
# Lone surrogates, and C0 controls other than tab, newline and carriage return (NUL
# cannot even be stored in PostgreSQL text; escape sequences repaint a terminal).
_UNSAFE = re.compile("[\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f]")


def _swap(match: re.Match[str]) -> str:
    return REPLACEMENT if match.group() >= "\ud800" else ""


def encodable(text: str) -> str:
    """`text` with lone surrogates replaced by U+FFFD: every encoder accepts it."""
    return _SURROGATE.sub(REPLACEMENT, text)


def clean(text: str) -> str:
    """Chat text made safe: lone surrogates replaced by U+FFFD, stray controls dropped."""
    return _UNSAFE.sub(_swap, text)


def clean_sender(sender: Sender) -> Sender:
    """`sender` with a clean display name (ids are the platform's own ASCII)."""
    name = clean(sender.display_name)
    return sender if name == sender.display_name else dataclasses.replace(sender, display_name=name)


def clean_message(message: IncomingMessage) -> IncomingMessage:
    """`message` with clean text and sender name (its history is cleaned when read)."""
    return dataclasses.replace(
        message, text=clean(message.text), sender=clean_sender(message.sender)
    )


def clean_command(request: CommandRequest) -> CommandRequest:
    """`request` with encodable command text and a clean sender name.

    Control characters stay: the grammar refuses a command holding one with a clear line,
    rather than running something other than what was typed.
    """
    return dataclasses.replace(
        request, text=encodable(request.text), sender=clean_sender(request.sender)
    )


def clean_turns(turns: Iterable[ChatMessage]) -> list[ChatMessage]:
    """Conversation turns with clean texts."""
    return [ChatMessage(turn.role, clean(turn.text)) for turn in turns]
