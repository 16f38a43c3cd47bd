"""Agent rows, channel bindings and the workspace's default agent."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete
from sqlmodel import Session, col, select

from storage.leases import delete_budget_leases
from storage.models import Agent, Budget, BudgetCounter, ChannelBinding, Workspace


def get_agent(session: Session, *, workspace_id: str, name: str) -> Agent | None:
    """The workspace's agent called `name`."""
    stmt = select(Agent).where(Agent.workspace_id == workspace_id, Agent.name == name)
    return session.exec(stmt).first()


def list_agents(session: Session, *, workspace_id: str) -> Sequence[Agent]:
    """Every agent of the workspace, by name."""
    stmt = select(Agent).where(Agent.workspace_id == workspace_id).order_by(col(Agent.name))
    return session.exec(stmt).all()


def bindings(session: Session, *, workspace_id: str) -> Sequence[ChannelBinding]:
    """Every channel binding of the workspace."""
    stmt = (
        select(ChannelBinding)
        .where(ChannelBinding.workspace_id == workspace_id)
        .order_by(col(ChannelBinding.channel_id))
    )
    return session.exec(stmt).all()


def agent_bindings(
    session: Session, *, workspace_id: str, agent_id: str
) -> Sequence[ChannelBinding]:
    """The channels one agent is bound to."""
    stmt = (
        select(ChannelBinding)
        .where(ChannelBinding.workspace_id == workspace_id, ChannelBinding.agent_id == agent_id)
        .order_by(col(ChannelBinding.channel_id))
    )
    return session.exec(stmt).all()


def channel_binding(
    session: Session, *, workspace_id: str, channel_id: str
) -> ChannelBinding | None:
    """The binding of one channel, if any."""
    stmt = select(ChannelBinding).where(
        ChannelBinding.workspace_id == workspace_id, ChannelBinding.channel_id == channel_id
    )
    return session.exec(stmt).first()


def delete_agent(session: Session, agent: Agent) -> None:
    """Delete an agent with its bindings, budgets and counters, and unset it as default."""
    budget_ids = select(Budget.id).where(
        Budget.workspace_id == agent.workspace_id, Budget.agent_id == agent.id
    )
    ids = [budget_id for budget_id in session.exec(budget_ids).all() if budget_id is not None]
    # The leases of calls in flight go too, so no sweep ever looks for the deleted counters.
    delete_budget_leases(session.connection(), budget_ids=ids)
    session.execute(delete(BudgetCounter).where(col(BudgetCounter.budget_id).in_(budget_ids)))
    session.execute(
        delete(Budget).where(
            col(Budget.workspace_id) == agent.workspace_id, col(Budget.agent_id) == agent.id
        )
    )
    session.execute(
        delete(ChannelBinding).where(
            col(ChannelBinding.workspace_id) == agent.workspace_id,
            col(ChannelBinding.agent_id) == agent.id,
        )
    )
    workspace = session.get(Workspace, agent.workspace_id)
    if workspace is not None and workspace.default_agent_id == agent.id:
        workspace.default_agent_id = None
        session.add(workspace)
    session.flush()
    session.delete(agent)
    session.flush()
