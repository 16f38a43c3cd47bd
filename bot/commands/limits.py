"""`/byok limit set|list|clear`: spending limits per agent, workspace or member, per period."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

from sqlmodel import Session

from bot.budgets.reservations import adjective
from bot.budgets.standing import each_member_summary, standing
from bot.commands import refs, values
from bot.commands.agents import find_agent
from bot.commands.base import Command, Period, UserRef
from bot.commands.context import CommandContext
from bot.commands.fields import arg, option, switch
from bot.commands.registry import PREFIX, command
from bot.commands.words import Words, user
from bot.errors import NotFound
from bot.money import format_pico, format_usd, to_pico
from storage.limits import (
    EACH_USER_TARGET,
    WORKSPACE_TARGET,
    agent_target,
    clear_budgets,
    list_budgets,
    set_budget,
    user_target,
)
from storage.models import Agent, Budget, Workspace

_SET_SYNTAX = "limit set <agent|workspace|@user|each-user> <usd> --per day|month [--soft]"
_TARGET_HELP = "An agent, 'workspace' or 'each-user' (or pick a member with `user`)"


def _limit_target(words: Words) -> tuple[str, UserRef | None]:
    """A limit's target: "workspace", "each-user", an @user, or an agent name."""
    target = words.args[0]
    if target.lower() in ("workspace", "each-user"):
        return target.lower(), None
    if target.startswith(("@", "<@")):
        member = user(target)
        return member.id, member
    return values.name(target, what="agent"), None


@dataclass(frozen=True, slots=True)
class LimitSet(Command):
    """`limit set <agent|workspace|@user|each-user> <usd> --per day|month [--soft]`."""

    action: ClassVar[str] = "limit.set"
    mutates: ClassVar[bool] = True
    name: str  # an agent name, "workspace", "each-user", or the @user's id as typed
    usd: Decimal
    per: Period
    soft: bool = False
    user: UserRef | None = None  # set for an `@user` limit

    @classmethod
    def build(cls, words: Words) -> LimitSet:
        """The target, the amount, the period and `--soft`."""
        per = words.opts.get("--per")
        if per is None:
            raise ValueError("say --per day or --per month")
        name, member = _limit_target(words)
        return cls(
            name=name,
            usd=values.usd(words.args[1]),
            per=values.period(per),
            soft="--soft" in words.flags,
            user=member,
        )


@dataclass(frozen=True, slots=True)
class LimitList(Command):
    """`limit list`."""

    action: ClassVar[str] = "limit.list"


@dataclass(frozen=True, slots=True)
class LimitClear(Command):
    """`limit clear <agent|workspace|@user|each-user> [--per day|month]`."""

    action: ClassVar[str] = "limit.clear"
    mutates: ClassVar[bool] = True
    name: str
    per: Period | None = None
    user: UserRef | None = None  # set for an `@user` limit

    @classmethod
    def build(cls, words: Words) -> LimitClear:
        """The target and, optionally, the one period to clear."""
        per = words.opts.get("--per")
        name, member = _limit_target(words)
        return cls(name=name, per=values.period(per) if per is not None else None, user=member)


def _target(
    session: Session, ctx: CommandContext, *, name: str, user: UserRef | None
) -> tuple[str, str | None, str | None, str]:
    """(budgets.target, agent id, member id, label) of a limit's target."""
    if user is not None:
        member = refs.user_id(user, platform=ctx.place.platform)
        return user_target(member), None, member, f"member {ctx.show_user(member)}"
    if name == WORKSPACE_TARGET:
        return WORKSPACE_TARGET, None, None, "the workspace"
    if name == EACH_USER_TARGET:
        return EACH_USER_TARGET, None, None, "each member"
    agent = find_agent(session, ctx, name=name)
    return agent_target(agent.id), agent.id, None, f"agent {agent.name}"


def _tz(session: Session, ctx: CommandContext) -> str:
    workspace = session.get(Workspace, ctx.workspace_id)
    return workspace.timezone if workspace else "UTC"


def budget_label(session: Session, ctx: CommandContext, budget: Budget) -> str:
    """`workspace`, `agent writer`, `member <@U1>`, `each member`."""
    if budget.target == WORKSPACE_TARGET:
        return "workspace"
    if budget.target == EACH_USER_TARGET:
        return "each member"
    if budget.member_id is not None:
        return f"member {ctx.show_user(budget.member_id)}"
    agent = session.get(Agent, budget.agent_id) if budget.agent_id else None
    return f"agent {agent.name if agent else '?'}"


def describe(session: Session, ctx: CommandContext, budget: Budget) -> str:
    """This period's figures of one budget (for `each-user`, summed over its members)."""
    tz = _tz(session, ctx)
    if budget.target == EACH_USER_TARGET:
        return each_member_summary(session, budget, now=ctx.now(), tz=tz)
    return standing(session, budget, now=ctx.now(), tz=tz).figures()


