"""Slack installations and OAuth states, tokens sealed, on the bot's database.

Bot tokens (and refresh tokens) are sealed with the vault, bound to the workspace and
a fixed key id, before they reach the database. Only the bot half of an installation
is kept: byokbot asks for no user scopes. Values in and out are plain (no chat-platform
SDK types); the Slack adapter translates them for slack-bolt. The database work runs
off the event loop.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from bot.transactions import runner_for
from bot.vault.cipher import Sealed, Vault
from storage.engine import session_scope
from storage.models import naive_utcnow
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

__all__ = [
    "REFRESH_KEY_ID",
    "STATE_SECONDS",
    "TOKEN_KEY_ID",
    "BotInstallation",
    "SlackInstallations",
    "SlackOAuthStates",
]

STATE_SECONDS = 600
STATE_BYTES = 32  # 43 URL-safe characters
STATE_MAX_CHARS = 200  # the column's width: a longer value was never issued


@dataclass(frozen=True, slots=True)
class BotInstallation:
    """The bot half of one workspace's installation, its tokens in the clear (memory only).

    Times are naive UTC. `installed_at` is set by the database when the installation
    is saved (a reinstall renews it); it is ignored on save.
    """

    workspace_id: str
    team_id: str | None
    team_name: str
    enterprise_id: str | None
    is_enterprise_install: bool
    app_id: str | None
    bot_id: str | None
    bot_user_id: str | None
    bot_scopes: tuple[str, ...]
    bot_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    token_expires_at: dt.datetime | None = None
    installed_at: dt.datetime | None = None


class SlackInstallations:
    """Installations in `slack_installations`, one per workspace, tokens sealed."""

    def __init__(self, engine: Engine, vault: Vault) -> None:
        self._engine = engine
        self._vault = vault

    async def save(self, install: BotInstallation) -> None:
        """Seal the tokens and insert or replace the workspace's installation (and make sure
        the workspace row exists for the core)."""
        await runner_for(self._engine).call(lambda: self._save(install))

    def _save(self, install: BotInstallation) -> None:
        ws = install.workspace_id
        token = self._vault.seal(install.bot_token, workspace_id=ws, key_id=TOKEN_KEY_ID)
        refresh: Sealed | None = None
        if install.refresh_token:
            refresh = self._vault.seal(
                install.refresh_token, workspace_id=ws, key_id=REFRESH_KEY_ID
            )
        row = SlackInstallation(
            workspace_id=ws,
            team_id=install.team_id,
            team_name=install.team_name[:200],
            enterprise_id=install.enterprise_id,
            is_enterprise_install=install.is_enterprise_install,
            app_id=install.app_id,
            bot_id=install.bot_id,
            bot_user_id=install.bot_user_id,
            bot_scopes=",".join(install.bot_scopes)[:2000],
            token_ciphertext=token.ciphertext,
            token_nonce=token.nonce,
            refresh_ciphertext=refresh.ciphertext if refresh else None,
            refresh_nonce=refresh.nonce if refresh else None,
            key_version=token.key_version,
            token_expires_at=install.token_expires_at,
            installer_user_id=None,
        )
        with session_scope(self._engine) as session:
            ensure_workspace(session, workspace_id=ws, platform="slack", name=install.team_name)
            save_installation(session, row)

    async def find(
        self, *, workspace_id: str | None, enterprise_id: str | None
    ) -> BotInstallation | None:
        """The workspace's installation, else the enterprise's org-wide one, tokens unsealed;
        None when neither exists. A token that does not open raises `DecryptionError`."""
        return await runner_for(self._engine).call(lambda: self._find(workspace_id, enterprise_id))

    def _find(self, workspace_id: str | None, enterprise_id: str | None) -> BotInstallation | None:
        with session_scope(self._engine) as session:
            row = None
            if workspace_id:
                row = find_installation(session, workspace_id=workspace_id)
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
        return BotInstallation(
            workspace_id=row.workspace_id,
            team_id=row.team_id,
            team_name=row.team_name,
            enterprise_id=row.enterprise_id,
            is_enterprise_install=row.is_enterprise_install,
            app_id=row.app_id,
            bot_id=row.bot_id,
            bot_user_id=row.bot_user_id,
            bot_scopes=tuple(s for s in row.bot_scopes.split(",") if s),
            bot_token=token,
            refresh_token=refresh,
            token_expires_at=row.token_expires_at,
            installed_at=row.installed_at,
        )

    async def delete(self, *, workspace_id: str) -> int:
        """Forget the workspace's installation and its tokens; return rows removed."""
        return await runner_for(self._engine).call(lambda: self._delete(workspace_id))

    def _delete(self, workspace_id: str) -> int:
        with session_scope(self._engine) as session:
            return delete_installation(session, workspace_id=workspace_id)


class SlackOAuthStates:
    """One-time OAuth `state` values in `slack_oauth_states` (shared by every replica)."""

    def __init__(self, engine: Engine, *, expiration_seconds: int = STATE_SECONDS) -> None:
        self._engine = engine
        self._ttl = dt.timedelta(seconds=expiration_seconds)

    async def issue(self) -> str:
        """A new random state, valid for the configured time (expired ones are pruned)."""
        state = secrets.token_urlsafe(STATE_BYTES)
        await runner_for(self._engine).call(lambda: self._issue(state))
        return state

    def _issue(self, state: str) -> None:
        now = naive_utcnow()
        with session_scope(self._engine) as session:
            prune_states(session, now=now)
            issue_state(session, state=state, expires_at=now + self._ttl)

    async def consume(self, state: str) -> bool:
        """True once for a state issued here that has not expired; False ever after."""
        return await runner_for(self._engine).call(lambda: self._consume(state))

    def _consume(self, state: str) -> bool:
        with session_scope(self._engine) as session:
            return consume_state(session, state=state[:STATE_MAX_CHARS], now=naive_utcnow())
