"""Budgets: periods in the workspace's timezone, atomic reservations, settling, alerts.

A call first reserves its worst-case cost against every budget that covers it (the
agent's and the workspace's), all in one transaction block: each budget takes one
conditional UPDATE (`… SET reserved = reserved + x WHERE spent + reserved + x <= limit
RETURNING …`; the period's counter row is created with INSERT … ON CONFLICT DO NOTHING
when the UPDATE finds none), and if any budget refuses, nothing stays held. After the
call the reservation is swapped for the real cost, and the 80% / 100% alert flags are
claimed exactly once per period.

Each reservation is a lease that expires `bot.budgets.leases.LEASE` after it was taken, so a
process that dies mid-call leaves nothing held for long: a budget that would refuse
first releases its counter's expired leases and asks once more.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import Connection

from bot.budgets.leases import LEASE, naive_utc
from bot.errors import BudgetExceeded
from bot.money import format_usd, from_pico
from storage import budgets as store
from storage import leases
from storage.budgets import BudgetRow
from storage.engine import transaction_block
from storage.models import new_id

ALERT_LEVELS = (80, 100)
_ADJECTIVE = {"day": "daily", "month": "monthly"}


def adjective(period: str) -> str:
    """`daily` / `monthly`."""
    return _ADJECTIVE.get(period, period)


def zone(name: str) -> ZoneInfo:
    """The workspace's timezone, UTC when the stored name is unknown."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def period_window(period: str, *, now: dt.datetime, tz: str) -> tuple[str, dt.datetime]:
    """The period key (`2026-11-27` or `2026-11`) holding `now` and when it resets (aware, tz)."""
    local = now.astimezone(zone(tz))
    if period == "day":
        start = local.date()
        nxt = start + dt.timedelta(days=1)
        key = start.isoformat()
    elif period == "month":
        start = local.date().replace(day=1)
        nxt = (start + dt.timedelta(days=32)).replace(day=1)
        key = f"{start.year:04d}-{start.month:02d}"
    else:
        raise ValueError(f"unknown budget period {period!r}")
    resets = dt.datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone(tz))
    return key, resets


def period_start_utc(period: str, *, now: dt.datetime, tz: str) -> dt.datetime:
    """When the period holding `now` began, as naive UTC (the usage table's convention)."""
    local = now.astimezone(zone(tz)).date()
    first = local if period == "day" else local.replace(day=1)
    start = dt.datetime(first.year, first.month, first.day, tzinfo=zone(tz))
    return start.astimezone(dt.UTC).replace(tzinfo=None)


def usd(amount: Decimal) -> str:
    """A limit or spend as typed: `$5.00`, `$0.10`, `$0.0001` (never rounded to zero)."""
    exponent = amount.normalize().as_tuple().exponent
    places = max(2, -exponent) if isinstance(exponent, int) else 2
    return format_usd(amount, places=min(places, 12))


def format_reset(resets_at: dt.datetime) -> str:
    """`2026-11-28 00:00 Europe/Berlin` for messages."""
    return f"{resets_at:%Y-%m-%d %H:%M} {resets_at.tzname() if resets_at.tzinfo else 'UTC'}"


@dataclass(frozen=True, slots=True)
class Held:
    """One budget's share of a reservation."""

    budget_id: int
    label: str  # "agent writer" | "workspace"
    period: str
    period_key: str
    starts_at: dt.datetime  # naive UTC: where a new period counter's spend is summed from
    resets_at: dt.datetime
    limit_pusd: int
    amount_pusd: int
    lease_id: str  # the call's lease, one row per budget
    reserved_at: dt.datetime  # naive UTC: when the reservation is asked for
    expires_at: dt.datetime  # naive UTC: when an unsettled lease may be swept


@dataclass(frozen=True, slots=True)
class Reservation:
    """What a call holds against its budgets until it settles."""

    held: tuple[Held, ...]
    amount_pusd: int


