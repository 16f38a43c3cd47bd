"""Approval requests ("Ask an admin"): open, ask, decide and spend once, each one statement.

Every state change is a conditional `UPDATE … WHERE state IN (…) RETURNING`, so a button
pressed twice, or on two replicas, changes a request once; the allowance an approval
grants is spent by the same kind of statement, so two racing calls never both spend it.
No column holds the member's message: a request knows who, which agent and budget, and
the call's worst-case cost only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection

from storage.models import ApprovalRequest

_T = ApprovalRequest.__table__  # type: ignore[attr-defined]
_C = _T.c

PENDING = "pending"  # refused; the member has not asked yet
ASKED = "asked"  # posted to the digest channel with Approve / Deny
APPROVED = "approved"  # an allowance waiting to be spent
DENIED = "denied"
EXPIRED = "expired"
USED = "used"  # the allowance was spent by a call
OPEN = (PENDING, ASKED)


@dataclass(frozen=True, slots=True)
class ApprovalRow:
    """One approval request, as stored."""

    id: str
    workspace_id: str
    member_id: str
    agent_name: str
    budget_id: int
    budget_label: str
    period_start: str
    worst_pusd: int
    state: str
    allowance_pusd: int | None
    decided_by: str | None
    created_at: dt.datetime
    expires_at: dt.datetime


def _row(found: Any) -> ApprovalRow | None:
    if found is None:
        return None
    return ApprovalRow(**{name: getattr(found, name) for name in ApprovalRow.__slots__})


def open_request(conn: Connection, row: ApprovalRow) -> None:
    """Store a new request (state pending)."""
    values = {name: getattr(row, name) for name in ApprovalRow.__slots__}
    conn.execute(insert(_T).values(**values))


def get(conn: Connection, *, workspace_id: str, request_id: str) -> ApprovalRow | None:
    """The workspace's request with this id, if any."""
    stmt = select(_T).where(_C.id == request_id, _C.workspace_id == workspace_id)
    return _row(conn.execute(stmt).first())


def mark_asked(
    conn: Connection, *, workspace_id: str, request_id: str, member_id: str, now: dt.datetime
) -> ApprovalRow | None:
    """pending -> asked for the member who was refused, once and before it expires."""
    stmt = (
        update(_T)
        .where(
            _C.id == request_id,
            _C.workspace_id == workspace_id,
            _C.member_id == member_id,
            _C.state == PENDING,
            _C.expires_at > now,
        )
        .values(state=ASKED)
        .returning(*_C)
    )
    return _row(conn.execute(stmt).first())


def decide(
    conn: Connection,
    *,
    workspace_id: str,
    request_id: str,
    state: str,
    decided_by: str,
    allowance_pusd: int | None,
    now: dt.datetime,
) -> ApprovalRow | None:
    """pending/asked -> approved or denied, once and before it expires; None otherwise."""
    stmt = (
        update(_T)
        .where(
            _C.id == request_id,
            _C.workspace_id == workspace_id,
            _C.state.in_(OPEN),
            _C.expires_at > now,
        )
        .values(state=state, decided_by=decided_by[:64], allowance_pusd=allowance_pusd)
        .returning(*_C)
    )
    return _row(conn.execute(stmt).first())


def expire(conn: Connection, *, workspace_id: str, request_id: str, now: dt.datetime) -> bool:
    """Mark an open request past its hour expired; True if this call did."""
    stmt = (
        update(_T)
        .where(
            _C.id == request_id,
            _C.workspace_id == workspace_id,
            _C.state.in_(OPEN),
            _C.expires_at <= now,
        )
        .values(state=EXPIRED)
    )
    return conn.execute(stmt).rowcount == 1


_CANDIDATE = (
    select(_C.id)
    .where(
        _C.budget_id == bindparam("b"),
        _C.period_start == bindparam("p"),
        _C.member_id == bindparam("m"),
        _C.state == APPROVED,
        _C.allowance_pusd >= bindparam("x"),
    )
    .order_by(_C.allowance_pusd, _C.id)
    .limit(1)
    .scalar_subquery()
)
# The outer `state = approved` is re-checked on the row PostgreSQL locks: of two calls that
# picked the same allowance, the second finds it used and takes nothing.
_TAKE = (
    update(_T).where(_C.id == _CANDIDATE, _C.state == APPROVED).values(state=USED).returning(_C.id)
)
_GIVE_BACK = update(_T).where(_C.id == bindparam("i"), _C.state == USED).values(state=APPROVED)


def take_allowance(
    conn: Connection, *, budget_id: int, period_start: str, member_id: str, amount_pusd: int
) -> str | None:
    """Spend one approved allowance of at least `amount_pusd` for this member, budget and
    period; its request id, or None when there is none."""
    params = {"b": budget_id, "p": period_start, "m": member_id, "x": amount_pusd}
    found = conn.execute(_TAKE, params).first()
    return None if found is None else str(found[0])


def give_back(conn: Connection, *, request_id: str) -> None:
    """Return an allowance taken by a reservation that another budget refused."""
    conn.execute(_GIVE_BACK, {"i": request_id})
