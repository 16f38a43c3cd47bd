"""Budget counter rows: atomic reserve, settle and once-per-period alert claims.

Every statement here is a single conditional UPDATE (or an idempotent INSERT), so
several processes or replicas sharing one database can never together pass a limit:
the database serialises the updates of one counter row and re-checks the condition.
Statements are built once with bind parameters: they run on every chat message.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, false, func, literal, or_, select, true, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from storage.models import Budget, BudgetCounter, UsageEvent

_COUNTERS = BudgetCounter.__table__  # type: ignore[attr-defined]
_BUDGETS = Budget.__table__  # type: ignore[attr-defined]
_C = _COUNTERS.c
_THIS_COUNTER = (_C.budget_id == bindparam("b"), _C.period_start == bindparam("p"))
_STATE = (_C.spent_pusd, _C.reserved_pusd)
_FLAGS = (_C.alert80_sent, _C.alert100_sent)

_APPLICABLE = (
    select(_BUDGETS.c.id, _BUDGETS.c.target, _BUDGETS.c.period, _BUDGETS.c.limit_pusd)
    .where(
        _BUDGETS.c.workspace_id == bindparam("w"),
        or_(_BUDGETS.c.target == "workspace", _BUDGETS.c.agent_id == bindparam("a")),
    )
    .order_by(_BUDGETS.c.id)
)
_RESERVE = (
    update(_COUNTERS)
    .where(
        *_THIS_COUNTER,
        _C.spent_pusd + _C.reserved_pusd + bindparam("x") <= bindparam("limit"),
    )
    .values(reserved_pusd=_C.reserved_pusd + bindparam("x"))
    .returning(*_STATE)
)
# The same, also telling PostgreSQL that this transaction's COMMIT need not wait for its
# WAL flush. In RETURNING, set_config runs only for a row the UPDATE changed, so a
# refused reservation leaves the commit durable.
_RESERVE_RELAXING = _RESERVE.returning(
    func.set_config("synchronous_commit", "off", true()).label("relaxed")
)
_SETTLE = (
    update(_COUNTERS)
    .where(*_THIS_COUNTER)
    .values(
        reserved_pusd=_C.reserved_pusd - bindparam("r"),
        spent_pusd=_C.spent_pusd + bindparam("s"),
    )
    .returning(*_STATE, *_FLAGS)
)
_READ = select(*_STATE).where(*_THIS_COUNTER)
_ALERT = {
    level: update(_COUNTERS)
    .where(*_THIS_COUNTER, flag == false())
    .values({flag: true()})
    .returning(_C.budget_id)
    for level, flag in ((80, _C.alert80_sent), (100, _C.alert100_sent))
}


def _ensure_stmt(insert: Any) -> Any:
    # A counter created mid-period (a limit set at 15:00, or the first call of a period
    # after calls made under no limit) starts from what the budget's scope already spent
    # in the period, so a limit set today counts today's earlier spend.
    usage = UsageEvent.__table__  # type: ignore[attr-defined]
    spent_so_far = (
        select(func.coalesce(func.sum(usage.c.cost_pusd), 0))
        .where(
            usage.c.workspace_id == _BUDGETS.c.workspace_id,
            or_(_BUDGETS.c.agent_id.is_(None), usage.c.agent_id == _BUDGETS.c.agent_id),
            usage.c.created_at >= bindparam("since"),
            usage.c.cost_pusd.is_not(None),
        )
        .scalar_subquery()
    )
    seed = select(_BUDGETS.c.id, bindparam("p"), spent_so_far, literal(0), false(), false()).where(
        _BUDGETS.c.id == bindparam("b")
    )
    return (
        insert(_COUNTERS)
        .from_select(
            [
                "budget_id",
                "period_start",
                "spent_pusd",
                "reserved_pusd",
                "alert80_sent",
                "alert100_sent",
            ],
            seed,
        )
        .on_conflict_do_nothing(index_elements=["budget_id", "period_start"])
    )


_ENSURE = {"postgresql": _ensure_stmt(pg_insert), "sqlite": _ensure_stmt(sqlite_insert)}


@dataclass(frozen=True, slots=True)
class BudgetRow:
    """A budget that applies to a call."""

    id: int
    target: str  # "workspace" or "agent:<agent id>"
    period: str  # day | month
    limit_pusd: int


@dataclass(frozen=True, slots=True)
class CounterState:
    """Spent and reserved pico-dollars of one budget in one period (and its alert flags)."""

    spent_pusd: int
    reserved_pusd: int
    alert80_sent: bool = False
    alert100_sent: bool = False

    def alert_sent(self, level: int) -> bool:
        """Whether the period's alert at `level` (80 or 100) was already claimed."""
        return self.alert100_sent if level >= 100 else self.alert80_sent


