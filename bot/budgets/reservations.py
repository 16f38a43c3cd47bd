"""Budget reservations: which budgets a call holds, reserving on all of them, honest refusals.

A call first reserves its worst-case cost against every budget that covers it (the
workspace's, the agent's, the member's own and the per-member one, whose counters are
kept per member), all or none (`storage.counters.reserve_all`: on PostgreSQL one
statement that locks the counters in one order shared by every call, checks each has
room and only then adds to all of them, with their lease rows). A counter the period
has not created yet is created (INSERT … ON CONFLICT DO NOTHING) and the call asks
again. After the call the reservation is swapped for the real cost and the 80% / 100%
alerts are claimed (bot/budgets/alerts.py). A soft budget reserves too (so `limit list`
shows what is in flight) but never refuses.

Each reservation is a lease that expires `bot.budgets.leases.LEASE` after it was taken, so a
process that dies mid-call leaves nothing held for long: a budget that would refuse
first releases its counter's expired leases and asks once more; one still without room
spends the member's approved allowance ("Ask an admin"), if any.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlalchemy.engine import Connection

from bot.budgets.alerts import Alert, alerts_due, claim_alerts, settle
from bot.budgets.leases import LEASE
from bot.budgets.periods import adjective, format_reset, period_start_utc, period_window
from bot.budgets.refusal import CallCost, limit_name, refusal_text, reset_phrase
from bot.clock import to_naive_utc
from bot.errors import BudgetExceeded
from bot.money import from_pico
from storage import approvals, counters, leases
from storage import budgets as store
from storage.budgets import BudgetRow
from storage.engine import transaction_block
from storage.models import new_id

__all__ = [
    "Alert",
    "Held",
    "Reservation",
    "adjective",
    "alerts_due",
    "budget_label",
    "claim_alerts",
    "format_reset",
    "period_start_utc",
    "period_window",
    "plan",
    "refusal",
    "reserve",
    "scope_of",
    "settle",
    "show_member",
]

# The reservation condition of a soft budget: room is never lacking.
_NO_LIMIT = 2**62
_LOCK_RANK = {"each-user": 0, "user": 1, "agent": 2, "workspace": 3}


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
    lease_id, at = new_id(), to_naive_utc(now)
    shown = show_member(member, platform=platform)
    # Every budget of one period shares its window: worked out once per call and period.
    windows: dict[str, tuple[str, dt.datetime, dt.datetime]] = {}
    held = []
    for row in rows:
        window = windows.get(row.period)
        if window is None:
            key, resets = period_window(row.period, now=now, tz=tz)
            starts = period_start_utc(row.period, now=now, tz=tz)
            window = windows[row.period] = (key, resets, starts)
        key, resets, starts = window
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
                starts_at=starts,
                resets_at=resets,
                limit_pusd=row.limit_pusd,
                amount_pusd=amount_pusd,
                lease_id=lease_id,
                reserved_at=at,
                expires_at=at + lease,
            )
        )
    # Lock order: the coldest counters first, the workspace's (the one every call of the
    # workspace takes) last, so the hot row is locked last. Every call (its reservation
    # and its settlement) orders the same way (scope, then id), so two never deadlock.
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
    """Reserve against every budget in `held`, or hold nothing and raise `BudgetExceeded`.

    The common case is one statement (`storage.counters.reserve_all`). Only when it
    finds a counter missing or without room: the missing counters are created, the full
    ones' expired leases swept, and the caller's approved allowances spent, each
    followed by one more all-or-nothing attempt. With `relax_commit`, the attempt that
    reserves also relaxes its commit: only a reservation that wholly succeeded is
    followed by a call, whose settlement commits durably.
    """
    refused = _reserve(conn, held, relax_commit=relax_commit)
    if refused is not None:
        # What is left is read only now: a refusal is the rare path.
        raise refusal(conn, refused, cost=cost or CallCost(), now=now)
    return Reservation(held=tuple(held), amount_pusd=amount_pusd)


def _reserve(conn: Connection, held: Sequence[Held], *, relax_commit: bool) -> Held | None:
    """Reserve on all of `held` or none; the budget that refused, or None."""
    if not held:
        return None
    outcome = _attempt(conn, held, relax_commit=relax_commit)
    if outcome.reserved:
        return None
    if outcome.missing:
        # The period's first call on these counters: create them (a no-op for a row that
        # exists; a new row starts from the period's spend so far) and ask again.
        for index in outcome.missing:
            item = held[index]
            store.ensure_counter(
                conn,
                budget_id=item.budget_id,
                period_start=item.period_key,
                since=item.starts_at,
                member=item.member,
            )
        outcome = _attempt(conn, held, relax_commit=relax_commit)
    # Room held by calls whose processes died is released (every full counter's): ask once more.
    swept = not outcome.reserved and any([_swept(conn, held[i]) for i in outcome.full])
    if swept:
        outcome = _attempt(conn, held, relax_commit=relax_commit)
    if outcome.reserved:
        return None
    return _by_allowances(conn, held, outcome, relax_commit=relax_commit)


def _by_allowances(
    conn: Connection, held: Sequence[Held], outcome: counters.Outcome, *, relax_commit: bool
) -> Held | None:
    """Spend the caller's approved allowance on each budget without room, then reserve.

    The allowances (`storage.approvals.take_allowance`, each spent once) and the
    reservation of several budgets commit together, so a refusal gives every allowance
    back. One budget needs no block: its allowance lifts the only limit there is.
    """
    lacking = sorted({*outcome.missing, *outcome.full})
    for index in lacking:
        if held[index].soft or not held[index].caller:
            return held[index]
    with transaction_block(conn) if len(held) > 1 else contextlib.nullcontext():
        taken: list[str] = []
        refused: Held | None = None
        for index in lacking:
            item = held[index]
            allowance = approvals.take_allowance(
                conn,
                budget_id=item.budget_id,
                period_start=item.period_key,
                member_id=item.caller,
                amount_pusd=item.amount_pusd,
            )
            if allowance is None:
                refused = item
                break
            taken.append(allowance)
        if refused is None:
            lifted = [
                replace(item, soft=True) if i in lacking else item for i, item in enumerate(held)
            ]
            again = _attempt(conn, lifted, relax_commit=relax_commit)
            if not again.reserved:
                refused = held[min({*again.missing, *again.full}, default=0)]
        if refused is not None:
            for request_id in taken:
                approvals.give_back(conn, request_id=request_id)
    return refused


def _attempt(conn: Connection, held: Sequence[Held], *, relax_commit: bool) -> counters.Outcome:
    holds = [
        counters.Hold(
            budget_id=item.budget_id,
            period_start=item.period_key,
            member=item.member,
            amount_pusd=item.amount_pusd,
            limit_pusd=item.condition_limit,
        )
        for item in held
    ]
    return counters.reserve_all(
        conn,
        holds,
        lease_id=held[0].lease_id,
        expires_at=held[0].expires_at,
        relax_commit=relax_commit,
    )


def _swept(conn: Connection, item: Held) -> bool:
    return leases.sweep_counter(
        conn,
        budget_id=item.budget_id,
        period_start=item.period_key,
        now=item.reserved_at,
        member=item.member,
    )


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
