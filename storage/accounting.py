"""A finished call's bookkeeping, in as few round trips as the backend allows.

`settle_call` writes the call's usage row, moves its key's last-used time when asked,
and swaps one budget counter's reservation (its lease, see storage/budgets.py) for the
real cost; `settle_call_counters` settles every counter of the call. On PostgreSQL a
call with leases settles in two statements that each commit by themselves: the usage
row, the key UPDATE and the cost recorded on the call's leases (committed durably; no
counter is locked, so its WAL flush holds up no other call), then the counters, in the
reservations' lock order, with the leases deleted (a commit that skips the flush: if it
is lost, the leases' sweep charges the recorded cost, storage/leases.py). Without a
lease the INSERT, the key UPDATE and the counter UPDATE are one statement (data-modifying
CTEs, which PostgreSQL always runs to completion).
SQLite runs the same work statement by statement in the caller's transaction (it has no
data-modifying CTEs, and its round trips are function calls).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, exc, insert, update
from sqlalchemy.engine import Connection

from storage import budgets, rawsql, usage
from storage.counters import (
    Release,
    mark_statement,
    release_marked,
    settle_all_params,
    settle_all_statement,
    settled_states,
)
from storage.models import ProviderKey, UsageEvent

logger = logging.getLogger(__name__)

_USAGE = UsageEvent.__table__  # type: ignore[attr-defined]
_KEYS = ProviderKey.__table__  # type: ignore[attr-defined]


@dataclasses.dataclass(frozen=True, slots=True)
class CounterSettlement:
    """One budget counter's reservation and the real cost that replaces it."""

    budget_id: int
    period_start: str
    reserved_pusd: int
    spent_pusd: int
    lease_id: str | None = None  # the reservation's lease: settle what it still holds
    member: str = ""  # the counter's member ("" for a counter shared by the scope)


@functools.cache
def _combined(
    columns: tuple[str, ...], *, touch: bool, counter: bool | None, several: int = 0
) -> Any:
    """The one PostgreSQL statement for a settlement of this shape (built once per shape)."""
    # The columns left out get their (constant) defaults as values the statement carries,
    # so that it runs as its cached text (storage.rawsql); a callable default keeps it on
    # SQLAlchemy's own path.
    given: dict[str, Any] = {name: bindparam(f"u_{name}") for name in columns}
    given.update(
        (c.name, bindparam(f"u_{c.name}", value=c.default.arg))
        for c in _USAGE.c
        if c.name not in given and c.default is not None and c.default.is_scalar
    )
    row = insert(_USAGE).values(given)
    ctes = []
    if touch:
        ctes.append(
            update(_KEYS)
            .where(_KEYS.c.id == bindparam("touch_key"))
            .values(last_used_at=bindparam("touch_at"))
            .cte("touched_key")
        )
    if counter is None:
        # The durable first step of a settlement in two: the usage row, the key and the
        # cost recorded on the call's leases; no counter is locked (storage/counters.py).
        return mark_statement().add_cte(row.cte("usage_row"), *ctes)
    if not counter:
        return row.add_cte(*ctes) if ctes else row
    settling = settle_all_statement(several) if several else budgets.settle_statement()
    return settling.add_cte(row.cte("usage_row"), *ctes)


def settle_call(
    conn: Connection,
    *,
    usage_row: Mapping[str, object],
    touch_key: str | None,
    at: dt.datetime,
    counter: CounterSettlement | None,
) -> budgets.CounterState | None:
    """Write the usage row, touch the key, settle the counter; the counter's new state.

    None when there was no counter to settle or its row is gone (a budget deleted
    mid-call).
    """
    settlement = None if counter is None else dataclasses.asdict(counter)
    if conn.dialect.name != "postgresql":
        usage.insert_usage(conn, usage_row)
        if touch_key is not None:
            usage.touch_key(conn, key_id=touch_key, at=at)
        if settlement is None:
            return None
        return budgets.settle(conn, **settlement)
    statement = _combined(
        tuple(usage_row), touch=touch_key is not None, counter=counter is not None
    )
    params: dict[str, object] = {f"u_{name}": value for name, value in usage_row.items()}
    if settlement is not None:
        params.update(budgets.settle_params(**settlement))
    if touch_key is not None:
        params.update(touch_key=touch_key, touch_at=at)
    row = rawsql.first(conn, statement, params)
    return None if counter is None else budgets.settled_state(row)