@dataclass(frozen=True, slots=True)
class Alert:
    """A budget that just crossed 80% or 100% in its period (claimed for this caller)."""

    label: str
    period: str
    level: int
    spent: Decimal
    limit: Decimal
    resets_at: dt.datetime

    def text(self) -> str:
        """The line posted to the digest channel."""
        usage = f"{usd(self.spent)} of {usd(self.limit)} spent"
        reset = format_reset(self.resets_at)
        what = f"Budget alert: the {adjective(self.period)} budget of {self.label}"
        if self.level >= 100:
            return (
                f"{what} has reached its limit ({usage}); "
                f"calls that would pass it are refused until {reset}."
            )
        return f"{what} has reached {self.level}% ({usage}); it resets {reset}."


def budget_label(row: BudgetRow, *, agent_name: str) -> str:
    """How a budget is named to users."""
    return "the workspace" if row.target == "workspace" else f"agent {agent_name}"


def refusal_text(held: Held) -> str:
    """The line a refused user sees: which budget, its limit, when it resets."""
    return (
        f"Budget exhausted: the {adjective(held.period)} budget of {held.label} "
        f"({usd(from_pico(held.limit_pusd))}) has no room for this call; "
        f"it resets {format_reset(held.resets_at)}."
    )


def plan(
    rows: Sequence[BudgetRow],
    *,
    agent_name: str,
    amount_pusd: int,
    now: dt.datetime,
    tz: str,
    lease: dt.timedelta = LEASE,
) -> tuple[Held, ...]:
    """Each applicable budget with its current period, the amount to hold and the lease."""
    lease_id, at = new_id(), naive_utc(now)
    held = []
    for row in rows:
        key, resets = period_window(row.period, now=now, tz=tz)
        held.append(
            Held(
                budget_id=row.id,
                label=budget_label(row, agent_name=agent_name),
                period=row.period,
                period_key=key,
                starts_at=period_start_utc(row.period, now=now, tz=tz),
                resets_at=resets,
                limit_pusd=row.limit_pusd,
                amount_pusd=amount_pusd,
                lease_id=lease_id,
                reserved_at=at,
                expires_at=at + lease,
            )
        )
    return tuple(held)


def reserve(
    conn: Connection, held: Sequence[Held], *, amount_pusd: int, relax_commit: bool = False
) -> Reservation:
    """Reserve against every budget in `held`, or release what it held and raise `BudgetExceeded`.

    Several budgets are reserved in one transaction block (see `transaction_block`): if
    any refuses, the ones before it are released, and on a connection in autocommit the
    block rolls back, so nothing stays held either way. With `relax_commit`, the
    reservation that completes the set also relaxes the commit (see
    `storage.budgets.try_reserve`): only a reservation that wholly succeeded is followed
    by a call, whose settlement commits durably.
    """
    if len(held) <= 1:
        _reserve_each(conn, held, relax_commit=relax_commit)
    else:
        with transaction_block(conn):
            _reserve_each(conn, held, relax_commit=relax_commit)
    return Reservation(held=tuple(held), amount_pusd=amount_pusd)


def _reserve_each(conn: Connection, held: Sequence[Held], *, relax_commit: bool) -> None:
    done: list[Held] = []
    for index, item in enumerate(held):
        last = relax_commit and index == len(held) - 1
        state = _try(conn, item, relax_commit=last)
        if state is None:
            # No room, or no counter row yet for this period: create it (a no-op if it
            # exists) and ask again; the conditional UPDATE alone decides.
            store.ensure_counter(
                conn,
                budget_id=item.budget_id,
                period_start=item.period_key,
                since=item.starts_at,
            )
            state = _try(conn, item, relax_commit=last)
        if state is None and _swept(conn, item):
            # Room held by calls whose processes died was just released: ask once more.
            state = _try(conn, item, relax_commit=last)
        if state is None:
            for earlier in done:
                store.settle(
                    conn,
                    budget_id=earlier.budget_id,
                    period_start=earlier.period_key,
                    reserved_pusd=earlier.amount_pusd,
                    spent_pusd=0,
                    lease_id=earlier.lease_id,
                )
            raise BudgetExceeded(
                refusal_text(item),
                budget=item.label,
                period=item.period,
                resets_at=item.resets_at,
            )
        done.append(item)


