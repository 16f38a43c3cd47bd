"""`/byok limit set|list|clear`: spending limits per agent or workspace, per day or month."""

from __future__ import annotations

from sqlmodel import Session

from bot.budgets.reservations import format_reset, period_start_utc, period_window
from bot.commands import models as m
from bot.commands.agents import find_agent
from bot.commands.context import CommandContext
from bot.commands.display import exact_usd, usd_amount
from bot.errors import NotFound
from bot.money import to_pico
from storage.budgets import ensure_counter
from storage.limits import (
    WORKSPACE_TARGET,
    agent_target,
    clear_budgets,
    counter,
    list_budgets,
    set_budget,
)
from storage.models import Agent, Budget, Workspace

_ADJECTIVE = {"day": "daily", "month": "monthly"}


def _target(session: Session, ctx: CommandContext, *, name: str) -> tuple[str, str | None, str]:
    """(budgets.target, agent id, label) for `workspace` or an agent name."""
    if name == WORKSPACE_TARGET:
        return WORKSPACE_TARGET, None, "the workspace"
    agent = find_agent(session, ctx, name=name)
    return agent_target(agent.id), agent.id, f"agent {agent.name}"


def _consumption(session: Session, ctx: CommandContext, *, budget: Budget) -> str:
    """`$1.20 of $5.00 (24%) · resets 2026-11-28 00:00 CET` for the current period."""
    workspace = session.get(Workspace, ctx.workspace_id)
    tz = workspace.timezone if workspace else "UTC"
    key, resets = period_window(budget.period, now=ctx.now(), tz=tz)
    row = counter(session, budget_id=budget.id or 0, period_start=key)
    if row is None and budget.id is not None:
        # Open the period's counter now, seeded with the scope's spend so far this period
        # (the same row the next call would create), so the figure shown is the one enforced.
        since = period_start_utc(budget.period, now=ctx.now(), tz=tz)
        ensure_counter(session.connection(), budget_id=budget.id, period_start=key, since=since)
        row = counter(session, budget_id=budget.id, period_start=key)
    used = (row.spent_pusd + row.reserved_pusd) if row is not None else 0
    share = used * 100 // budget.limit_pusd if budget.limit_pusd > 0 else 100
    return (
        f"{exact_usd(used)} of {exact_usd(budget.limit_pusd)} ({share}%)"
        f" · resets {format_reset(resets)}"
    )


async def set_limit(ctx: CommandContext, cmd: m.LimitSet) -> None:
    """Create or change a limit; spending so far this period still counts."""

    def work(session: Session) -> str:
        target, agent_id, label = _target(session, ctx, name=cmd.name)
        previous = set_budget(
            session,
            workspace_id=ctx.workspace_id,
            target=target,
            agent_id=agent_id,
            period=cmd.per,
            limit_pusd=to_pico(cmd.usd),
            created_by=ctx.sender.user_id,
        )
        detail = f"{cmd.per} {cmd.usd}" + (f" was {exact_usd(previous)}" if previous else "")
        ctx.audit(session, action=cmd.action, target=cmd.name, detail=detail)
        budget = next(
            b
            for b in list_budgets(session, workspace_id=ctx.workspace_id)
            if b.target == target and b.period == cmd.per
        )
        was = f" (was {exact_usd(previous)})" if previous is not None else ""
        return (
            f"{_ADJECTIVE[cmd.per]} limit for {label} set to {usd_amount(cmd.usd)}{was}."
            f" This {cmd.per}: {_consumption(session, ctx, budget=budget)}."
        )

    await ctx.reply(await ctx.db(work))


async def list_all(ctx: CommandContext, cmd: m.LimitList) -> None:
    """Every limit with this period's spending and when it resets."""

    def work(session: Session) -> str:
        budgets = list_budgets(session, workspace_id=ctx.workspace_id)
        if not budgets:
            return (
                "No limits. Set one with /byok limit set <agent|workspace> <usd> --per day|month."
            )
        lines = [f"Limits ({len(budgets)}):"]
        for budget in budgets:
            agent = session.get(Agent, budget.agent_id) if budget.agent_id else None
            label = (
                "workspace"
                if budget.target == WORKSPACE_TARGET
                else f"agent {agent.name if agent else '?'}"
            )
            lines.append(
                f"• {label} — {_ADJECTIVE.get(budget.period, budget.period)}:"
                f" {_consumption(session, ctx, budget=budget)}"
            )
        return "\n".join(lines)

    await ctx.reply(await ctx.db(work))


async def clear(ctx: CommandContext, cmd: m.LimitClear) -> None:
    """Remove a target's limits (one period, or all)."""

    def work(session: Session) -> tuple[int, str]:
        target, _agent_id, label = _target(session, ctx, name=cmd.name)
        removed = clear_budgets(
            session, workspace_id=ctx.workspace_id, target=target, period=cmd.per
        )
        if removed == 0:
            which = f"{_ADJECTIVE[cmd.per]} " if cmd.per else ""
            raise NotFound(f"{label} has no {which}limit", kind="limit", name=cmd.name)
        ctx.audit(session, action=cmd.action, target=cmd.name, detail=f"period={cmd.per or 'all'}")
        return removed, label

    removed, label = await ctx.db(work)
    what = f"{_ADJECTIVE[cmd.per]} limit" if cmd.per else ("limit" if removed == 1 else "limits")
    await ctx.reply(f"{label.capitalize()}'s {what} removed.")
