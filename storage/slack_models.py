"""Slack OAuth tables: one installation per workspace (bot token sealed) and pending states.

The bot token and refresh token are stored only as AES-GCM ciphertexts sealed by the
vault and bound to (workspace id, key id); the plaintext never has a column.
"""

from __future__ import annotations

from pydantic import NaiveDatetime
from sqlalchemy import Column, LargeBinary
from sqlmodel import Field, SQLModel

from storage.models import naive_utcnow


class SlackInstallation(SQLModel, table=True):
    """The bot side of one Slack workspace's installation of the app."""

    __tablename__ = "slack_installations"

    workspace_id: str = Field(primary_key=True, max_length=64)  # "slack:T123"
    team_id: str | None = Field(default=None, max_length=32, index=True)
    team_name: str = Field(default="", max_length=200)
    enterprise_id: str | None = Field(default=None, max_length=32, index=True)
    is_enterprise_install: bool = Field(default=False)
    app_id: str | None = Field(default=None, max_length=32)
    bot_id: str | None = Field(default=None, max_length=32)
    bot_user_id: str | None = Field(default=None, max_length=32)
    bot_scopes: str = Field(default="", max_length=2000)
    token_ciphertext: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    token_nonce: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    refresh_ciphertext: bytes | None = Field(
        default=None, sa_column=Column(LargeBinary, nullable=True)
    )
    refresh_nonce: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    key_version: str = Field(max_length=32)  # fingerprint of the master key that sealed them
    token_expires_at: NaiveDatetime | None = None
    installer_user_id: str | None = Field(default=None, max_length=32)
    installed_at: NaiveDatetime = Field(default_factory=naive_utcnow)


class SlackOAuthState(SQLModel, table=True):
    """A one-time OAuth `state` value issued by `/slack/install`, consumed by the redirect."""

    __tablename__ = "slack_oauth_states"

    state: str = Field(primary_key=True, max_length=200)
    expires_at: NaiveDatetime = Field(index=True)
