"""slack-bolt's installation and OAuth state stores on byokbot's own database.

Bot tokens (and refresh tokens) are sealed with the vault, bound to the workspace and
a fixed key id, before they reach the database. Only the bot half of an installation
is kept: byokbot asks for no user scopes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets

from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from sqlalchemy.engine import Engine

from adapters.slack.translation import workspace_id
from bot.errors import ByokError
from bot.sealing import Sealed, Vault
from storage.engine import session_scope
from storage.models import utcnow
from storage.slack_models import SlackInstallation
from storage.slack_store import (
    REFRESH_KEY_ID,
    TOKEN_KEY_ID,
    consume_state,
    delete_installation,
    find_enterprise_installation,
    find_installation,
    issue_state,
    prune_states,
    save_installation,
)
from storage.workspaces import ensure_workspace

logger = logging.getLogger(__name__)

STATE_SECONDS = 600


def _workspace_of(*, team_id: str | None, enterprise_id: str | None) -> str | None:
    key = team_id or enterprise_id
    return workspace_id(key) if key else None


class SqlInstallationStore(AsyncInstallationStore):
    """Installations in `slack_installations`, tokens sealed; DB work runs off the event loop."""

    def __init__(self, engine: Engine, vault: Vault) -> None:
        self._engine = engine
        self._vault = vault

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
        await asyncio.to_thread(self._save, ws, bot)

    def _save(self, ws: str, bot: Bot) -> None:
        token = self._vault.seal(bot.bot_token, workspace_id=ws, key_id=TOKEN_KEY_ID)
        refresh: Sealed | None = None
        if bot.bot_refresh_token:
            refresh = self._vault.seal(
                bot.bot_refresh_token, workspace_id=ws, key_id=REFRESH_KEY_ID
            )
        expires = (
            dt.datetime.fromtimestamp(bot.bot_token_expires_at, dt.UTC).replace(tzinfo=None)
            if bot.bot_token_expires_at
            else None
        )
        row = SlackInstallation(
            workspace_id=ws,
            team_id=bot.team_id,
            team_name=(bot.team_name or "")[:200],
            enterprise_id=bot.enterprise_id,
            is_enterprise_install=bool(bot.is_enterprise_install),
            app_id=bot.app_id,
            bot_id=bot.bot_id,
            bot_user_id=bot.bot_user_id,
            bot_scopes=",".join(bot.bot_scopes)[:2000],
            token_ciphertext=token.ciphertext,
            token_nonce=token.nonce,
            refresh_ciphertext=refresh.ciphertext if refresh else None,
            refresh_nonce=refresh.nonce if refresh else None,
            key_version=token.key_version,
            token_expires_at=expires,
            installer_user_id=None,
        )
        with session_scope(self._engine) as session:
            ensure_workspace(session, workspace_id=ws, platform="slack", name=bot.team_name or "")
            save_installation(session, row)
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
        return await asyncio.to_thread(self._find, enterprise_id, team_id)

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

    def _find(self, enterprise_id: str | None, team_id: str | None) -> Bot | None:
        with session_scope(self._engine) as session:
            row = None
            if team_id:
                row = find_installation(session, workspace_id=workspace_id(team_id))
            if row is None and enterprise_id:
                row = find_enterprise_installation(session, enterprise_id=enterprise_id)
        if row is None:
            return None
        token = self._vault.unseal(
            Sealed(row.token_ciphertext, row.token_nonce, row.key_version),
            workspace_id=row.workspace_id,
            key_id=TOKEN_KEY_ID,
        )
        refresh = None
        if row.refresh_ciphertext is not None and row.refresh_nonce is not None:
            refresh = self._vault.unseal(
                Sealed(row.refresh_ciphertext, row.refresh_nonce, row.key_version),
                workspace_id=row.workspace_id,
                key_id=REFRESH_KEY_ID,
            )
        expires = (
            int(row.token_expires_at.replace(tzinfo=dt.UTC).timestamp())
            if row.token_expires_at
            else None
        )
        return Bot(
            app_id=row.app_id,
            enterprise_id=row.enterprise_id,
            team_id=row.team_id,
            team_name=row.team_name,
            bot_token=token,
            bot_id=row.bot_id or "",
            bot_user_id=row.bot_user_id or "",
            bot_scopes=[s for s in row.bot_scopes.split(",") if s],
            bot_refresh_token=refresh,
            bot_token_expires_at=expires,
            is_enterprise_install=row.is_enterprise_install,
            installed_at=row.installed_at.replace(tzinfo=dt.UTC).timestamp(),
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
        removed = await asyncio.to_thread(self._delete, ws)
        logger.info("slack tokens of workspace %s deleted (%d row)", ws, removed)

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        """Same as deleting the installation (bolt calls this on app_uninstalled)."""
        await self.async_delete_installation(enterprise_id=enterprise_id, team_id=team_id)

    def _delete(self, ws: str) -> int:
        with session_scope(self._engine) as session:
            return delete_installation(session, workspace_id=ws)


class SqlStateStore(AsyncOAuthStateStore):
    """One-time OAuth `state` values in `slack_oauth_states` (shared by every replica)."""

    def __init__(self, engine: Engine, *, expiration_seconds: int = STATE_SECONDS) -> None:
        self._engine = engine
        self._ttl = dt.timedelta(seconds=expiration_seconds)

    @property
    def logger(self) -> logging.Logger:
        """The store's logger (bolt reads this attribute)."""
        return logger

    async def async_issue(self, *args: object, **kwargs: object) -> str:
        """A new random state, valid for the configured time."""
        state = secrets.token_urlsafe(32)
        await asyncio.to_thread(self._issue, state)
        return state

    def _issue(self, state: str) -> None:
        now = utcnow()
        with session_scope(self._engine) as session:
            prune_states(session, now=now)
            issue_state(session, state=state, expires_at=now + self._ttl)

    async def async_consume(self, state: str) -> bool:
        """True once for a state this app issued that has not expired."""
        return await asyncio.to_thread(self._consume, state)

    def _consume(self, state: str) -> bool:
        with session_scope(self._engine) as session:
            return consume_state(session, state=state[:200], now=utcnow())
