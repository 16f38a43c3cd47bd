"""`/byok me`: anyone's own spend today and this month, and every limit that applies to them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from sqlmodel import Session

from bot.budgets.reservations import adjective, period_start_utc
from bot.budgets.standing import standing
from bot.commands.base import Command
from bot.commands.context import CommandContext
from bot.commands.registry import command
from bot.money import format_pico
from storage.limits import EACH_USER_TARGET, WORKSPACE_TARGET, list_budgets, member_spend
from storage.models import Agent, Budget, Workspace


@dataclass(frozen=True, slots=True)
class MeView(Command):
    """`me`: the caller's own spend and the limits that apply to them (open to everyone)."""

    action: ClassVar[str] = "me"
    admin_only: ClassVar[bool] = False


def _spend_line(title: str, spend: list[tuple[str, int]]) -> str:
    total = sum(pico for _name, pico in spend)
    parts = ", ".join(f"{name or '?'} {format_pico(pico)}" for name, pico in spend)
    return f"{title}: {format_pico(total)}" + (f" ({parts})" if parts else "")


def _name(session: Session, budget: Budget) -> str:
    if budget.target == WORKSPACE_TARGET:
        return "the workspace's"
    if budget.target == EACH_USER_TARGET:
        return "your per-member"
    if budget.member_id is not None:
        return "your own"
    agent = session.get(Agent, budget.agent_id) if budget.agent_id else None
    return f"{agent.name if agent else '?'}'s"


@command(
    "me",
    MeView,
    summary="your own spend today and this month, and your limits",
    example="me",
    details="open to everyone: only your own spend and the limits that apply to you.",
)
async def show(ctx: CommandContext, cmd: MeView) -> None:
    """The caller's spend (total and per agent) and each limit that applies, with what is left."""
    me = ctx.sender.user_id

    def work(session: Session) -> str:
        workspace = session.get(Workspace, ctx.workspace_id)
        tz = workspace.timezone if workspace else "UTC"
        now = ctx.now()
        spent = {
            period: member_spend(
                session,
                workspace_id=ctx.workspace_id,
                user_id=me,
                since=period_start_utc(period, now=now, tz=tz),
            )
            for period in ("day", "month")
        }
        lines = [
            f"Your spend ({tz}):",
            _spend_line("• today", spent["day"]),
            _spend_line("• this month", spent["month"]),
        ]
        budgets = [
            budget
            for budget in list_budgets(session, workspace_id=ctx.workspace_id)
            if budget.member_id in (None, me)
        ]
        if not budgets:
            lines.append("No limit applies to you.")
            return "\n".join(lines)
        lines.append("Limits that apply to you:")
        for budget in budgets:
            member = me if budget.target == EACH_USER_TARGET else ""
            state = standing(session, budget, now=now, tz=tz, member=member)
            lines.append(
                f"• {_name(session, budget)} {adjective(budget.period)} limit ({state.kind}):"
                f" {state.figures()}"
            )
        return "\n".join(lines)

    await ctx.reply(await ctx.db(work))
