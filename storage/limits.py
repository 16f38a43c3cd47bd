"""Budget rows for `/byok limit set|list|clear` (the atomic counters live in storage/budgets.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from storage.leases import delete_budget_leases
from storage.models import Budget, BudgetCounter, UsageEvent

WORKSPACE_TARGET = "workspace"
EACH_USER_TARGET = "each-user"


def agent_target(agent_id: str) -> str:
    """The `budgets.target` value of an agent's budget."""
    return f"agent:{agent_id}"


def user_target(member_id: str) -> str:
    """The `budgets.target` value of one member's own budget (`@user`)."""
    return f"user:{member_id}"


def list_budgets(session: Session, *, workspace_id: str) -> Sequence[Budget]:
    """Every budget of the workspace (workspace first, then agents; day before month)."""
    stmt = (
        select(Budget)
        .where(Budget.workspace_id == workspace_id)
        .order_by(col(Budget.target).desc(), col(Budget.period))
    )
    return session.exec(stmt).all()


def target_budgets(session: Session, *, workspace_id: str, target: str) -> Sequence[Budget]:
    """The budgets of one target (the workspace or one agent)."""
    stmt = (
        select(Budget)
        .where(Budget.workspace_id == workspace_id, Budget.target == target)
        .order_by(col(Budget.period))
    )
    return session.exec(stmt).all()


def set_budget(
    session: Session,
    *,
    workspace_id: str,
    target: str,
    agent_id: str | None,
    period: str,
    limit_pusd: int,
    created_by: str,
    member_id: str | None = None,
    soft: bool = False,
) -> int | None:
    """Create or change a budget; return the previous limit (pico-USD) or None if new."""
    stmt = select(Budget).where(
        Budget.workspace_id == workspace_id, Budget.target == target, Budget.period == period
    )
    found = session.exec(stmt).first()
    if found is not None:
        previous = found.limit_pusd
        found.limit_pusd = limit_pusd
        found.soft = soft
        session.add(found)
        session.flush()
        return previous
    session.add(
        Budget(
            workspace_id=workspace_id,
            target=target,
            agent_id=agent_id,
            member_id=member_id,
            period=period,
            limit_pusd=limit_pusd,
            created_by=created_by,
            soft=soft,
        )
    )
    session.flush()
    return None


def clear_budgets(
    session: Session, *, workspace_id: str, target: str, period: str | None = None
) -> int:
    """Delete a target's budgets (one period or all) with counters and leases; how many."""
    budgets = [
        budget
        for budget in target_budgets(session, workspace_id=workspace_id, target=target)
        if period is None or budget.period == period
    ]
    ids = [budget.id for budget in budgets if budget.id is not None]
    if not ids:
        return 0
    delete_budget_leases(session.connection(), budget_ids=ids)
    session.execute(delete(BudgetCounter).where(col(BudgetCounter.budget_id).in_(ids)))
    session.execute(delete(Budget).where(col(Budget.id).in_(ids)))
    session.flush()
    return len(ids)


def counter(
    session: Session, *, budget_id: int, period_start: str, member: str = ""
) -> BudgetCounter | None:
    """The spent/reserved counter of a budget in one period, if any call touched it."""
    return session.get(BudgetCounter, (budget_id, period_start, member))


@dataclass(frozen=True, slots=True)
class MemberCounters:
    """An `each-user` budget's counters of one period, summed over its members."""

    members: int = 0
    spent_pusd: int = 0
    reserved_pusd: int = 0
    most_spent_pusd: int = 0


def member_counters(session: Session, *, budget_id: int, period_start: str) -> MemberCounters:
    """The members' counters of an `each-user` budget in one period, in sum."""
    c = BudgetCounter
    stmt = select(
        func.count(),
        func.coalesce(func.sum(c.spent_pusd), 0),
        func.coalesce(func.sum(c.reserved_pusd), 0),
        func.coalesce(func.max(c.spent_pusd), 0),
    ).where(c.budget_id == budget_id, c.period_start == period_start, c.member != "")
    members, spent, reserved, most = session.exec(stmt).one()
    return MemberCounters(int(members), int(spent), int(reserved), int(most))


def member_spend(
    session: Session, *, workspace_id: str, user_id: str, since: dt.datetime
) -> list[tuple[str, int]]:
    """A member's priced spend since `since` (naive UTC) per agent name, most first."""
    u = UsageEvent
    total = func.sum(u.cost_pusd)
    stmt = (
        select(u.agent_name, total)
        .where(
            u.workspace_id == workspace_id,
            u.user_id == user_id,
            u.created_at >= since,
            col(u.cost_pusd).is_not(None),
        )
        .group_by(u.agent_name)
        .order_by(total.desc(), u.agent_name)
    )
    return [(name, int(pico or 0)) for name, pico in session.exec(stmt).all()]
