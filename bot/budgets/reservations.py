"""Budgets: periods in the workspace's timezone, atomic reservations, settling, alerts.

A call first reserves its worst-case cost against every budget that covers it (the
workspace's, the agent's, the member's own and the per-member one, whose counters are
kept per member), all in one transaction block: each budget takes one
conditional UPDATE (`… SET reserved = reserved + x WHERE spent + reserved + x <= limit
RETURNING …`; the period's counter row is created with INSERT … ON CONFLICT DO NOTHING
when the UPDATE finds none), and if any budget refuses, nothing stays held. After the
call the reservation is swapped for the real cost, and the 80% / 100% alert flags are
claimed exactly once per period, on settled spend only. A soft budget reserves too (so
`limit list` shows what is in flight) but never refuses.

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
from bot.budgets.refusal import CallCost, limit_name, refusal_text, reset_phrase
from bot.errors import BudgetExceeded
from bot.money import format_usd, from_pico
from storage import approvals, leases
from storage import budgets as store
from storage.budgets import BudgetRow
from storage.engine import transaction_block
from storage.models import new_id

ALERT_LEVELS = (80, 100)
# The reservation condition of a soft budget: room is never lacking.
_NO_LIMIT = 2**62
_LOCK_RANK = {"each-user": 0, "user": 1, "agent": 2, "workspace": 3}
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


def format_reset(resets_at: dt.datetime) -> str:
    """`2026-11-28 00:00 Europe/Berlin` for messages."""
    return f"{resets_at:%Y-%m-%d %H:%M} {resets_at.tzname() if resets_at.tzinfo else 'UTC'}"


@dataclass(frozen=True, slots=True)
class Held:
    """One budget's share of a reservation."""

    budget_id: int
    label: str  # "agent writer" | "the workspace" | "member <@U1>" | "<@U1> (each member)"
    period: str
    period_key: str
    starts_at: dt.datetime  # naive UTC: where a new period counter's spend is summed from
    resets_at: dt.datetime
    limit_pusd: int
    amount_pusd: int
    lease_id: str  # the call's lease, one row per budget
    reserved_at: dt.datetime  # naive UTC: when the reservation is asked for
    expires_at: dt.datetime  # naive UTC: when an unsettled lease may be swept
    scope: str = "workspace"  # workspace | agent | user | each-user
    member: str = ""  # the counter's member: "" unless the budget is `each-user`
    caller: str = ""  # the member making the call
    agent_name: str = ""
    soft: bool = False

    @property
    def condition_limit(self) -> int:
        """The limit the reservation UPDATE checks (none for a soft budget)."""
        return _NO_LIMIT if self.soft else self.limit_pusd


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
    soft: bool = False

    def text(self) -> str:
        """The line posted to the digest channel."""
        usage = f"{format_usd(self.spent)} of {format_usd(self.limit)} spent"
        reset = format_reset(self.resets_at)
        kind = "soft " if self.soft else ""
        what = f"Budget alert: the {adjective(self.period)} {kind}budget of {self.label}"
        if self.level >= 100 and self.soft:
            return f"{what} has reached its limit ({usage}); calls still go ahead until {reset}."
        if self.level >= 100:
            return (
                f"{what} has reached its limit ({usage}); "
                f"calls that would pass it are refused until {reset}."
            )
        return f"{what} has reached {self.level}% ({usage}); it resets {reset}."


def scope_of(target: str) -> str:
    """`workspace`, `agent`, `user` or `each-user` from a `budgets.target`."""
    return target.split(":", 1)[0] if ":" in target else target


def budget_label(row: BudgetRow, *, agent_name: str, member: str = "") -> str:
    """How a budget is named to admins (alerts); `member` as the platform shows users."""
    scope = scope_of(row.target)
    if scope == "workspace":
        return "the workspace"
    if scope == "agent":
        return f"agent {agent_name}"
    if scope == "user":
        return f"member {member}"
    return f"{member} (each member)"


def show_member(user_id: str, *, platform: str) -> str:
    """A member as the platform writes users: `<@U1>`, or `@U1` in the console."""
    return f"@{user_id}" if platform == "console" else f"<@{user_id}>"


