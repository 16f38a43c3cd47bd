"""The approval buttons on Discord: `discord.ui.View`s with persistent custom ids.

`byok:ask:<request>:<guild>` under a refusal, `byok:approve:<request>` and
`byok:deny:<request>` under a request in the digest channel; no timeout. A custom id
carries the request id only (and, for a refusal sent by DM, the guild), never anything
of the message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import discord

ASK = "ask"
APPROVE = "approve"
DENY = "deny"
_CUSTOM_ID = re.compile(r"^byok:(ask|approve|deny):([a-z2-7]{1,16})(?::(\d{1,20}))?$")


@dataclass(frozen=True, slots=True)
class Click:
    """A click on one of the approval buttons, read from its custom id."""

    action: str
    request_id: str
    guild_id: int | None = None


def custom_id(action: str, request_id: str, *, guild_id: int | None = None) -> str:
    """The button's persistent custom id."""
    tail = "" if guild_id is None else f":{guild_id}"
    return f"byok:{action}:{request_id}{tail}"


def parse_click(raw: object) -> Click | None:
    """The click of an approval button's custom id; None for any other custom id."""
    found = _CUSTOM_ID.match(raw) if isinstance(raw, str) else None
    if found is None:
        return None
    guild = found.group(3)
    return Click(found.group(1), found.group(2), int(guild) if guild else None)


def _view(*buttons: discord.ui.Button[Any]) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for button in buttons:
        view.add_item(button)
    return view


def refusal_view(request_id: str, *, guild_id: int | None) -> discord.ui.View:
    """The **Ask an admin** button of a refusal."""
    return _view(
        discord.ui.Button(
            label="Ask an admin",
            style=discord.ButtonStyle.primary,
            custom_id=custom_id(ASK, request_id, guild_id=guild_id),
        )
    )


def decision_view(request_id: str) -> discord.ui.View:
    """**Approve** / **Deny** under a request posted to the digest channel."""
    return _view(
        discord.ui.Button(
            label="Approve",
            style=discord.ButtonStyle.success,
            custom_id=custom_id(APPROVE, request_id),
        ),
        discord.ui.Button(
            label="Deny", style=discord.ButtonStyle.danger, custom_id=custom_id(DENY, request_id)
        ),
    )
