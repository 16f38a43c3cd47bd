"""Several budget counters at once: reserve on all of them or none, settle them all.

On PostgreSQL each is one statement that commits by itself: the counter rows are locked
first (`SELECT … ORDER BY ord FOR UPDATE`, in the order the caller gives, which every
call shares, so two calls never deadlock), and only when every counter exists and has
room does the UPDATE of all of them (and the INSERT of their lease rows) happen. Under
READ COMMITTED a locked row is the newest committed version, so the check sees what
the UPDATE changes, and the UPDATE itself (on the rows this statement already holds)
adds to that version. A hot counter every call takes is held from its lock to the
statement's commit: one round trip, not BEGIN, an UPDATE per budget and COMMIT.

SQLite serialises writers: the conditional UPDATEs run one by one in the caller's
transaction, and when one finds no room the ones before it are undone.

A settlement may come in two steps (PostgreSQL): `mark_statement` records the call's
cost on its leases and commits durably without locking a counter, then `release_marked`
swaps the leases for that cost on the counters with a commit that skips the WAL flush.
A durable commit holding the counters every call takes would make each call wait for
the flushes of the calls before it; if the second step is lost, the leases' sweep
charges the recorded cost (storage/leases.py).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Integer,
    String,
    and_,
    bindparam,
    case,
    cast,
    column,
    delete,
    false,
    func,
    literal_column,
    select,
    true,
    update,
    values,
)
from sqlalchemy.engine import Connection

from storage import budgets, rawsql
from storage.engine import in_autocommit
from storage.models import BudgetCounter, BudgetLease

_COUNTERS = BudgetCounter.__table__  # type: ignore[attr-defined]
_C = _COUNTERS.c
_LEASES = BudgetLease.__table__  # type: ignore[attr-defined]
_L = _LEASES.c
# A counter's key columns: (column of `want`, and of its parameters `b0`, `b1`, …; type).
_KEY = (("b", BigInteger), ("p", String), ("m", String))


@dataclass(frozen=True, slots=True)
class Hold:
    """One counter a call reserves on: `amount_pusd` if spent + reserved stays <= the limit."""

    budget_id: int
    period_start: str
    member: str
    amount_pusd: int
    limit_pusd: int


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a reservation on several counters found; nothing is held unless `reserved`."""

    reserved: bool
    missing: tuple[int, ...] = ()  # indices of holds whose counter row does not exist yet
    full: tuple[int, ...] = ()  # indices of holds whose counter has no room


def _want(count: int, *columns: tuple[str, Any]) -> Any:
    # The holds as a relation (VALUES), numbered in lock order: one scalar parameter per
    # column and hold (`b0`, `p0`, …). Scalars, not arrays: the driver dumps them for a
    # fraction of an array's cost, and the text is fixed for a number of holds, so it is
    # prepared once per connection.
    rows = [
        (
            *(bindparam(f"{name}{i}", type_=kind) for name, kind in columns),
            literal_column(f"{i + 1}"),
        )
        for i in range(count)
    ]
    shape = [column(name, kind) for name, kind in columns]
    return select(values(*shape, column("ord", Integer), name="h").data(rows)).cte("want")


def _holds_params(rows: Sequence[Sequence[object]], names: str) -> dict[str, object]:
    # `rows[i][j]` is bound to the parameter named `names[j]` followed by `i`.
    return {
        f"{name}{i}": value
        for i, row in enumerate(rows)
        for name, value in zip(names, row, strict=True)
    }


def _is_counter(want: Any) -> Any:
    return and_(_C.budget_id == want.c.b, _C.period_start == want.c.p, _C.member == want.c.m)


