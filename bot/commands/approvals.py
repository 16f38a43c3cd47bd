"""`/byok approve <request> [<usd>]` and `/byok deny <request>`: decide an over-budget request."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

from bot.approvals.decisions import Approvals
from bot.commands import values
from bot.commands.base import Command
from bot.commands.context import CommandContext
from bot.commands.fields import arg
from bot.commands.registry import command
from bot.commands.words import Words


def _request_id(raw: str) -> str:
    text = raw.strip().lower()
    if not text.isalnum() or len(text) > 16:
        raise ValueError("a request id is the 8 letters and digits the refusal named")
    return text


@dataclass(frozen=True, slots=True)
class Approve(Command):
    """`approve <request> [<usd>]`: a one-off allowance for a refused member."""

    action: ClassVar[str] = "approval.approve"
    request: str
    usd: Decimal | None = None

    @classmethod
    def build(cls, words: Words) -> Approve:
        """The request id and, optionally, the amount allowed."""
        raw = words.arg(1)
        return cls(
            request=_request_id(words.args[0]), usd=values.usd(raw) if raw is not None else None
        )

    @property
    def target(self) -> str:
        """The request id."""
        return self.request


@dataclass(frozen=True, slots=True)
class Deny(Command):
    """`deny <request>`: refuse a member's request to pass a budget."""

    action: ClassVar[str] = "approval.deny"
    request: str

    @classmethod
    def build(cls, words: Words) -> Deny:
        """The request id."""
        return cls(request=_request_id(words.args[0]))

    @property
    def target(self) -> str:
        """The request id."""
        return self.request


@command(
    "approve <request> [<usd>]",
    Approve,
    summary="let a member refused by a budget pass it once (the call's worst case, or <usd>)",
    brief="Let a member refused by a budget pass it once",
    example="approve abcd2345 0.05",
    fields=(arg("request"), arg("usd", optional=True)),
)
async def approve(ctx: CommandContext, cmd: Approve) -> None:
    """Grant the member a one-off allowance (the call's worst case, or the amount given)."""
    flow = Approvals(ctx.services)
    line = await flow.decide(
        place=ctx.place, sender=ctx.sender, request_id=cmd.request, approve=True, usd=cmd.usd
    )
    await ctx.reply(line)


@command(
    "deny <request>",
    Deny,
    summary="refuse a member's over-budget request",
    example="deny abcd2345",
    fields=(arg("request"),),
)
async def deny(ctx: CommandContext, cmd: Deny) -> None:
    """Refuse the request; the member is told."""
    flow = Approvals(ctx.services)
    line = await flow.decide(
        place=ctx.place, sender=ctx.sender, request_id=cmd.request, approve=False
    )
    await ctx.reply(line)
