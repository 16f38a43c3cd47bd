"""Budget counter rows: atomic reserve, settle and once-per-period alert claims.

Every statement here is a single conditional UPDATE (or an idempotent INSERT), so
several processes or replicas sharing one database can never together pass a limit:
the database serialises the updates of one counter row and re-checks the condition.
Statements are built once with bind parameters: they run on every chat message.

A reservation is a lease: the same statement (PostgreSQL) or transaction (SQLite) that
adds to `reserved_pusd` inserts a `budget_leases` row with the amount and an expiry, and
the settlement deletes that row and takes back only what it still holds. A process that
dies mid-call leaves its lease to expire and be swept (storage/leases.py); a late
settlement of a swept lease then charges its cost without touching reserved again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    String,
    bindparam,
    cast,
    delete,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from storage import rawsql
from storage.models import Budget, BudgetCounter, BudgetLease, UsageEvent

_COUNTERS = BudgetCounter.__table__  # type: ignore[attr-defined]
_BUDGETS = Budget.__table__  # type: ignore[attr-defined]
_C = _COUNTERS.c
_LEASES = BudgetLease.__table__  # type: ignore[attr-defined]
_L = _LEASES.c
_THIS_COUNTER = (
    _C.budget_id == bindparam("b"),
    _C.period_start == bindparam("p"),
    _C.member == bindparam("m"),
)
_STATE = (_C.spent_pusd, _C.reserved_pusd)
_FLAGS = (_C.alert80_sent, _C.alert100_sent)

# The budgets that cover a call by agent `a` for member `u`: the workspace's, the agent's,
# the member's own and the one every member has separately.
COVERS = or_(
    _BUDGETS.c.target == "workspace",
    _BUDGETS.c.target == "each-user",
    _BUDGETS.c.agent_id == bindparam("a"),
    _BUDGETS.c.member_id == bindparam("u"),
)
BUDGET_COLUMNS = (
    _BUDGETS.c.id,
    _BUDGETS.c.target,
    _BUDGETS.c.period,
    _BUDGETS.c.limit_pusd,
    _BUDGETS.c.soft,
)
_APPLICABLE = (
    select(*BUDGET_COLUMNS)
    .where(_BUDGETS.c.workspace_id == bindparam("w"), COVERS)
    .order_by(_BUDGETS.c.id)
)
_RESERVING = update(_COUNTERS).where(
    *_THIS_COUNTER,
    _C.spent_pusd + _C.reserved_pusd + bindparam("x") <= bindparam("limit"),
)
_RESERVE = _RESERVING.values(reserved_pusd=_C.reserved_pusd + bindparam("x")).returning(*_STATE)
# SQLite's second statement of a reservation, in the same transaction as `_RESERVE`.
_LEASE = insert(_LEASES).values(
    id=bindparam("lease"),
    budget_id=bindparam("b"),
    period_start=bindparam("p"),
    member=bindparam("m"),
    amount_pusd=bindparam("x"),
    expires_at=bindparam("exp"),
)


def insert_leases(reserved: Any, *, budget: Any, period: Any, member: Any, amount: Any) -> Any:
    """CTE: a lease row (id `:lease`, expiry `:exp`) for each row the `reserved` CTE returned."""
    # PostgreSQL only: it rides on the reserving UPDATE as a data-modifying CTE, so the
    # leases exist exactly for the counters that UPDATE changed.
    return (
        insert(_LEASES)
        .from_select(
            ["id", "budget_id", "period_start", "member", "amount_pusd", "expires_at"],
            select(
                cast(bindparam("lease"), String),
                budget,
                period,
                member,
                amount,
                cast(bindparam("exp"), DateTime),
            ).select_from(reserved),
        )
        .cte("leased")
    )


def _leased_reserve(*, relaxing: bool) -> Any:
    # PostgreSQL: the counter UPDATE and the lease INSERT in one statement (data-modifying
    # CTEs always run to completion), the lease inserted only when the UPDATE matched.
    reserved = _RESERVE.returning(_C.budget_id, _C.period_start, _C.member).cte("reserved")
    leased = insert_leases(
        reserved,
        budget=reserved.c.budget_id,
        period=reserved.c.period_start,
        member=reserved.c.member,
        amount=cast(bindparam("x"), BigInteger),
    )
    columns: list[Any] = [reserved.c.spent_pusd, reserved.c.reserved_pusd]
    if relaxing:
        # Also tell PostgreSQL that this transaction's COMMIT need not wait for its WAL
        # flush. It runs only for a row the UPDATE changed, so a refused reservation
        # leaves the commit durable.
        columns.append(func.set_config("synchronous_commit", "off", true()).label("relaxed"))
    return select(*columns).add_cte(leased)


_RESERVE_PG = {relaxing: _leased_reserve(relaxing=relaxing) for relaxing in (False, True)}

# Settling takes back what the call's lease still holds: deleted here, its amount is
# subtracted; already swept (the lease expired), nothing is. `r` is the amount to take
# back when the settlement names no lease (0 when it does).
# A lease that recorded its call's cost (settled in two steps, storage/counters.py)
# charges that cost; otherwise the settlement's `s` is charged.
_RELEASE = (
    delete(_LEASES)
    .where(_L.id == bindparam("lease"), _L.budget_id == bindparam("b"))
    .returning(_L.amount_pusd, _L.spent_pusd)
)
_RELEASED = _RELEASE.cte("released")


def _settle_stmt(taken_back: Any, charged: Any) -> Any:
    return (
        update(_COUNTERS)
        .where(*_THIS_COUNTER)
        .values(reserved_pusd=_C.reserved_pusd - taken_back, spent_pusd=_C.spent_pusd + charged)
        .returning(*_STATE, *_FLAGS)
    )


def _released(column: Any, otherwise: str) -> Any:
    total = func.coalesce(func.sum(column), bindparam(otherwise))
    return select(cast(total, BigInteger)).scalar_subquery()


_SETTLE = _settle_stmt(bindparam("r"), bindparam("s"))  # SQLite, after `_RELEASE`
_SETTLE_PG = _settle_stmt(
    _released(_RELEASED.c.amount_pusd, "r"), _released(_RELEASED.c.spent_pusd, "s")
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
            # A member's budget counts that member's calls only (`@user`: its member;
            # `each-user`: the counter's member).
            or_(_BUDGETS.c.member_id.is_(None), usage.c.user_id == _BUDGETS.c.member_id),
            or_(cast(bindparam("m"), String) == "", usage.c.user_id == bindparam("m")),
            usage.c.created_at >= bindparam("since"),
            usage.c.cost_pusd.is_not(None),
        )
        .scalar_subquery()
    )
    seed = select(
        _BUDGETS.c.id,
        bindparam("p"),
        cast(bindparam("m"), String),
        spent_so_far,
        literal(0),
        false(),
        false(),
    ).where(_BUDGETS.c.id == bindparam("b"))
    return (
        insert(_COUNTERS)
        .from_select(
            [
                "budget_id",
                "period_start",
                "member",
                "spent_pusd",
                "reserved_pusd",
                "alert80_sent",
                "alert100_sent",
            ],
            seed,
        )
        .on_conflict_do_nothing(index_elements=["budget_id", "period_start", "member"])
    )


_ENSURE = {"postgresql": _ensure_stmt(pg_insert), "sqlite": _ensure_stmt(sqlite_insert)}


@dataclass(frozen=True, slots=True)
class BudgetRow:
    """A budget that applies to a call."""

    id: int
    target: str  # "workspace", "agent:<agent id>", "user:<member id>" or "each-user"
    period: str  # day | month
    limit_pusd: int
    soft: bool = False

    @property
    def per_member(self) -> bool:
        """True for `each-user`: one counter per member."""
        return self.target == "each-user"

    @classmethod
    def of(cls, row: Any) -> BudgetRow:
        """From a row with `BUDGET_COLUMNS`."""
        return cls(
            id=row.id,
            target=row.target,
            period=row.period,
            limit_pusd=row.limit_pusd,
            soft=bool(row.soft),
        )


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
    conn: Connection, *, workspace_id: str, agent_id: str, user_id: str = ""
) -> Sequence[BudgetRow]:
    """The workspace's budgets that cover a call by `agent_id` for `user_id`, in id order."""
    params = {"w": workspace_id, "a": agent_id, "u": user_id}
    if conn.dialect.name == "postgresql":  # every call asks: its cached text (storage.rawsql)
        return [BudgetRow.of(row) for row in rawsql.rows(conn, _APPLICABLE, params)]
    return [BudgetRow.of(row) for row in conn.execute(_APPLICABLE, params)]


