"""The platform-admin verdict from `users.info`, fail closed and cached briefly."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.boundary import Standing

logger = logging.getLogger(__name__)

CACHE_SECONDS = 60.0
_MAX_ENTRIES = 10_000


def standing_from_user(
    user: Mapping[str, Any], *, team_id: str, enterprise_id: str | None = None
) -> Standing:
    """The tri-state verdict on a `users.info` user for the workspace `team_id`.

    Guests (restricted / ultra-restricted), external users (Slack Connect strangers or
    members of another team), bots, app users and deleted accounts are `NEVER` admins,
    whatever `/byok admins add` granted them; full members are admins when Slack says so.
    """
    flags = ("is_restricted", "is_ultra_restricted", "is_stranger", "is_bot", "is_app_user")
    if any(user.get(flag) for flag in flags) or user.get("deleted"):
        return Standing.NEVER
    if not _member_of(user, team_id=team_id, enterprise_id=enterprise_id):
        return Standing.NEVER
    if user.get("is_admin") is True or user.get("is_owner") is True:
        return Standing.PLATFORM_ADMIN
    return Standing.MEMBER


def verdict_from_user(
    user: Mapping[str, Any], *, team_id: str, enterprise_id: str | None = None
) -> bool:
    """True only for a full member of `team_id` who is a workspace admin or owner."""
    standing = standing_from_user(user, team_id=team_id, enterprise_id=enterprise_id)
    return standing is Standing.PLATFORM_ADMIN


def _member_of(user: Mapping[str, Any], *, team_id: str, enterprise_id: str | None) -> bool:
    if user.get("team_id") == team_id:
        return True
    # Enterprise Grid: a member's home team may differ, but the enterprise must match.
    home = user.get("enterprise_user")
    return bool(
        enterprise_id
        and isinstance(home, Mapping)
        and home.get("enterprise_id") == enterprise_id
        and team_id in (home.get("teams") or [])
    )


class AdminVerdicts:
    """Answers "is this user a Slack admin of this workspace?" with a short-lived cache."""

    def __init__(
        self, *, ttl: float = CACHE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[tuple[str, str], tuple[Standing, float]] = {}

    async def is_admin(
        self,
        client: AsyncWebClient,
        *,
        team_id: str,
        user_id: str,
        enterprise_id: str | None = None,
    ) -> bool:
        """True only when Slack says `user_id` is an admin of `team_id` (fail closed)."""
        standing = await self.standing(
            client, team_id=team_id, user_id=user_id, enterprise_id=enterprise_id
        )
        return standing is Standing.PLATFORM_ADMIN

    async def standing(
        self,
        client: AsyncWebClient,
        *,
        team_id: str,
        user_id: str,
        enterprise_id: str | None = None,
    ) -> Standing:
        """The verdict for `user_id` in `team_id`; a failed look-up is `NEVER` (not cached)."""
        key = (team_id, user_id)
        now = self._clock()
        cached = self._cache.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        if not user_id:
            return Standing.NEVER
        try:
            response = await client.users_info(user=user_id)
        except (SlackApiError, SlackClientError, OSError, TimeoutError) as exc:
            logger.warning(
                "users.info failed for a user in team %s (%s): never an admin",
                team_id,
                type(exc).__name__,
            )
            return Standing.NEVER
        user = response.get("user")
        if not response.get("ok") or not isinstance(user, Mapping):
            logger.warning("users.info gave no user in team %s: never an admin", team_id)
            return Standing.NEVER
        verdict = standing_from_user(user, team_id=team_id, enterprise_id=enterprise_id)
        if len(self._cache) >= _MAX_ENTRIES:
            self._cache.clear()
        self._cache[key] = (verdict, now + self._ttl)
        return verdict
