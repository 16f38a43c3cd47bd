"""`/byok audit [N]`: the workspace's newest audit entries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from sqlmodel import Session

from bot.commands import values
from bot.commands.base import Command
from bot.commands.context import CommandContext
from bot.commands.display import local_time
from bot.commands.fields import arg
from bot.commands.registry import command
from bot.commands.words import Words
from storage.audit import recent_audit


@dataclass(frozen=True, slots=True)
class AuditView(Command):
    """`audit [N]`."""

    action: ClassVar[str] = "audit.view"
    count: int = 20

    @classmethod
    def build(cls, words: Words) -> AuditView:
        """How many entries (1 to 200; default 20)."""
        raw = words.arg(0)
        if raw is None:
            return cls()
        return cls(count=values.positive_int(raw, what="N", maximum=200))


@command(
    "audit [N]",
    AuditView,
    summary="the last N audit entries (default 20)",
    brief="The last N audit entries",
    example="audit 50",
    fields=(arg("count", "integer", optional=True),),
)
async def view(ctx: CommandContext, cmd: AuditView) -> None:
    """Who did what to which target, when, with what outcome; newest first."""

    def work(session: Session) -> str:
        rows = recent_audit(session, workspace_id=ctx.workspace_id, limit=cmd.count)
        if not rows:
            return "The audit trail is empty."
        tz = ctx.tz(session)
        lines = [f"Last {len(rows)} audit entries (newest first):"]
        for row in rows:
            target = f" {row.target}" if row.target else ""
            detail = f" ({row.detail})" if row.detail else ""
            lines.append(
                f"• {local_time(row.created_at, tz)} · {ctx.show_user(row.actor_id)} ·"
                f" {row.action}{target} · {row.outcome}{detail}"
            )
        return "\n".join(lines)

    await ctx.reply(await ctx.db(work))