def applicable_budgets(
    conn: Connection, *, workspace_id: str, agent_id: str
) -> Sequence[BudgetRow]:
    """The workspace's budgets that cover a call by `agent_id`, in id order (lock order)."""
    return [
        BudgetRow(id=row.id, target=row.target, period=row.period, limit_pusd=row.limit_pusd)
        for row in conn.execute(_APPLICABLE, {"w": workspace_id, "a": agent_id})
    ]


def ensure_counter(
    conn: Connection, *, budget_id: int, period_start: str, since: dt.datetime
) -> None:
    """Create the period's counter row if it is missing (safe under concurrency).

    A new row starts from the scope's priced spend since `since` (the period's start,
    naive UTC).
    """
    params = {"b": budget_id, "p": period_start, "since": since}
    conn.execute(_ENSURE[conn.dialect.name], params)


def try_reserve(
    conn: Connection,
    *,
    budget_id: int,
    period_start: str,
    amount_pusd: int,
    limit_pusd: int,
    relax_commit: bool = False,
) -> CounterState | None:
    """Add `amount_pusd` to reserved if it still fits under the limit; None when it does not.

    One statement: `UPDATE … SET reserved = reserved + x WHERE budget AND period AND
    spent + reserved + x <= limit RETURNING spent, reserved`. With `relax_commit`, a
    reservation that succeeds also makes the transaction's commit skip waiting for the
    WAL flush (PostgreSQL; SQLite has no such setting and ignores it).
    """
    params = {"b": budget_id, "p": period_start, "x": amount_pusd, "limit": limit_pusd}
    relaxing = relax_commit and conn.dialect.name == "postgresql"
    row = conn.execute(_RESERVE_RELAXING if relaxing else _RESERVE, params).first()
    return None if row is None else CounterState(row.spent_pusd, row.reserved_pusd)


def settle(
    conn: Connection, *, budget_id: int, period_start: str, reserved_pusd: int, spent_pusd: int
) -> CounterState | None:
    """Swap a reservation for the real cost in one statement; None if the row is gone."""
    return settled_state(
        conn.execute(
            _SETTLE,
            settle_params(
                budget_id=budget_id,
                period_start=period_start,
                reserved_pusd=reserved_pusd,
                spent_pusd=spent_pusd,
            ),
        ).first()
    )


def settle_statement() -> Any:
    """The settlement UPDATE (for callers that attach work to it, see storage.accounting)."""
    return _SETTLE


def settle_params(
    *, budget_id: int, period_start: str, reserved_pusd: int, spent_pusd: int
) -> dict[str, object]:
    """The bind parameters of the settlement UPDATE."""
    return {"b": budget_id, "p": period_start, "r": reserved_pusd, "s": spent_pusd}


def settled_state(row: Any) -> CounterState | None:
    """The counter state a settlement UPDATE returned; None when no row matched."""
    if row is None:
        return None
    return CounterState(
        row.spent_pusd, row.reserved_pusd, bool(row.alert80_sent), bool(row.alert100_sent)
    )


def read_counter(conn: Connection, *, budget_id: int, period_start: str) -> CounterState:
    """The counter of one budget and period (zeros when no call has touched it yet)."""
    row = conn.execute(_READ, {"b": budget_id, "p": period_start}).first()
    return CounterState(0, 0) if row is None else CounterState(row.spent_pusd, row.reserved_pusd)


def claim_alert(conn: Connection, *, budget_id: int, period_start: str, level: int) -> bool:
    """Flip the period's 80% or 100% alert flag; True only for the one caller that flipped it."""
    row = conn.execute(_ALERT[level], {"b": budget_id, "p": period_start}).first()
    return row is not None
