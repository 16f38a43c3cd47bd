"""The key-leak guard: a message that carries a provider key never reaches a model."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy.engine import Connection
from sqlmodel import Session

from bot.providers.types import ChatMessage
from bot.secrets_shape import looks_like_provider_key
from storage.audit import add_audit

# Never quote the match back or log it: the sender is only told, privately, to revoke it.
WARNING = (
    "Your message looks like it contains a provider API key, so it was not sent to any "
    "model. Treat that key as exposed: revoke it at the provider and create a new one "
    "(admins register keys privately with /byok key add)."
)


def carries_key(text: str) -> bool:
    """True when `text` contains something shaped like a provider API key."""
    return looks_like_provider_key(text)


def without_keys(turns: Sequence[ChatMessage]) -> tuple[list[ChatMessage], int]:
    """The history without its turns that carry a key shape, and how many were left out.

    A key pasted earlier in a thread or reply chain was refused when it was said; it
    must not reach a model later as history either (SPEC, "Messages").
    """
    kept = [turn for turn in turns if not carries_key(turn.text)]
    return kept, len(turns) - len(kept)


def audit_refusal(
    conn: Connection, *, workspace_id: str, actor_id: str, channel_id: str, at: dt.datetime
) -> None:
    """Record the refusal (who, where, when) — never the message or the key."""
    with Session(bind=conn) as session:
        event = add_audit(
            session,
            workspace_id=workspace_id,
            actor_id=actor_id,
            action="message.refused",
            target=f"channel {channel_id}",
            outcome="refused",
            detail="message carried a provider-key shape; not sent to any model",
        )
        event.created_at = at
        session.flush()
