"""slack-bolt's installation and OAuth state stores, on the core's `bot.installations`.

Only the slack_sdk side lives here: bolt's `Installation`/`Bot` objects are translated to
and from the core's plain `BotInstallation` values (epoch seconds to naive UTC and back,
team ids to workspace ids). Sealing the tokens and the database work are the core's.
Only the bot half of an installation is kept: byokbot asks for no user scopes.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore

from adapters.slack.translation import workspace_id
from bot.errors import ByokError
from bot.installations import (
    REFRESH_KEY_ID,
    STATE_SECONDS,
    TOKEN_KEY_ID,
    BotInstallation,
    SlackInstallations,
    SlackOAuthStates,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from bot.vault.cipher import Vault

__all__ = [
    "REFRESH_KEY_ID",
    "STATE_SECONDS",
    "TOKEN_KEY_ID",
    "SqlInstallationStore",
    "SqlStateStore",
]

logger = logging.getLogger(__name__)


def _workspace_of(*, team_id: str | None, enterprise_id: str | None) -> str | None:
    key = team_id or enterprise_id
    return workspace_id(key) if key else None


def _installation_of(ws: str, bot: Bot) -> BotInstallation:
    """bolt's bot half of an installation as the core's plain value."""
    expires = (
        dt.datetime.fromtimestamp(bot.bot_token_expires_at, dt.UTC).replace(tzinfo=None)
        if bot.bot_token_expires_at
        else None
    )
    return BotInstallation(
        workspace_id=ws,
        team_id=bot.team_id,
        team_name=bot.team_name or "",
        enterprise_id=bot.enterprise_id,
        is_enterprise_install=bool(bot.is_enterprise_install),
        app_id=bot.app_id,
        bot_id=bot.bot_id,
        bot_user_id=bot.bot_user_id,
        bot_scopes=tuple(bot.bot_scopes),
        bot_token=bot.bot_token,
        refresh_token=bot.bot_refresh_token,
        token_expires_at=expires,
    )


def _bot_of(install: BotInstallation) -> Bot:
    """The core's stored installation as bolt's `Bot` (epoch-second timestamps)."""
    expires = (
        int(install.token_expires_at.replace(tzinfo=dt.UTC).timestamp())
        if install.token_expires_at
        else None
    )
    installed = install.installed_at.replace(tzinfo=dt.UTC) if install.installed_at else None
    return Bot(
        app_id=install.app_id,
        enterprise_id=install.enterprise_id,
        team_id=install.team_id,
        team_name=install.team_name,
        bot_token=install.bot_token,
        bot_id=install.bot_id or "",
        bot_user_id=install.bot_user_id or "",
        bot_scopes=list(install.bot_scopes),
        bot_refresh_token=install.refresh_token,
        bot_token_expires_at=expires,
        is_enterprise_install=install.is_enterprise_install,
        installed_at=(installed or dt.datetime.now(dt.UTC)).timestamp(),
    )


class SqlInstallationStore(AsyncInstallationStore):
    """bolt's installation store on `bot.installations.SlackInstallations` (tokens sealed)."""

    def __init__(self, engine: Engine, vault: Vault) -> None:
        self._installations = SlackInstallations(engine, vault)

    @property
    def logger(self) -> logging.Logger:
        """The store's logger (bolt reads this attribute)."""
        return logger

    # -- writes ------------------------------------------------------------------------
    async def async_save(self, installation: Installation) -> None:
        """Store the bot half of a new or repeated installation."""
        await self.async_save_bot(installation.to_bot())

    async def async_save_bot(self, bot: Bot) -> None:
        """Seal the bot token and upsert the workspace's installation."""
        ws = _workspace_of(team_id=bot.team_id, enterprise_id=bot.enterprise_id)
        if ws is None:
            raise ByokError("a Slack installation without team or enterprise id")
        await self._installations.save(_installation_of(ws, bot))
        logger.info("slack app installed in workspace %s", ws)

    # -- reads -------------------------------------------------------------------------
    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        """The workspace's bot (token unsealed in memory), or None when not installed."""
        found = await self._installations.find(
            workspace_id=workspace_id(team_id) if team_id else None,
            enterprise_id=enterprise_id,
        )
        return _bot_of(found) if found is not None else None

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        """The installation as bolt wants it (bot half only; no user tokens are kept)."""
        bot = await self.async_find_bot(enterprise_id=enterprise_id, team_id=team_id)
        if bot is None:
            return None
        return Installation(
            app_id=bot.app_id,
            enterprise_id=bot.enterprise_id,
            team_id=bot.team_id,
            team_name=bot.team_name,
            bot_token=bot.bot_token,
            bot_id=bot.bot_id,
            bot_user_id=bot.bot_user_id,
            bot_scopes=bot.bot_scopes,
            bot_refresh_token=bot.bot_refresh_token,
            bot_token_expires_at=bot.bot_token_expires_at,
            user_id=user_id or "",
            is_enterprise_install=bot.is_enterprise_install,
        )

    # -- deletes (uninstall, tokens revoked) -----------------------------------------
    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        """Forget the workspace's bot token."""
        await self.async_delete_installation(enterprise_id=enterprise_id, team_id=team_id)

    async def async_delete_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
    ) -> None:
        """Forget the workspace's installation and its tokens."""
        if user_id:
            return  # only user tokens were revoked: byokbot holds none
        ws = _workspace_of(team_id=team_id, enterprise_id=enterprise_id)
        if ws is None:
            return
        removed = await self._installations.delete(workspace_id=ws)
        logger.info("slack tokens of workspace %s deleted (%d row)", ws, removed)

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        """Same as deleting the installation (bolt calls this on app_uninstalled)."""
        await self.async_delete_installation(enterprise_id=enterprise_id, team_id=team_id)


class SqlStateStore(AsyncOAuthStateStore):
    """bolt's OAuth state store on `bot.installations.SlackOAuthStates` (one use each)."""

    def __init__(self, engine: Engine, *, expiration_seconds: int = STATE_SECONDS) -> None:
        self._states = SlackOAuthStates(engine, expiration_seconds=expiration_seconds)

    @property
    def logger(self) -> logging.Logger:
        """The store's logger (bolt reads this attribute)."""
        return logger

    async def async_issue(self, *args: object, **kwargs: object) -> str:
        """A new random state, valid for the configured time."""
        return await self._states.issue()

    async def async_consume(self, state: str) -> bool:
        """True once for a state this app issued that has not expired."""
        return await self._states.consume(state)
