"""`#channel` and `@user` references in every platform's raw form, and how to show them back."""

from __future__ import annotations

import re

from bot.commands.base import ChannelRef, RefForm, UserRef
from bot.errors import InvalidValue

_SLACK_CHANNEL = re.compile(r"<#([CGD][A-Z0-9]{2,30})(?:\|([^>]{0,80}))?>")
_DISCORD_CHANNEL = re.compile(r"<#(\d{1,25})>")
_PLAIN_CHANNEL = re.compile(r"#([\w.-]{1,63})")
_SLACK_USER = re.compile(r"<@([UWB][A-Z0-9]{2,30})(?:\|([^>]{0,80}))?>")
_DISCORD_USER = re.compile(r"<@!?(\d{1,25})>")
_PLAIN_USER = re.compile(r"@([\w.-]{1,63})")
# Plain ids a platform would accept if a user typed the id itself instead of a link.
_SLACK_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{6,30}")
_SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{6,30}")
_DISCORD_ID = re.compile(r"\d{15,25}")


def parse_channel(token: str) -> ChannelRef | None:
    """A channel reference from one token, or None if the token is not one."""
    if match := _SLACK_CHANNEL.fullmatch(token):
        return ChannelRef(id=match.group(1), form="slack", label=match.group(2) or None)
    if match := _DISCORD_CHANNEL.fullmatch(token):
        return ChannelRef(id=match.group(1), form="discord")
    if match := _PLAIN_CHANNEL.fullmatch(token):
        return ChannelRef(id=match.group(1), form="plain")
    return None


def parse_user(token: str) -> UserRef | None:
    """A user reference from one token, or None if the token is not one."""
    if match := _SLACK_USER.fullmatch(token):
        return UserRef(id=match.group(1), form="slack", label=match.group(2) or None)
    if match := _DISCORD_USER.fullmatch(token):
        return UserRef(id=match.group(1), form="discord")
    if match := _PLAIN_USER.fullmatch(token):
        return UserRef(id=match.group(1), form="plain")
    return None


def _fits(platform: str, *, form: RefForm, ref_id: str, plain_id: re.Pattern[str]) -> bool:
    if platform == "console":
        return True
    if form == "plain":
        # Without a link the only thing we can trust is a literal platform id.
        return plain_id.fullmatch(ref_id) is not None
    return form == platform


def channel_id(ref: ChannelRef, *, platform: str) -> str:
    """The platform channel id a reference names here; InvalidValue if it cannot be one."""
    plain = _DISCORD_ID if platform == "discord" else _SLACK_CHANNEL_ID
    if not _fits(platform, form=ref.form, ref_id=ref.id, plain_id=plain):
        raise InvalidValue(
            f"#{ref.id} is not a channel link; pick the channel from the #-autocomplete"
        )
    return ref.id


def user_id(ref: UserRef, *, platform: str) -> str:
    """The platform user id a reference names here; InvalidValue if it cannot be one."""
    plain = _DISCORD_ID if platform == "discord" else _SLACK_USER_ID
    if not _fits(platform, form=ref.form, ref_id=ref.id, plain_id=plain):
        raise InvalidValue(
            f"@{ref.id} is not a user mention; pick the user from the @-autocomplete"
        )
    return ref.id


def show_channel(channel: str, *, platform: str) -> str:
    """How a channel id is written in a reply so the platform renders it as a link."""
    return f"#{channel}" if platform == "console" else f"<#{channel}>"


def show_user(user: str, *, platform: str) -> str:
    """How a user id is written in a reply (a mention; private replies notify no one)."""
    return f"@{user}" if platform == "console" else f"<@{user}>"