@command(
    _SET_SYNTAX,
    LimitSet,
    summary="set a spending limit per day or month (workspace timezone)",
    brief="Set a spending limit per day or month",
    example="limit set <@112233445566778899> 12.50 --per month --soft",
    details=(
        "the limit is checked before every call against its worst-case cost; 'workspace'"
        " limits every agent together, '@user' one member across every agent, 'each-user'"
        " every member separately. A --soft limit never refuses; it only alerts at 80% and"
        " 100%."
    ),
    fields=(
        arg("target", optional=True, describe=_TARGET_HELP),
        arg(
            "user",
            "user",
            optional=True,
            shares=True,
            describe="One member's own limit, across every agent",
        ),
        arg("usd"),
        option("per", "--per", required=True, choices=values.PERIODS),
        switch("soft", "--soft", describe="Never refuse; only alert at 80% and 100%"),
    ),
)
async def set_limit(ctx: CommandContext, cmd: LimitSet) -> None:
    """Create or change a limit; spending so far this period still counts."""

    def work(session: Session) -> str:
        target, agent_id, member, label = _target(session, ctx, name=cmd.name, user=cmd.user)
        previous = set_budget(
            session,
            workspace_id=ctx.workspace_id,
            target=target,
            agent_id=agent_id,
            member_id=member,
            period=cmd.per,
            limit_pusd=to_pico(cmd.usd),
            created_by=ctx.sender.user_id,
            soft=cmd.soft,
        )
        kind = "soft" if cmd.soft else "hard"
        detail = f"{cmd.per} {cmd.usd} {kind}" + (
            f" was {format_pico(previous)}" if previous else ""
        )
        ctx.audit(session, action=cmd.action, target=member or cmd.name, detail=detail)
        budget = next(
            b
            for b in list_budgets(session, workspace_id=ctx.workspace_id)
            if b.target == target and b.period == cmd.per
        )
        was = f" (was {format_pico(previous)})" if previous is not None else ""
        soft = " soft" if cmd.soft else ""
        never = " It never refuses a call; admins are alerted at 80% and 100%." if cmd.soft else ""
        period = "Today" if cmd.per == "day" else f"This {cmd.per}"
        return (
            f"{adjective(cmd.per).capitalize()}{soft} limit for {label} set to"
            f" {format_usd(cmd.usd)}{was}. {period}: {describe(session, ctx, budget)}."
            f"{never}"
        )

    await ctx.reply(await ctx.db(work))


@command(
    "limit list", LimitList, summary="show the limits and this period's spend", example="limit list"
)
async def list_all(ctx: CommandContext, cmd: LimitList) -> None:
    """Every limit: spent, reserved, left, soft or hard, and when it resets."""

    def work(session: Session) -> str:
        budgets = list_budgets(session, workspace_id=ctx.workspace_id)
        if not budgets:
            return f"No limits. Set one with {PREFIX} {_SET_SYNTAX}."
        lines = [f"Limits ({len(budgets)}):"]
        for budget in budgets:
            kind = "soft" if budget.soft else "hard"
            lines.append(
                f"• {budget_label(session, ctx, budget)} — {adjective(budget.period)}, {kind}:"
                f" {describe(session, ctx, budget)}"
            )
        return "\n".join(lines)

    await ctx.reply(await ctx.db(work))


@command(
    "limit clear <agent|workspace|@user|each-user> [--per day|month]",
    LimitClear,
    summary="remove a spending limit",
    example="limit clear workspace --per day",
    fields=(
        arg("target", optional=True, describe=_TARGET_HELP),
        arg("user", "user", optional=True, shares=True, describe="One member's own limit"),
        option("per", "--per", choices=values.PERIODS),
    ),
)
async def clear(ctx: CommandContext, cmd: LimitClear) -> None:
    """Remove a target's limits (one period, or all), with their counters and leases."""

    def work(session: Session) -> tuple[int, str]:
        target, _agent_id, member, label = _target(session, ctx, name=cmd.name, user=cmd.user)
        removed = clear_budgets(
            session, workspace_id=ctx.workspace_id, target=target, period=cmd.per
        )
        if removed == 0:
            which = f"{adjective(cmd.per)} " if cmd.per else ""
            raise NotFound(f"{label} has no {which}limit", kind="limit", name=cmd.name)
        ctx.audit(
            session,
            action=cmd.action,
            target=member or cmd.name,
            detail=f"period={cmd.per or 'all'}",
        )
        return removed, label

    removed, label = await ctx.db(work)
    what = f"{adjective(cmd.per)} limit" if cmd.per else ("limit" if removed == 1 else "limits")
    await ctx.reply(f"{label[0].upper()}{label[1:]}'s {what} removed.")
