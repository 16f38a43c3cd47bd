"""Audit trail rows: who, what, target, outcome, when."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, select

from storage.models import AuditEvent


def add_audit(
    session: Session,
    *,
    workspace_id: str,
    actor_id: str,
    action: str,
    target: str = "",
    outcome: str = "ok",
    detail: str = "",
) -> AuditEvent:
    """Append one audit row (the caller guarantees no secret or content is passed)."""
    event = AuditEvent(
        workspace_id=workspace_id,
        actor_id=actor_id[:64],
        action=action[:64],
        target=target[:200],
        outcome=outcome[:32],
        detail=detail[:300],
    )
    session.add(event)
    return event


def recent_audit(session: Session, *, workspace_id: str, limit: int = 20) -> Sequence[AuditEvent]:
    """The newest `limit` audit rows of one workspace, newest first."""
    stmt = (
        select(AuditEvent)
        .where(AuditEvent.workspace_id == workspace_id)
        .order_by(col(AuditEvent.created_at).desc(), col(AuditEvent.id).desc())
        .limit(limit)
    )
    return session.exec(stmt).all()
