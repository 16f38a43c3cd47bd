"""Budget rows for `/byok limit set|list|clear` (the atomic counters live in storage/budgets.py)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete
from sqlmodel import Session, col, select

from storage.models import Budget, BudgetCounter

WORKSPACE_TARGET = "workspace"


def agent_target(agent_id: str) -> str:
    """The `budgets.target` value of an agent's budget."""
    return f"agent:{agent_id}"


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
) -> int | None:
    """Create or change a budget; return the previous limit (pico-USD) or None if new."""
    stmt = select(Budget).where(
        Budget.workspace_id == workspace_id, Budget.target == target, Budget.period == period
    )
    found = session.exec(stmt).first()
    if found is not None:
        previous = found.limit_pusd
        found.limit_pusd = limit_pusd
        session.add(found)
        session.flush()
        return previous
    session.add(
        Budget(
            workspace_id=workspace_id,
            target=target,
            agent_id=agent_id,
            period=period,
            limit_pusd=limit_pusd,
            created_by=created_by,
        )
    )
    session.flush()
    return None


def clear_budgets(
    session: Session, *, workspace_id: str, target: str, period: str | None = None
) -> int:
    """Delete a target's budgets (one period or all) with their counters; return how many."""
    budgets = [
        budget
        for budget in target_budgets(session, workspace_id=workspace_id, target=target)
        if period is None or budget.period == period
    ]
    ids = [budget.id for budget in budgets if budget.id is not None]
    if not ids:
        return 0
    session.execute(delete(BudgetCounter).where(col(BudgetCounter.budget_id).in_(ids)))
    session.execute(delete(Budget).where(col(Budget.id).in_(ids)))
    session.flush()
    return len(ids)


def counter(session: Session, *, budget_id: int, period_start: str) -> BudgetCounter | None:
    """The spent/reserved counter of a budget in one period, if any call touched it."""
    return session.get(BudgetCounter, (budget_id, period_start))
