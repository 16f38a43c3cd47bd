"""Pending private key forms: open one, take it once (delete returning), prune old ones."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete
from sqlmodel import Session, col

from storage.models import PendingForm

_FORMS = PendingForm.__table__  # type: ignore[attr-defined]


def create_form(session: Session, form: PendingForm) -> None:
    """Record a form that was just opened (its token is the primary key)."""
    session.add(form)


def take_form(
    session: Session, *, token: str, workspace_id: str, user_id: str, opened_after: dt.datetime
) -> PendingForm | None:
    """Delete and return the form `token` if `user_id` opened it in `workspace_id` after
    `opened_after` (naive UTC); None otherwise, and then nothing is deleted.

    One statement: of two submissions racing on one token (two replicas, a replay), only
    the one whose DELETE removed the row gets it. Someone else's submission cannot burn
    the form of the user who opened it.
    """
    stmt = (
        delete(_FORMS)
        .where(
            _FORMS.c.token == token,
            _FORMS.c.workspace_id == workspace_id,
            _FORMS.c.user_id == user_id,
            _FORMS.c.created_at > opened_after,
        )
        .returning(*_FORMS.c)
    )
    row = session.execute(stmt).mappings().first()
    return None if row is None else PendingForm(**row)


def prune_forms(session: Session, *, opened_before: dt.datetime) -> int:
    """Delete forms opened before `opened_before` (naive UTC); return rows removed."""
    result = session.execute(
        delete(PendingForm).where(col(PendingForm.created_at) <= opened_before)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