def plan(
    rows: Sequence[BudgetRow],
    *,
    agent_name: str,
    amount_pusd: int,
    now: dt.datetime,
    tz: str,
    lease: dt.timedelta = LEASE,
    member: str = "",
    platform: str = "",
) -> tuple[Held, ...]:
    """Each applicable budget with its current period, the amount to hold and the lease.

    `member` is the caller: an `each-user` budget holds on that member's own counter.
    """
    lease_id, at = new_id(), naive_utc(now)
    shown = show_member(member, platform=platform)
    held = []
    for row in rows:
        key, resets = period_window(row.period, now=now, tz=tz)
        held.append(
            Held(
                budget_id=row.id,
                label=budget_label(row, agent_name=agent_name, member=shown),
                scope=scope_of(row.target),
                member=member if row.per_member else "",
                caller=member,
                agent_name=agent_name,
                soft=row.soft,
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
    # Lock order: the coldest counters first, the workspace's (the one every call of the
    # workspace takes) last, so a hot row is held only for its own UPDATE and the COMMIT.
    # Every call orders the same way (scope, then id), so two calls never deadlock.
    return tuple(sorted(held, key=lambda item: (_LOCK_RANK.get(item.scope, 0), item.budget_id)))


def reserve(
    conn: Connection,
    held: Sequence[Held],
    *,
    amount_pusd: int,
    relax_commit: bool = False,
    cost: CallCost | None = None,
    now: dt.datetime | None = None,
) -> Reservation:
    """Reserve against every budget in `held`, or release what it held and raise `BudgetExceeded`.

    Several budgets are reserved in one transaction block (see `transaction_block`): if
    any refuses, the ones before it are released, and on a connection in autocommit the
    block rolls back, so nothing stays held either way. With `relax_commit`, the
    reservation that completes the set also relaxes the commit (see
    `storage.budgets.try_reserve`): only a reservation that wholly succeeded is followed
    by a call, whose settlement commits durably.
    """
    try:
        if len(held) <= 1:
            _reserve_each(conn, held, relax_commit=relax_commit)
        else:
            with transaction_block(conn):
                _reserve_each(conn, held, relax_commit=relax_commit)
    except _Refused as refused:
        # What is left is read only now, after the block: a refusal is the rare path.
        raise refusal(conn, refused.item, cost=cost or CallCost(), now=now) from None
    return Reservation(held=tuple(held), amount_pusd=amount_pusd)


class _Refused(Exception):
    """Inside `reserve`: this budget had no room (nothing stays held)."""

    def __init__(self, item: Held) -> None:
        super().__init__(item.budget_id)
        self.item = item


def refusal(
    conn: Connection, item: Held, *, cost: CallCost, now: dt.datetime | None
) -> BudgetExceeded:
    """The `BudgetExceeded` of a budget that refused: what is left, the worst case, the reset."""
    state = store.read_counter(
        conn, budget_id=item.budget_id, period_start=item.period_key, member=item.member
    )
    left = from_pico(max(0, item.limit_pusd - state.spent_pusd - state.reserved_pusd))
    limit = from_pico(item.limit_pusd)
    at = now or item.reserved_at.replace(tzinfo=dt.UTC)
    name = limit_name(scope=item.scope, period=item.period, agent_name=item.agent_name, caller=True)
    text = refusal_text(
        budget=name, left=left, limit=limit, cost=cost, reset=reset_phrase(item.resets_at, now=at)
    )
    return BudgetExceeded(
        text,
        budget=name,
        period=item.period,
        resets_at=item.resets_at,
        budget_id=item.budget_id,
        scope=item.scope,
        member=item.caller if item.scope in ("user", "each-user") else "",
        worst_case=cost.worst,
        left=left,
        limit=limit,
        prompt_tokens=cost.prompt_tokens,
        max_output_tokens=cost.max_output_tokens,
        model=cost.model,
    )


def _reserve_each(conn: Connection, held: Sequence[Held], *, relax_commit: bool) -> None:
    done: list[Held] = []
    allowances: list[str] = []  # approval allowances this call spent (given back on refusal)
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
                member=item.member,
            )
            state = _try(conn, item, relax_commit=last)
        if state is None and _swept(conn, item):
            # Room held by calls whose processes died was just released: ask once more.
            state = _try(conn, item, relax_commit=last)
        if state is None:
            state = _by_allowance(conn, item, allowances, relax_commit=last)
        if state is None:
            for taken in allowances:
                approvals.give_back(conn, request_id=taken)
            for earlier in done:
                store.settle(
                    conn,
                    budget_id=earlier.budget_id,
                    period_start=earlier.period_key,
                    reserved_pusd=earlier.amount_pusd,
                    spent_pusd=0,
                    lease_id=earlier.lease_id,
                    member=earlier.member,
                )
            raise _Refused(item)
        done.append(item)


def _by_allowance(
    conn: Connection, item: Held, allowances: list[str], *, relax_commit: bool
) -> store.CounterState | None:
    """Spend an admin-approved allowance ("Ask an admin") of the caller on this budget and
    period, once (`storage.approvals.take_allowance`): the call then passes this budget."""
    if item.soft or not item.caller:
        return None
    taken = approvals.take_allowance(
        conn,
        budget_id=item.budget_id,
        period_start=item.period_key,
        member_id=item.caller,
        amount_pusd=item.amount_pusd,
    )
    if taken is None:
        return None
    allowances.append(taken)
    return store.try_reserve(
        conn,
        budget_id=item.budget_id,
        period_start=item.period_key,
        amount_pusd=item.amount_pusd,
        limit_pusd=_NO_LIMIT,
        lease_id=item.lease_id,
        expires_at=item.expires_at,
        relax_commit=relax_commit,
        member=item.member,
    )


def _try(conn: Connection, item: Held, *, relax_commit: bool) -> store.CounterState | None:
    return store.try_reserve(
        conn,
        budget_id=item.budget_id,
        period_start=item.period_key,
        amount_pusd=item.amount_pusd,
        limit_pusd=item.condition_limit,
        lease_id=item.lease_id,
        expires_at=item.expires_at,
        relax_commit=relax_commit,
        member=item.member,
    )


def _swept(conn: Connection, item: Held) -> bool:
    return leases.sweep_counter(
        conn,
        budget_id=item.budget_id,
        period_start=item.period_key,
        now=item.reserved_at,
        member=item.member,
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
            member=item.member,
        )
        if alerts_wanted:
            alerts.extend(claim_alerts(conn, item, state))
    return alerts


def alerts_due(item: Held, state: store.CounterState | None) -> bool:
    """True when a settled counter reached an alert level it has not had this period."""
    return state is not None and any(
        not state.alert_sent(level) for level in _levels(item, state.spent_pusd)
    )


def claim_alerts(conn: Connection, item: Held, state: store.CounterState | None) -> list[Alert]:
    """Claim the alerts a settled counter has reached (None: its row is gone, no alert)."""
    if not alerts_due(item, state):
        return []
    assert state is not None
    return _claim_alerts(conn, item, spent_pusd=state.spent_pusd, state=state)


def _levels(item: Held, spent_pusd: int) -> list[int]:
    # Settled spend only: money merely reserved by calls in flight may never be spent.
    limit = item.limit_pusd
    levels = []
    if limit > 0 and spent_pusd * 100 >= 80 * limit:
        levels.append(80)
    if spent_pusd >= limit:
        levels.append(100)
    return levels


def _claim_alerts(
    conn: Connection,
    item: Held,
    *,
    spent_pusd: int,
    state: store.CounterState | None = None,
) -> list[Alert]:
    limit = item.limit_pusd
    alerts = []
    for level in _levels(item, spent_pusd):
        if state is not None and state.alert_sent(level):
            continue  # claimed earlier in the period: no UPDATE needed to learn that
        if store.claim_alert(
            conn,
            budget_id=item.budget_id,
            period_start=item.period_key,
            level=level,
            member=item.member,
        ):
            alerts.append(
                Alert(
                    label=item.label,
                    period=item.period,
                    level=level,
                    spent=from_pico(spent_pusd),
                    limit=from_pico(limit),
                    resets_at=item.resets_at,
                    soft=item.soft,
                )
            )
    return alerts
