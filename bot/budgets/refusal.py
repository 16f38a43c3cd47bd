"""Honest refusals: which budget refused, what is left, what the call could cost and why."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.engine import Connection
from sqlmodel import Session

from bot.errors import BudgetExceeded
from bot.money import format_usd
from storage.audit import add_audit

_ADJECTIVE = {"day": "daily", "month": "monthly"}


@dataclass(frozen=True, slots=True)
class CallCost:
    """What a call's worst case was priced from (never the message itself)."""

    prompt_tokens: int = 0
    max_output_tokens: int = 0
    model: str = ""
    worst: Decimal | None = None  # None: the model has no known price


def adjective(period: str) -> str:
    """`daily` / `monthly`."""
    return _ADJECTIVE.get(period, period)


def limit_name(*, scope: str, period: str, agent_name: str, caller: bool, who: str = "") -> str:
    """`the workspace's daily limit`, `your own monthly limit`, `writer's daily limit`, ...

    `caller` names a member's budget to that member ("your"); otherwise `who` names them.
    """
    per = adjective(period)
    if scope == "workspace":
        return f"the workspace's {per} limit"
    if scope == "agent":
        return f"{agent_name}'s {per} limit"
    if scope == "user":
        return f"your own {per} limit" if caller else f"{who}'s own {per} limit"
    return f"your {per} per-member limit" if caller else f"{who}'s {per} per-member limit"


def reset_phrase(resets_at: dt.datetime, *, now: dt.datetime) -> str:
    """`resets at 00:00 Europe/Paris (in 3 h)`; a later day is named."""
    left = resets_at - now.astimezone(resets_at.tzinfo)
    minutes = max(1, int(left.total_seconds() // 60))
    span = f"{minutes // 60} h" if minutes >= 60 else f"{minutes} min"
    if minutes >= 24 * 60:
        span = f"{minutes // (24 * 60)} d"
    local_now = now.astimezone(resets_at.tzinfo)
    day = (
        ""
        if resets_at.date() - local_now.date() <= dt.timedelta(days=1)
        else f"{resets_at:%Y-%m-%d} "
    )
    zone = getattr(resets_at.tzinfo, "key", None) or resets_at.tzname() or "UTC"
    return f"resets at {day}{resets_at:%H:%M} {zone} (in {span})"


def cost_phrase(cost: CallCost) -> str:
    """`up to $0.0041: ~1,200 prompt tokens + 1,024 max output tokens at gpt-4o-mini's price`."""
    tokens = f"~{cost.prompt_tokens:,} prompt tokens + {cost.max_output_tokens:,} max output tokens"
    if cost.worst is None:
        return f"an unknown amount ({tokens}; {cost.model} has no known price)"
    return f"up to {format_usd(cost.worst)}: {tokens} at {cost.model}'s price"


def refusal_text(*, budget: str, left: Decimal, limit: Decimal, cost: CallCost, reset: str) -> str:
    """The one private line a refused member sees."""
    return (
        f"Over budget: {budget} has {format_usd(left)} left of {format_usd(limit)}, and this "
        f"call could cost {cost_phrase(cost)}. Send a shorter message, lower the agent's "
        f"--max-tokens, or ask an admin to raise the limit. It {reset}."
    )


def audit_refusal(
    conn: Connection, exc: BudgetExceeded, *, workspace_id: str, actor_id: str, at: dt.datetime
) -> None:
    """Put a budget refusal in the audit trail: who, which budget, the worst case — no content."""
    worst = "unpriced" if exc.worst_case is None else format_usd(exc.worst_case)
    with Session(bind=conn) as session:
        event = add_audit(
            session,
            workspace_id=workspace_id,
            actor_id=actor_id,
            action="budget.refused",
            target=exc.budget,
            outcome="refused",
            detail=f"budget {exc.budget_id}; worst case {worst}; left {format_usd(exc.left)}",
        )
        event.created_at = at
        session.flush()