@functools.cache
def _reserve_all_pg(count: int) -> Any:
    want = _want(count, *_KEY, ("x", BigInteger), ("l", BigInteger))
    room = _C.spent_pusd + _C.reserved_pusd + want.c.x <= want.c.l
    locked = (
        select(want.c.ord, room.label("room"))
        .join_from(want, _COUNTERS, _is_counter(want))
        .order_by(want.c.ord)
        .with_for_update(of=_COUNTERS)
        .cte("locked")
    )
    everyone = and_(
        func.count() == literal_column(str(count)),
        func.coalesce(func.bool_and(locked.c.room), false()),
    )
    verdict = select(everyone.label("ok")).select_from(locked).cte("verdict")
    ok = select(verdict.c.ok).scalar_subquery()
    reserved = (
        update(_COUNTERS)
        .where(_is_counter(want), ok)
        .values(reserved_pusd=_C.reserved_pusd + want.c.x)
        .returning(want.c.b, want.c.p, want.c.m, want.c.x)
        .cte("reserved")
    )
    leased = budgets.insert_leases(
        reserved, budget=reserved.c.b, period=reserved.c.p, member=reserved.c.m, amount=reserved.c.x
    )
    # Only a reservation that took every counter relaxes the commit (its settlement,
    # or the record of a refusal, commits durably and flushes it too).
    relaxing = and_(ok, bindparam("relax", type_=Boolean))
    relaxed = case((relaxing, func.set_config("synchronous_commit", "off", true())))
    return (
        select(want.c.ord, locked.c.room, ok.label("ok"), relaxed.label("relaxed"))
        .select_from(want.outerjoin(locked, locked.c.ord == want.c.ord))
        .order_by(want.c.ord)
        .add_cte(leased)
    )


@functools.cache
def _settle_all_pg(count: int) -> Any:
    want = _want(count, *_KEY, ("r", BigInteger), ("s", BigInteger))
    # Leases first, then the counters in lock order (as a sweep does): the DELETE runs
    # before any counter is locked, because the lock's one-time filter reads it.
    released = (
        delete(_LEASES)
        .where(_L.id == bindparam("lease"), _L.budget_id == want.c.b)
        .returning(_L.budget_id, _L.amount_pusd, _L.spent_pusd)
        .cte("released")
    )
    locked = (
        select(want.c.ord)
        .join_from(want, _COUNTERS, _is_counter(want))
        .where(select(func.count()).select_from(released).scalar_subquery() >= 0)
        .order_by(want.c.ord)
        .with_for_update(of=_COUNTERS)
        .cte("locked")
    )

    def released_sum(amount: Any) -> Any:
        return select(func.sum(amount)).where(released.c.budget_id == _C.budget_id)

    # What the lease still held is taken back (`r` when no lease is named); the cost is
    # the one the lease recorded when the call settled in two steps, else `s`.
    taken_back = cast(
        func.coalesce(released_sum(released.c.amount_pusd).scalar_subquery(), want.c.r), BigInteger
    )
    charged = cast(
        func.coalesce(released_sum(released.c.spent_pusd).scalar_subquery(), want.c.s), BigInteger
    )
    relaxed = case(
        (bindparam("relax", type_=Boolean), func.set_config("synchronous_commit", "off", true()))
    )
    return (
        update(_COUNTERS)
        .where(_is_counter(want), select(func.count()).select_from(locked).scalar_subquery() >= 0)
        .values(
            reserved_pusd=_C.reserved_pusd - taken_back,
            spent_pusd=_C.spent_pusd + charged,
        )
        .returning(
            want.c.ord,
            _C.spent_pusd,
            _C.reserved_pusd,
            _C.alert80_sent,
            _C.alert100_sent,
            relaxed.label("relaxed"),
        )
    )


_MARK = (
    update(_LEASES)
    .where(_L.id == bindparam("lease"))
    .values(spent_pusd=bindparam("s", type_=BigInteger))
    .returning(_L.budget_id)
)