def ensure_counter(
    conn: Connection, *, budget_id: int, period_start: str, since: dt.datetime, member: str = ""
) -> None:
    """Create the period's counter row if it is missing (safe under concurrency).

    A new row starts from the scope's priced spend since `since` (the period's start,
    naive UTC): for a `member` counter, that member's.
    """
    params = {"b": budget_id, "p": period_start, "m": member, "since": since}
    conn.execute(_ENSURE[conn.dialect.name], params)


def try_reserve(
    conn: Connection,
    *,
    budget_id: int,
    period_start: str,
    amount_pusd: int,
    limit_pusd: int,
    lease_id: str,
    expires_at: dt.datetime,
    relax_commit: bool = False,
    member: str = "",
) -> CounterState | None:
    """Add `amount_pusd` to reserved if it still fits under the limit; None when it does not.

    `UPDATE … SET reserved = reserved + x WHERE budget AND period AND spent + reserved + x
    <= limit RETURNING spent, reserved`, and with it the lease row `lease_id` that holds
    `x` until `expires_at` (naive UTC): one statement on PostgreSQL, two in the caller's
    transaction on SQLite. With `relax_commit`, a reservation that succeeds also makes the
    transaction's commit skip waiting for the WAL flush (PostgreSQL only).
    """
    params = {
        "b": budget_id,
        "p": period_start,
        "m": member,
        "x": amount_pusd,
        "limit": limit_pusd,
        "lease": lease_id,
        "exp": expires_at,
    }
    if conn.dialect.name == "postgresql":
        row = rawsql.first(conn, _RESERVE_PG[relax_commit], params)
    else:
        row = conn.execute(_RESERVE, params).first()
        if row is not None:
            conn.execute(_LEASE, params)
    return None if row is None else CounterState(row.spent_pusd, row.reserved_pusd)


