"""The fake Discord's world and wire payloads: ids, users, guilds, messages, interactions.

Plain data builders (no I/O) shared by the fake REST API and its gateway
(`tests/fakes/discord/`). Ids are snowflake-sized integers sent as strings, as
Discord sends them.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

BOT_ID = 900000000000000001
APP_ID = BOT_ID  # a bot's application id is its user id
GUILD = 910000000000000001
OTHER_GUILD = 910000000000000002
CHANNEL = 920000000000000001
SECOND_CHANNEL = 920000000000000002
OTHER_GUILD_CHANNEL = 920000000000000003
ADMIN = 930000000000000001  # has the Manage Server role
ADMINISTRATOR = 930000000000000002  # has the Administrator role
MEMBER = 930000000000000003  # plain member
ROAMER = 930000000000000004  # member of both guilds
OTHER_BOT = 930000000000000009
MANAGER_ROLE = 940000000000000001
ADMIN_ROLE = 940000000000000002
MANAGE_GUILD = 1 << 5
ADMINISTRATOR_BIT = 1 << 3
EVERYONE_PERMISSIONS = (1 << 10) | (1 << 11) | (1 << 16)  # view, send, read history
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024  # bytes per file in a guild without boosts
NAMES = {
    BOT_ID: "byokbot",
    ADMIN: "manager",
    ADMINISTRATOR: "boss",
    MEMBER: "member",
    ROAMER: "roamer",
    OTHER_BOT: "otherbot",
}

_ids = itertools.count(950000000000000001)


def next_id() -> int:
    """A fresh snowflake for a message or interaction."""
    return next(_ids)


def user(user_id: int) -> dict[str, Any]:
    """A user object."""
    return {
        "id": str(user_id),
        "username": NAMES.get(user_id, f"user{user_id}"),
        "global_name": None,
        "discriminator": "0",
        "avatar": None,
        "bot": user_id in (BOT_ID, OTHER_BOT),
    }


def role_ids(user_id: int, guild_id: int) -> list[str]:
    """The roles a member holds in a guild."""
    if guild_id == GUILD and user_id == ADMIN:
        return [str(MANAGER_ROLE)]
    if guild_id == GUILD and user_id == ADMINISTRATOR:
        return [str(ADMIN_ROLE)]
    return []


def permissions_of(user_id: int, guild_id: int) -> int:
    """The member's guild permissions (what Discord puts in an interaction's member)."""
    roles = role_ids(user_id, guild_id)
    bits = EVERYONE_PERMISSIONS
    if str(MANAGER_ROLE) in roles:
        bits |= MANAGE_GUILD
    if str(ADMIN_ROLE) in roles:
        bits = (1 << 41) - 1  # Administrator: Discord reports every permission
    return bits


@dataclass
class World:
    """Who is in which guild."""

    members: dict[int, set[int]] = field(
        default_factory=lambda: {
            GUILD: {BOT_ID, ADMIN, ADMINISTRATOR, MEMBER, ROAMER, OTHER_BOT},
            OTHER_GUILD: {BOT_ID, ROAMER},
        }
    )
    channels: dict[int, int] = field(
        default_factory=lambda: {
            CHANNEL: GUILD,
            SECOND_CHANNEL: GUILD,
            OTHER_GUILD_CHANNEL: OTHER_GUILD,
        }
    )


def member(user_id: int, guild_id: int, *, with_permissions: bool = False) -> dict[str, Any]:
    """A guild member object."""
    data: dict[str, Any] = {
        "user": user(user_id),
        "roles": role_ids(user_id, guild_id),
        "joined_at": "2024-01-01T00:00:00+00:00",
        "deaf": False,
        "mute": False,
        "flags": 0,
    }
    if with_permissions:
        data["permissions"] = str(permissions_of(user_id, guild_id))
    return data


def channel(channel_id: int, guild_id: int) -> dict[str, Any]:
    """A guild text channel object."""
    return {
        "id": str(channel_id),
        "type": 0,
        "guild_id": str(guild_id),
        "name": f"channel-{str(channel_id)[-2:]}",
        "position": 0,
        "permission_overwrites": [],
        "nsfw": False,
        "parent_id": None,
    }


def guild(guild_id: int, world: World) -> dict[str, Any]:
    """The GUILD_CREATE payload: roles with permission bits, members, channels."""
    roles: list[dict[str, Any]] = [
        {"id": str(guild_id), "name": "@everyone", "permissions": str(EVERYONE_PERMISSIONS)},
        {"id": str(MANAGER_ROLE), "name": "Managers", "permissions": str(MANAGE_GUILD)},
        {"id": str(ADMIN_ROLE), "name": "Admins", "permissions": str(ADMINISTRATOR_BIT)},
    ]
    for index, role in enumerate(roles):
        role.update(color=0, hoist=False, position=index, managed=False, mentionable=False)
    return {
        "id": str(guild_id),
        "name": f"Guild {str(guild_id)[-1]}",
        "icon": None,
        "owner_id": str(OTHER_BOT if guild_id == GUILD else ROAMER),
        "unavailable": False,
        "roles": roles,
        "emojis": [],
        "features": [],
        "member_count": len(world.members[guild_id]),
        "members": [member(uid, guild_id) for uid in sorted(world.members[guild_id])],
        "channels": [channel(cid, gid) for cid, gid in world.channels.items() if gid == guild_id],
        "threads": [],
        "voice_states": [],
        "presences": [],
        "stickers": [],
        "large": False,
        "preferred_locale": "en-US",
    }


def message(
    *,
    message_id: int,
    channel_id: int,
    author_id: int,
    content: str,
    guild_id: int | None = None,
    reply_to: int | None = None,
    mentions: list[int] | None = None,
    attachments: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A message object (MESSAGE_CREATE's data when `guild_id` is set: with `member`)."""
    data: dict[str, Any] = {
        "id": str(message_id),
        "channel_id": str(channel_id),
        "author": user(author_id),
        "content": content,
        "timestamp": "2024-01-01T00:00:00+00:00",
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [user(uid) for uid in mentions or []],
        "mention_roles": [],
        "attachments": attachments or [],
        "embeds": [],
        "pinned": False,
        "type": 19 if reply_to else 0,
        "flags": 0,
    }
    if guild_id is not None:
        data["guild_id"] = str(guild_id)
        data["member"] = {k: v for k, v in member(author_id, guild_id).items() if k != "user"}
    if reply_to is not None:
        data["message_reference"] = {
            "type": 0,
            "message_id": str(reply_to),
            "channel_id": str(channel_id),
            **({"guild_id": str(guild_id)} if guild_id else {}),
        }
    return data


