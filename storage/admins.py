"""Granted admins (`/byok admins add|remove|list`)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, select

from storage.models import Admin


def is_granted(session: Session, *, workspace_id: str, user_id: str) -> bool:
    """True if `user_id` was granted admin rights in this workspace."""
    return session.get(Admin, (workspace_id, user_id)) is not None


def grant(session: Session, *, workspace_id: str, user_id: str, granted_by: str) -> bool:
    """Grant admin rights; False if the user already had them."""
    if is_granted(session, workspace_id=workspace_id, user_id=user_id):
        return False
    session.add(Admin(workspace_id=workspace_id, user_id=user_id, granted_by=granted_by))
    session.flush()
    return True


def revoke(session: Session, *, workspace_id: str, user_id: str) -> bool:
    """Take granted admin rights away; False if the user had none."""
    row = session.get(Admin, (workspace_id, user_id))
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


def list_admins(session: Session, *, workspace_id: str) -> Sequence[Admin]:
    """The granted admins of the workspace, oldest first."""
    stmt = (
        select(Admin)
        .where(Admin.workspace_id == workspace_id)
        .order_by(col(Admin.created_at), col(Admin.user_id))
    )
    return session.exec(stmt).all()