def settle(
    conn: Connection,
    *,
    budget_id: int,
    period_start: str,
    reserved_pusd: int,
    spent_pusd: int,
    lease_id: str | None = None,
    member: str = "",
) -> CounterState | None:
    """Swap a reservation for the real cost; None if the counter row is gone.

    With `lease_id`, what is taken back from reserved is what that lease still holds
    (nothing once it was swept), and the lease is deleted; without, `reserved_pusd`.
    """
    params = settle_params(
        budget_id=budget_id,
        period_start=period_start,
        reserved_pusd=reserved_pusd,
        spent_pusd=spent_pusd,
        lease_id=lease_id,
        member=member,
    )
    if conn.dialect.name == "postgresql":
        return settled_state(rawsql.first(conn, _SETTLE_PG, params))
    if lease_id is not None:
        held = conn.execute(_RELEASE, params).first()
        if held is not None:
            params["r"] = held.amount_pusd
            if held.spent_pusd is not None:
                params["s"] = held.spent_pusd
    return settled_state(conn.execute(_SETTLE, params).first())


def settle_statement() -> Any:
    """The PostgreSQL settlement UPDATE, for callers that attach CTEs to it (storage.accounting)."""
    return _SETTLE_PG


def settle_params(
    *,
    budget_id: int,
    period_start: str,
    reserved_pusd: int,
    spent_pusd: int,
    lease_id: str | None = None,
    member: str = "",
) -> dict[str, object]:
    """The bind parameters of the settlement UPDATE."""
    return {
        "b": budget_id,
        "p": period_start,
        "m": member,
        "r": 0 if lease_id is not None else reserved_pusd,
        "s": spent_pusd,
        "lease": lease_id,
    }


def settled_state(row: Any) -> CounterState | None:
    """The counter state a settlement UPDATE returned; None when no row matched."""
    if row is None:
        return None
    return CounterState(
        row.spent_pusd, row.reserved_pusd, bool(row.alert80_sent), bool(row.alert100_sent)
    )


def read_counter(
    conn: Connection, *, budget_id: int, period_start: str, member: str = ""
) -> CounterState:
    """The counter of one budget and period (zeros when no call has touched it yet)."""
    row = conn.execute(_READ, {"b": budget_id, "p": period_start, "m": member}).first()
    return CounterState(0, 0) if row is None else CounterState(row.spent_pusd, row.reserved_pusd)


def find_counter(
    conn: Connection, *, budget_id: int, period_start: str, member: str = ""
) -> CounterState | None:
    """The counter of one budget and period; None when its row does not exist yet."""
    row = conn.execute(_READ, {"b": budget_id, "p": period_start, "m": member}).first()
    return None if row is None else CounterState(row.spent_pusd, row.reserved_pusd)


def claim_alert(
    conn: Connection, *, budget_id: int, period_start: str, level: int, member: str = ""
) -> bool:
    """Flip the period's 80% or 100% alert flag; True only for the one caller that flipped it."""
    row = conn.execute(_ALERT[level], {"b": budget_id, "p": period_start, "m": member}).first()
    return row is not None