def _try(conn: Connection, item: Held, *, relax_commit: bool) -> store.CounterState | None:
    return store.try_reserve(
        conn,
        budget_id=item.budget_id,
        period_start=item.period_key,
        amount_pusd=item.amount_pusd,
        limit_pusd=item.limit_pusd,
        lease_id=item.lease_id,
        expires_at=item.expires_at,
        relax_commit=relax_commit,
    )


def _swept(conn: Connection, item: Held) -> bool:
    return leases.sweep_counter(
        conn, budget_id=item.budget_id, period_start=item.period_key, now=item.reserved_at
    )


def settle(
    conn: Connection, reservation: Reservation, *, spent_pusd: int, alerts_wanted: bool = True
) -> list[Alert]:
    """Swap the reservation for the real cost; return the alerts this call claimed.

    With `alerts_wanted` false (no digest channel to post to) no alert is claimed, so
    the alert still comes if a channel is set later in the period.
    """
    alerts: list[Alert] = []
    for item in reservation.held:
        state = store.settle(
            conn,
            budget_id=item.budget_id,
            period_start=item.period_key,
            reserved_pusd=item.amount_pusd,
            spent_pusd=spent_pusd,
            lease_id=item.lease_id,
        )
        if alerts_wanted:
            alerts.extend(claim_alerts(conn, item, state))
    return alerts


def alerts_due(item: Held, state: store.CounterState | None) -> bool:
    """True when a settled counter reached an alert level it has not had this period."""
    return state is not None and any(
        not state.alert_sent(level) for level in _levels(item, state.spent_pusd, refused=False)
    )


def claim_alerts(conn: Connection, item: Held, state: store.CounterState | None) -> list[Alert]:
    """Claim the alerts a settled counter has reached (None: its row is gone, no alert)."""
    if not alerts_due(item, state):
        return []
    assert state is not None
    return _claim_alerts(conn, item, spent_pusd=state.spent_pusd, refused=False, state=state)


def refused_alerts(conn: Connection, held: Sequence[Held]) -> list[Alert]:
    """After a refusal: claim the 100% alert of the budgets that are now full."""
    alerts: list[Alert] = []
    for item in held:
        state = store.read_counter(conn, budget_id=item.budget_id, period_start=item.period_key)
        # Full means no room even without other calls in flight; a refusal caused only by
        # concurrent reservations is not yet worth telling the admins about.
        if state.spent_pusd + item.amount_pusd > item.limit_pusd:
            alerts.extend(_claim_alerts(conn, item, spent_pusd=state.spent_pusd, refused=True))
    return alerts


def _levels(item: Held, spent_pusd: int, *, refused: bool) -> list[int]:
    limit = item.limit_pusd
    levels = []
    if limit > 0 and spent_pusd * 100 >= 80 * limit:
        levels.append(80)
    # A budget that refuses a call has reached its limit for practical purposes: spent
    # alone rarely lands exactly on it because every call reserves its worst case first.
    if refused or spent_pusd >= limit:
        levels.append(100)
    return levels


def _claim_alerts(
    conn: Connection,
    item: Held,
    *,
    spent_pusd: int,
    refused: bool,
    state: store.CounterState | None = None,
) -> list[Alert]:
    limit = item.limit_pusd
    alerts = []
    for level in _levels(item, spent_pusd, refused=refused):
        if state is not None and state.alert_sent(level):
            continue  # claimed earlier in the period: no UPDATE needed to learn that
        if store.claim_alert(
            conn, budget_id=item.budget_id, period_start=item.period_key, level=level
        ):
            alerts.append(
                Alert(
                    label=item.label,
                    period=item.period,
                    level=level,
                    spent=from_pico(spent_pusd),
                    limit=from_pico(limit),
                    resets_at=item.resets_at,
                )
            )
    return alerts
