"""Provider key rows: look-ups by name, listing, and which agents use a key."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, select

from storage.models import Agent, ProviderKey


def get_key(session: Session, *, workspace_id: str, name: str) -> ProviderKey | None:
    """The workspace's key called `name`, whatever its status."""
    stmt = select(ProviderKey).where(
        ProviderKey.workspace_id == workspace_id, ProviderKey.name == name
    )
    return session.exec(stmt).first()


def get_key_by_id(session: Session, *, workspace_id: str, key_id: str) -> ProviderKey | None:
    """The key with this id, only if it belongs to the workspace."""
    key = session.get(ProviderKey, key_id)
    return key if key is not None and key.workspace_id == workspace_id else None


def list_keys(session: Session, *, workspace_id: str) -> Sequence[ProviderKey]:
    """Every key of the workspace, by name."""
    stmt = (
        select(ProviderKey)
        .where(ProviderKey.workspace_id == workspace_id)
        .order_by(col(ProviderKey.name))
    )
    return session.exec(stmt).all()


def agents_using_key(session: Session, *, workspace_id: str, key_id: str) -> list[str]:
    """Names of the workspace's agents that answer with this key."""
    stmt = (
        select(Agent.name)
        .where(Agent.workspace_id == workspace_id, Agent.key_id == key_id)
        .order_by(col(Agent.name))
    )
    return list(session.exec(stmt).all())
