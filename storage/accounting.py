"""A finished call's bookkeeping, in as few round trips as the backend allows.

`settle_call` writes the call's usage row, moves its key's last-used time when asked,
and swaps one budget counter's reservation (its lease, see storage/budgets.py) for the
real cost. On PostgreSQL that is a single statement — the INSERT, the key UPDATE and the
lease DELETE ride along as data-modifying CTEs of the counter UPDATE, which PostgreSQL
always runs to completion — so the caller can run it outside a transaction block: one
round trip, committed durably by itself, instead of BEGIN, four statements and COMMIT.
SQLite runs the same work statement by statement in the caller's transaction (it has no
data-modifying CTEs, and its round trips are function calls).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy.engine import Connection

from storage import budgets, usage
from storage.models import ProviderKey, UsageEvent

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
def _combined(columns: tuple[str, ...], *, touch: bool, counter: bool) -> Any:
    """The one PostgreSQL statement for a settlement of this shape (built once per shape)."""
    row = insert(_USAGE).values({name: bindparam(f"u_{name}") for name in columns})
    ctes = []
    if touch:
        ctes.append(
            update(_KEYS)
            .where(_KEYS.c.id == bindparam("touch_key"))
            .values(last_used_at=bindparam("touch_at"))
            .cte("touched_key")
        )
    if not counter:
        return row.add_cte(*ctes) if ctes else row
    return budgets.settle_statement().add_cte(row.cte("usage_row"), *ctes)


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
    result = conn.execute(statement, params)
    return None if counter is None else budgets.settled_state(result.first())


def settle_counter(conn: Connection, counter: CounterSettlement) -> budgets.CounterState | None:
    """Settle one more counter of the same call (in the caller's transaction)."""
    return budgets.settle(conn, **dataclasses.asdict(counter))
