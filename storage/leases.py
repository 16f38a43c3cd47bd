"""Expired reservation leases: release their amounts from the budget counters, exactly once.

A lease row (`budget_leases`) holds one call's reservation on one counter until the
call settles. When its process died, the lease expires and a sweep deletes it and
subtracts its amount from the counter's `reserved_pusd` in one statement (PostgreSQL,
data-modifying CTE) or one transaction (SQLite); a lease that already recorded its
call's cost (a settlement in two steps whose second step never ran, storage/counters.py)
adds that cost to `spent_pusd` too. The DELETE decides who releases a lease: several
sweepers, or a sweeper and a late settlement, racing for one row find it
deleted by the first and take nothing back (on PostgreSQL a sweeper skips lease rows
another is deleting). Locks go lease rows first, then the counter, one counter at a
time; a settlement too takes its lease rows first, then its counters (in the order its
reservation locked them, storage/counters.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, bindparam, cast, delete, exists, func, select, update
from sqlalchemy.engine import Connection

from storage.models import BudgetCounter, BudgetLease

_COUNTERS = BudgetCounter.__table__  # type: ignore[attr-defined]
_LEASES = BudgetLease.__table__  # type: ignore[attr-defined]
_C = _COUNTERS.c
_L = _LEASES.c

_EXPIRED = (
    delete(_LEASES)
    .where(
        _L.budget_id == bindparam("b"),
        _L.period_start == bindparam("p"),
        _L.member == bindparam("m"),
        _L.expires_at <= bindparam("now"),
    )
    .returning(_L.amount_pusd, _L.spent_pusd)
)
_TAKE_BACK = (
    update(_COUNTERS)
    .where(
        _C.budget_id == bindparam("b"),
        _C.period_start == bindparam("p"),
        _C.member == bindparam("m"),
    )
    .values(
        reserved_pusd=_C.reserved_pusd - bindparam("released"),
        spent_pusd=_C.spent_pusd + bindparam("charged"),
    )
)


def _sweep_pg() -> Any:
    # Leases another sweeper (or a settling call) has locked are skipped, not waited
    # for: that one releases them, and two sweepers never wait on each other's rows.
    doomed = (
        select(_L.id, _L.budget_id)
        .where(
            _L.budget_id == bindparam("b"),
            _L.period_start == bindparam("p"),
            _L.member == bindparam("m"),
            _L.expires_at <= bindparam("now"),
        )
        .with_for_update(skip_locked=True)
        .cte("doomed")
    )
    gone = (
        delete(_LEASES)
        .where(_L.id == doomed.c.id, _L.budget_id == doomed.c.budget_id)
        .returning(_L.amount_pusd, _L.spent_pusd)
        .cte("expired")
    )

    def total(column: Any) -> Any:
        return select(cast(func.coalesce(func.sum(column), 0), BigInteger)).scalar_subquery()

    # The DELETE runs to completion even when the counter row is gone (a deleted budget),
    # so orphaned leases are cleared too; the counter is written only when it gains room.
    return (
        update(_COUNTERS)
        .where(
            _C.budget_id == bindparam("b"),
            _C.period_start == bindparam("p"),
            _C.member == bindparam("m"),
            exists(select(gone.c.amount_pusd)),
        )
        .values(
            reserved_pusd=_C.reserved_pusd - total(gone.c.amount_pusd),
            spent_pusd=_C.spent_pusd + total(gone.c.spent_pusd),
        )
        .returning(_C.reserved_pusd)
    )


_SWEEP_PG = _sweep_pg()
_EXPIRED_COUNTERS = (
    select(_L.budget_id, _L.period_start, _L.member)
    .where(_L.expires_at <= bindparam("now"))
    .group_by(_L.budget_id, _L.period_start, _L.member)
    .order_by(_L.budget_id, _L.period_start, _L.member)
)


def sweep_counter(
    conn: Connection, *, budget_id: int, period_start: str, now: dt.datetime, member: str = ""
) -> bool:
    """Release the counter's leases that expired by `now` (naive UTC); True if any was."""
    params: dict[str, object] = {"b": budget_id, "p": period_start, "m": member, "now": now}
    if conn.dialect.name == "postgresql":
        return conn.execute(_SWEEP_PG, params).first() is not None
    gone = conn.execute(_EXPIRED, params).all()
    if gone:
        released = sum(row.amount_pusd for row in gone)
        charged = sum(row.spent_pusd or 0 for row in gone)
        conn.execute(_TAKE_BACK, {**params, "released": released, "charged": charged})
    return bool(gone)


def expired_counters(conn: Connection, *, now: dt.datetime) -> Sequence[tuple[int, str, str]]:
    """The (budget id, period, member) counters with leases expired by `now`, in lock order."""
    return [
        (row.budget_id, row.period_start, row.member)
        for row in conn.execute(_EXPIRED_COUNTERS, {"now": now})
    ]


def delete_budget_leases(conn: Connection, *, budget_ids: Sequence[int]) -> int:
    """Delete every lease of these budgets (the budgets are being deleted); how many."""
    if not budget_ids:
        return 0
    result = conn.execute(delete(_LEASES).where(_L.budget_id.in_(list(budget_ids))))
    return int(result.rowcount or 0)


def held_leases(conn: Connection) -> int:
    """How many leases are held now, expired or not (for checks and tests)."""
    return int(conn.execute(select(func.count()).select_from(_LEASES)).scalar_one())
