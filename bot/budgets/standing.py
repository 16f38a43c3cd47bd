"""Where a budget stands this period: spent, reserved, left, soft or hard, when it resets.

Shared by `/byok limit list`, `/byok me` and the digest's budget lines, so every place
shows the figure that is enforced: a counter not yet opened this period is opened the
way the next call would open it (seeded with the scope's spend so far).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlmodel import Session

from bot.budgets.periods import adjective, format_reset, period_start_utc, period_window
from bot.money import format_pico
from storage.budgets import ensure_counter
from storage.limits import counter, member_counters
from storage.models import Budget


@dataclass(frozen=True, slots=True)
class Standing:
    """One budget counter in the current period."""

    limit_pusd: int
    spent_pusd: int
    reserved_pusd: int
    soft: bool
    period: str
    resets_at: dt.datetime

    @property
    def left_pusd(self) -> int:
        """What a new call may still reserve (never below zero)."""
        return max(0, self.limit_pusd - self.spent_pusd - self.reserved_pusd)

    @property
    def kind(self) -> str:
        """`soft` or `hard`."""
        return "soft" if self.soft else "hard"

    def figures(self) -> str:
        """`$1.20 spent, $0.30 reserved, $3.50 left of $5.00 · resets 2026-11-28 00:00 CET`."""
        return (
            f"{format_pico(self.spent_pusd)} spent, {format_pico(self.reserved_pusd)} reserved,"
            f" {format_pico(self.left_pusd)} left of {format_pico(self.limit_pusd)}"
            f" · resets {format_reset(self.resets_at)}"
        )

    def heading(self) -> str:
        """`daily, hard`."""
        return f"{adjective(self.period)}, {self.kind}"


def standing(
    session: Session, budget: Budget, *, now: dt.datetime, tz: str, member: str = ""
) -> Standing:
    """The budget's counter this period (for `each-user`, `member`'s own)."""
    key, resets = period_window(budget.period, now=now, tz=tz)
    budget_id = budget.id or 0
    row = counter(session, budget_id=budget_id, period_start=key, member=member)
    if row is None and budget.id is not None:
        since = period_start_utc(budget.period, now=now, tz=tz)
        ensure_counter(
            session.connection(), budget_id=budget_id, period_start=key, since=since, member=member
        )
        row = counter(session, budget_id=budget_id, period_start=key, member=member)
    return Standing(
        limit_pusd=budget.limit_pusd,
        spent_pusd=0 if row is None else row.spent_pusd,
        reserved_pusd=0 if row is None else row.reserved_pusd,
        soft=budget.soft,
        period=budget.period,
        resets_at=resets,
    )


def each_member_summary(session: Session, budget: Budget, *, now: dt.datetime, tz: str) -> str:
    """`$5.00 each · this day 2 members: $1.50 spent, $0.00 reserved, the most by one $1.20`."""
    key, resets = period_window(budget.period, now=now, tz=tz)
    found = member_counters(session, budget_id=budget.id or 0, period_start=key)
    word = "member" if found.members == 1 else "members"
    return (
        f"{format_pico(budget.limit_pusd)} each · this {budget.period} {found.members} {word}:"
        f" {format_pico(found.spent_pusd)} spent, {format_pico(found.reserved_pusd)} reserved,"
        f" the most by one {format_pico(found.most_spent_pusd)}"
        f" · resets {format_reset(resets)}"
    )
