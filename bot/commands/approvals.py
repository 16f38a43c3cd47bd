"""`/byok approve <request> [<usd>]` and `/byok deny <request>`: decide an over-budget request."""

from __future__ import annotations

from bot.approvals.decisions import Approvals
from bot.commands import models as m
from bot.commands.context import CommandContext


async def approve(ctx: CommandContext, cmd: m.Approve) -> None:
    """Grant the member a one-off allowance (the call's worst case, or the amount given)."""
    flow = Approvals(ctx.services)
    line = await flow.decide(
        place=ctx.place, sender=ctx.sender, request_id=cmd.request, approve=True, usd=cmd.usd
    )
    await ctx.reply(line)


async def deny(ctx: CommandContext, cmd: m.Deny) -> None:
    """Refuse the request; the member is told."""
    flow = Approvals(ctx.services)
    line = await flow.decide(
        place=ctx.place, sender=ctx.sender, request_id=cmd.request, approve=False
    )
    await ctx.reply(line)