def settle_call_counters(
    conn: Connection,
    *,
    usage_row: Mapping[str, object],
    touch_key: str | None,
    at: dt.datetime,
    counters: Sequence[CounterSettlement],
) -> list[budgets.CounterState | None]:
    """`settle_call` for every counter of the call (one lease, one cost; in lock order).

    Each counter's new state, None for a row that is gone.
    """
    if conn.dialect.name == "postgresql" and counters and counters[0].lease_id is not None:
        return _settle_in_two(
            conn, usage_row=usage_row, touch_key=touch_key, at=at, counters=counters
        )
    if len(counters) <= 1 or conn.dialect.name != "postgresql":
        first = settle_call(
            conn,
            usage_row=usage_row,
            touch_key=touch_key,
            at=at,
            counter=counters[0] if counters else None,
        )
        return [first, *(settle_counter(conn, c) for c in counters[1:])] if counters else []
    lease, spent = counters[0].lease_id, counters[0].spent_pusd
    if any(c.lease_id != lease or c.spent_pusd != spent for c in counters):
        raise ValueError("the counters of one call share its lease and its cost")
    statement = _combined(
        tuple(usage_row), touch=touch_key is not None, counter=True, several=len(counters)
    )
    params: dict[str, object] = {f"u_{name}": value for name, value in usage_row.items()}
    releases = [Release(c.budget_id, c.period_start, c.member, c.reserved_pusd) for c in counters]
    params.update(settle_all_params(releases, spent_pusd=spent, lease_id=lease))
    if touch_key is not None:
        params.update(touch_key=touch_key, touch_at=at)
    rows = rawsql.rows(conn, statement, params)
    return settled_states(rows, count=len(counters))


def settle_counter(conn: Connection, counter: CounterSettlement) -> budgets.CounterState | None:
    """Settle one more counter of the same call (in the caller's transaction)."""
    return budgets.settle(conn, **dataclasses.asdict(counter))


def _settle_in_two(
    conn: Connection,
    *,
    usage_row: Mapping[str, object],
    touch_key: str | None,
    at: dt.datetime,
    counters: Sequence[CounterSettlement],
) -> list[budgets.CounterState | None]:
    """PostgreSQL: the usage row and the cost on the leases (durable), then the counters.

    The counters every call of a workspace shares are locked only by the second
    statement, whose commit skips the WAL flush: a durable commit holding them would
    make every other call wait for this one's flush. Its loss in a crash loses nothing:
    the lease's sweep charges the cost it recorded.
    """
    lease, spent = counters[0].lease_id, counters[0].spent_pusd
    assert lease is not None
    if any(c.lease_id != lease or c.spent_pusd != spent for c in counters):
        raise ValueError("the counters of one call share its lease and its cost")
    statement = _combined(tuple(usage_row), touch=touch_key is not None, counter=None)
    params: dict[str, object] = {f"u_{name}": value for name, value in usage_row.items()}
    params.update(lease=lease, s=spent)
    if touch_key is not None:
        params.update(touch_key=touch_key, touch_at=at)
    marked = {row.budget_id for row in rawsql.rows(conn, statement, params)}
    releases = [Release(c.budget_id, c.period_start, c.member, c.reserved_pusd) for c in counters]
    try:
        return release_marked(conn, releases, lease_id=lease, spent_pusd=spent, marked=marked)
    except exc.DBAPIError as error:
        if not (error.connection_invalidated or isinstance(error, exc.OperationalError)):
            raise
        # The first step committed: running this settlement again would write its usage
        # row twice. The lease's sweep releases the counters instead (within the lease).
        logger.warning("settled call %s left to its lease's sweep (database unavailable)", lease)
        return [None] * len(counters)