def reserve_all(
    conn: Connection,
    holds: Sequence[Hold],
    *,
    lease_id: str,
    expires_at: dt.datetime,
    relax_commit: bool = False,
) -> Outcome:
    """Reserve on every counter in `holds` (in that lock order) or on none.

    Each reserved counter gets its lease row (`lease_id`, until `expires_at`, naive
    UTC). With `relax_commit`, a reservation that took every counter lets its commit
    skip waiting for the WAL flush (PostgreSQL).
    """
    if conn.dialect.name != "postgresql":
        return _reserve_each(conn, holds, lease_id=lease_id, expires_at=expires_at)
    if len(holds) == 1:
        return _reserve_one(
            conn, holds[0], lease_id=lease_id, expires_at=expires_at, relax_commit=relax_commit
        )
    params = _holds_params(
        [(h.budget_id, h.period_start, h.member, h.amount_pusd, h.limit_pusd) for h in holds],
        "bpmxl",
    )
    params.update(lease=lease_id, exp=expires_at, relax=relax_commit)
    rows = rawsql.rows(conn, _reserve_all_pg(len(holds)), params)
    if rows and rows[0].ok:
        return Outcome(reserved=True)
    return Outcome(
        reserved=False,
        missing=tuple(index for index, row in enumerate(rows) if row.room is None),
        full=tuple(index for index, row in enumerate(rows) if row.room is False),
    )


def _reserve_one(
    conn: Connection, hold: Hold, *, lease_id: str, expires_at: dt.datetime, relax_commit: bool
) -> Outcome:
    # One counter needs no lock order: its conditional UPDATE (with the lease INSERT as
    # a CTE) decides alone. Refused, it cannot tell a missing row from a full one.
    reserved = _try_reserve(
        conn, hold, lease_id=lease_id, expires_at=expires_at, relax_commit=relax_commit
    )
    return Outcome(reserved=True) if reserved else Outcome(False, (0,), (0,))


def _try_reserve(
    conn: Connection,
    hold: Hold,
    *,
    lease_id: str,
    expires_at: dt.datetime,
    relax_commit: bool = False,
) -> bool:
    # One counter's conditional UPDATE with its lease: False when it had no room (or no row).
    state = budgets.try_reserve(
        conn,
        budget_id=hold.budget_id,
        period_start=hold.period_start,
        amount_pusd=hold.amount_pusd,
        limit_pusd=hold.limit_pusd,
        lease_id=lease_id,
        expires_at=expires_at,
        relax_commit=relax_commit,
        member=hold.member,
    )
    return state is not None


def _reserve_each(
    conn: Connection, holds: Sequence[Hold], *, lease_id: str, expires_at: dt.datetime
) -> Outcome:
    for index, hold in enumerate(holds):
        if not _try_reserve(conn, hold, lease_id=lease_id, expires_at=expires_at):
            for earlier in holds[:index]:
                budgets.settle(
                    conn,
                    budget_id=earlier.budget_id,
                    period_start=earlier.period_start,
                    reserved_pusd=earlier.amount_pusd,
                    spent_pusd=0,
                    lease_id=lease_id,
                    member=earlier.member,
                )
            return _classify(conn, holds)
    return Outcome(reserved=True)


def _classify(conn: Connection, holds: Sequence[Hold]) -> Outcome:
    # The writer's lock is held since the first UPDATE: these reads are what the next
    # attempt in this transaction will find.
    missing, full = [], []
    for index, hold in enumerate(holds):
        state = budgets.find_counter(
            conn, budget_id=hold.budget_id, period_start=hold.period_start, member=hold.member
        )
        if state is None:
            missing.append(index)
        elif state.spent_pusd + state.reserved_pusd + hold.amount_pusd > hold.limit_pusd:
            full.append(index)
    return Outcome(reserved=False, missing=tuple(missing), full=tuple(full))


@dataclass(frozen=True, slots=True)
class Release:
    """One counter a finished call settles: its lease's reservation for the real cost."""

    budget_id: int
    period_start: str
    member: str
    reserved_pusd: int  # taken back when no lease is named; with one, what it still holds


def settle_all_statement(count: int) -> Any:
    """The PostgreSQL UPDATE settling `count` counters, for callers that attach CTEs to it."""
    return _settle_all_pg(count)