def interaction(
    *,
    kind: int,
    data: dict[str, Any],
    user_id: int,
    guild_id: int = GUILD,
    channel_id: int = CHANNEL,
    attachment_size_limit: int = ATTACHMENT_SIZE_LIMIT,
) -> dict[str, Any]:
    """An INTERACTION_CREATE payload (type 2 command, 5 modal submit) from a guild member."""
    return {
        "id": str(next_id()),
        "application_id": str(APP_ID),
        "type": kind,
        "data": data,
        "guild_id": str(guild_id),
        "channel_id": str(channel_id),
        "channel": channel(channel_id, guild_id),
        "member": member(user_id, guild_id, with_permissions=True),
        "token": f"itoken{next_id()}",
        "version": 1,
        "app_permissions": str((1 << 41) - 1),
        "locale": "en-US",
        "guild_locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": {"0": str(guild_id)},
        "context": 0,
        "attachment_size_limit": attachment_size_limit,
    }


def command_data(group: str | None, name: str, options: dict[str, Any]) -> dict[str, Any]:
    """`data` of a `/byok [group] name option:value…` application command.

    An option named `channel` is a channel option: its value (a channel id) is resolved
    the way Discord resolves it, with the channel's guild.
    """
    opts = [{"name": k, "type": _option_type(k, v), "value": v} for k, v in options.items()]
    leaf = {"name": name, "type": 1, "options": opts}
    top = [{"name": group, "type": 2, "options": [leaf]}] if group else [leaf]
    data: dict[str, Any] = {"id": str(next_id()), "name": "byok", "type": 1, "options": top}
    if "channel" in options:
        cid = int(options["channel"])
        gid = World().channels[cid]
        resolved = {**channel(cid, gid), "permissions": str(EVERYONE_PERMISSIONS)}
        data["resolved"] = {"channels": {str(cid): resolved}}
    return data


def _option_type(name: str, value: Any) -> int:
    if name == "channel":
        return 7
    if isinstance(value, bool):
        return 5
    if isinstance(value, int):
        return 4
    if isinstance(value, float):
        return 10
    return 3


def modal_data(custom_id: str, values: dict[str, str]) -> dict[str, Any]:
    """`data` of a MODAL_SUBMIT: one action row per text input."""
    rows = [
        {"type": 1, "components": [{"type": 4, "custom_id": cid, "value": value}]}
        for cid, value in values.items()
    ]
    return {"custom_id": custom_id, "components": rows}


def bot_message(
    body: dict[str, Any],
    *,
    channel_id: str = "0",
    attachments: list[dict[str, Any]] | None = None,
    kind: int = 0,
    flags: int = 0,
) -> dict[str, Any]:
    """A message the bot sent, as Discord's API returns it."""
    return {
        "id": str(next_id()),
        "channel_id": channel_id,
        "author": user(BOT_ID),
        "content": body.get("content") or "",
        "timestamp": "2024-01-01T00:00:00+00:00",
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": attachments or [],
        "embeds": [],
        "components": body.get("components") or [],
        "pinned": False,
        "type": kind,
        "flags": flags,
    }


def webhook_message(
    body: dict[str, Any], attachments: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A follow-up message as the webhook endpoints return it (with its uploaded files)."""
    message = bot_message(body, attachments=attachments, flags=int(body.get("flags") or 0))
    return {**message, "webhook_id": str(APP_ID), "application_id": str(APP_ID)}


def app_info() -> dict[str, Any]:
    """GET /oauth2/applications/@me."""
    return {
        "id": str(APP_ID),
        "name": "byokbot",
        "description": "",
        "icon": None,
        "bot_public": True,
        "bot_require_code_grant": False,
        "owner": user(ROAMER),
        "verify_key": "0" * 64,
        "flags": 0,
        "team": None,
        "summary": "",
        "rpc_origins": [],
    }


def registered(command: dict[str, Any]) -> dict[str, Any]:
    """A synced command as Discord echoes it back."""
    return {
        "id": str(next_id()),
        "application_id": str(APP_ID),
        "version": "1",
        "default_member_permissions": None,
        "dm_permission": False,
        "nsfw": False,
        "type": 1,
        "description": "",
        "options": [],
        **command,
        "guild_id": None,
    }
