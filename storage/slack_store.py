"""Queries on the Slack OAuth tables: installations (sealed tokens) and one-time states."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete
from sqlmodel import Session, col, select

from storage.slack_models import SlackInstallation, SlackOAuthState


def save_installation(session: Session, installation: SlackInstallation) -> None:
    """Insert or replace the installation of its workspace (a reinstall replaces the token)."""
    found = session.get(SlackInstallation, installation.workspace_id)
    if found is None:
        session.add(installation)
        return
    for name in SlackInstallation.model_fields:
        if name != "workspace_id":
            setattr(found, name, getattr(installation, name))
    session.add(found)


def find_installation(session: Session, *, workspace_id: str) -> SlackInstallation | None:
    """The installation of one workspace, if the app is installed there."""
    return session.get(SlackInstallation, workspace_id)


def find_enterprise_installation(
    session: Session, *, enterprise_id: str
) -> SlackInstallation | None:
    """An org-wide (Enterprise Grid) installation for the enterprise, if any."""
    stmt = select(SlackInstallation).where(
        col(SlackInstallation.enterprise_id) == enterprise_id,
        col(SlackInstallation.is_enterprise_install).is_(True),
    )
    return session.exec(stmt).first()


def delete_installation(session: Session, *, workspace_id: str) -> int:
    """Delete the workspace's installation (and so its tokens); return rows removed."""
    result = session.execute(
        delete(SlackInstallation).where(col(SlackInstallation.workspace_id) == workspace_id)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def list_installations(session: Session) -> list[SlackInstallation]:
    """Every installation (for re-encryption under a new master key)."""
    return list(session.exec(select(SlackInstallation)).all())


def issue_state(session: Session, *, state: str, expires_at: dt.datetime) -> None:
    """Record a freshly issued OAuth state (naive UTC expiry)."""
    session.add(SlackOAuthState(state=state, expires_at=expires_at))


def consume_state(session: Session, *, state: str, now: dt.datetime) -> bool:
    """Delete the state; True only if it existed and had not expired (one use only)."""
    found = session.get(SlackOAuthState, state)
    if found is None:
        return False
    # The DELETE's row count decides, so two replicas racing on one state cannot both win.
    result = session.execute(delete(SlackOAuthState).where(col(SlackOAuthState.state) == state))
    removed = int(result.rowcount or 0)  # type: ignore[attr-defined]
    return removed == 1 and found.expires_at > now


def prune_states(session: Session, *, now: dt.datetime) -> int:
    """Delete expired states; return rows removed."""
    result = session.execute(delete(SlackOAuthState).where(col(SlackOAuthState.expires_at) <= now))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# The key ids the Slack tokens are sealed with (the AES-GCM associated data binds them).
TOKEN_KEY_ID = "slack-bot-token"
REFRESH_KEY_ID = "slack-bot-refresh-token"