def settle_all_params(
    releases: Sequence[Release],
    *,
    spent_pusd: int,
    lease_id: str | None,
    marked: Collection[int] = (),
    relax: bool = False,
) -> dict[str, object]:
    """The bind parameters of `settle_all_statement`.

    `marked`: the budgets whose lease recorded the cost (`mark_statement`), so their
    counters are charged what the lease holds, and nothing when it was swept meanwhile.
    With `relax`, the commit skips waiting for the WAL flush (PostgreSQL).
    """
    rows = [
        (
            r.budget_id,
            r.period_start,
            r.member,
            0 if lease_id is not None else r.reserved_pusd,
            0 if r.budget_id in marked else spent_pusd,
        )
        for r in releases
    ]
    params = _holds_params(rows, "bpmrs")
    params.update(lease=lease_id, relax=relax)
    return params


def mark_statement() -> Any:
    """Record a settling call's cost `s` on its lease rows `lease` (UPDATE … RETURNING).

    The durable first step of a settlement in two (`release_marked` is the second):
    callers attach the usage row to it as a CTE. It locks no counter, so its commit's
    WAL flush holds up no other call; it returns the budget id of each lease it found.
    """
    return _MARK


def release_marked(
    conn: Connection,
    releases: Sequence[Release],
    *,
    lease_id: str,
    spent_pusd: int,
    marked: Collection[int],
) -> list[budgets.CounterState | None]:
    """The second step: swap the call's leases for the cost they recorded, in lock order.

    One statement. A counter whose lease was marked takes what the lease holds (nothing
    when a sweep released it meanwhile: the sweep charged it); one whose lease was
    already gone before `mark_statement` is charged `spent_pusd`. When every lease was
    marked the commit need not wait for its WAL flush: the cost is durable on the lease,
    and a lost release is redone by the lease's sweep.
    """
    if conn.dialect.name != "postgresql":
        return [
            budgets.settle(
                conn,
                budget_id=r.budget_id,
                period_start=r.period_start,
                reserved_pusd=r.reserved_pusd,
                spent_pusd=0 if r.budget_id in marked else spent_pusd,
                lease_id=lease_id,
                member=r.member,
            )
            for r in releases
        ]
    relax = _committed_by_itself(conn) and all(r.budget_id in marked for r in releases)
    params = settle_all_params(
        releases, spent_pusd=spent_pusd, lease_id=lease_id, marked=marked, relax=relax
    )
    rows = rawsql.rows(conn, _settle_all_pg(len(releases)), params)
    return settled_states(rows, count=len(releases))


def _committed_by_itself(conn: Connection) -> bool:
    # Only a statement that commits alone may relax its commit: inside a transaction the
    # first step has not committed yet, and the whole transaction would skip the flush.
    info = getattr(conn.connection.dbapi_connection, "info", None)
    idle = info is not None and getattr(info.transaction_status, "name", "") == "IDLE"
    return idle and in_autocommit(conn)


def settled_states(rows: Sequence[Any], *, count: int) -> list[budgets.CounterState | None]:
    """The states `settle_all_statement` returned, in the releases' order (None: row gone)."""
    states: list[budgets.CounterState | None] = [None] * count
    for row in rows:
        states[row.ord - 1] = budgets.settled_state(row)
    return states


def settle_all(
    conn: Connection, releases: Sequence[Release], *, spent_pusd: int, lease_id: str | None
) -> list[budgets.CounterState | None]:
    """Swap one call's reservations on these counters for its real cost, in lock order."""
    if conn.dialect.name == "postgresql" and len(releases) > 1:
        params = settle_all_params(releases, spent_pusd=spent_pusd, lease_id=lease_id)
        rows = rawsql.rows(conn, _settle_all_pg(len(releases)), params)
        return settled_states(rows, count=len(releases))
    return [
        budgets.settle(
            conn,
            budget_id=release.budget_id,
            period_start=release.period_start,
            reserved_pusd=release.reserved_pusd,
            spent_pusd=spent_pusd,
            lease_id=lease_id,
            member=release.member,
        )
        for release in releases
    ]
