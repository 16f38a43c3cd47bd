"""The fake Slack Web API's data: workspaces, users.info fixtures, recorded calls, switches."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TEAM = "T0001"
OTHER_TEAM = "T0002"
BOT_USER = "UBOT"
BOT_ID = "BBOT"
APP_ID = "A0001"

# users.info fixtures (team T0001 unless stated)
ADMIN = "UADMIN"
OWNER = "UOWNER"
MEMBER = "UMEMBER"
GUEST = "UGUEST"  # is_restricted: multi-channel guest
ULTRA_GUEST = "UULTRA"  # is_ultra_restricted: single-channel guest
EXTERNAL_ADMIN = "UEXTADMIN"  # an admin of another team, seen through Slack Connect
STRANGER = "USTRANGER"  # is_stranger: external user we may not see fully
EXTERNAL_MEMBER = "UEXTMEMBER"  # a plain member of another team, seen through Slack Connect
FAILING = "UFAILING"  # users.info answers ok=false
OTHER_ADMIN = "UADMIN2"  # admin of OTHER_TEAM


def _user(user_id: str, team: str = TEAM, **flags: Any) -> dict[str, Any]:
    user: dict[str, Any] = {
        "id": user_id,
        "team_id": team,
        "name": user_id.lower(),
        "real_name": user_id.title(),
        "deleted": False,
        "is_admin": False,
        "is_owner": False,
        "is_primary_owner": False,
        "is_restricted": False,
        "is_ultra_restricted": False,
        "is_bot": False,
        "profile": {"display_name": user_id.lower()},
    }
    user.update(flags)
    return user


def default_users() -> dict[str, dict[str, Any]]:
    """The users.info fixtures every fake starts with."""
    return {
        ADMIN: _user(ADMIN, is_admin=True),
        OWNER: _user(OWNER, is_owner=True),
        MEMBER: _user(MEMBER),
        GUEST: _user(GUEST, is_restricted=True, is_admin=True),
        ULTRA_GUEST: _user(ULTRA_GUEST, is_ultra_restricted=True, is_restricted=True),
        EXTERNAL_ADMIN: _user(EXTERNAL_ADMIN, team="TEXTERNAL", is_admin=True),
        STRANGER: _user(STRANGER, team="TEXTERNAL", is_stranger=True, is_owner=True),
        EXTERNAL_MEMBER: _user(EXTERNAL_MEMBER, team="TEXTERNAL"),
        OTHER_ADMIN: _user(OTHER_ADMIN, team=OTHER_TEAM, is_admin=True),
        BOT_USER: _user(BOT_USER, is_bot=True),
    }


@dataclass(frozen=True)
class Call:
    """One recorded request: the API method, its parameters and the bearer token used."""

    method: str
    params: dict[str, Any]
    token: str | None
    at: float


@dataclass
class Team:
    """A workspace the fake knows: its bot token, bot user and bot id."""

    team_id: str
    token: str
    bot_user_id: str = BOT_USER
    bot_id: str = BOT_ID
    name: str = ""


@dataclass
class Fault:
    status: int
    retry_after: int | None
    remaining: int
    error: str | None


@dataclass
class FakeSlackState:
    """Everything the fake records and every switch a test may flip."""

    teams: dict[str, Team] = field(default_factory=dict)  # token -> team
    users: dict[str, dict[str, Any]] = field(default_factory=default_users)
    replies: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    response_posts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    uploads: dict[str, bytes] = field(default_factory=dict)
    refuse_streaming: bool = False
    socket_url: str | None = None  # what apps.connections.open hands out
    app_token: str = "xapp-1-fake-app-token"
    stream_expires_after: int | None = None  # appendStream calls accepted per stream
    oauth_codes: dict[str, Team] = field(default_factory=dict)
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    stream_appends: dict[str, int] = field(default_factory=dict)
