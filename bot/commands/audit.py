"""`/byok audit [N]`: the workspace's newest audit entries."""

from __future__ import annotations

from sqlmodel import Session

from bot.commands import models as m
from bot.commands.context import CommandContext
from bot.commands.display import local_time
from storage.audit import recent_audit


async def view(ctx: CommandContext, cmd: m.AuditView) -> None:
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
