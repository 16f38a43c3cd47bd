"""`/byok admins add|remove|list`: users granted admin rights beside the platform's admins."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from sqlmodel import Session

from bot.commands import refs
from bot.commands.base import Command, OnUser
from bot.commands.context import CommandContext
from bot.commands.display import local_time
from bot.commands.fields import arg
from bot.commands.registry import command
from bot.errors import NotFound
from storage.admins import grant, list_admins, revoke


@dataclass(frozen=True, slots=True)
class AdminsAdd(OnUser):
    """`admins add <@user>`."""

    action: ClassVar[str] = "admins.add"
    mutates: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class AdminsRemove(OnUser):
    """`admins remove <@user>`."""

    action: ClassVar[str] = "admins.remove"
    mutates: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class AdminsList(Command):
    """`admins list`."""

    action: ClassVar[str] = "admins.list"


@command(
    "admins add <@user>",
    AdminsAdd,
    summary="make a user a byokbot admin",
    example="admins add <@112233445566778899>",
    fields=(arg("user", "user"),),
)
async def add(ctx: CommandContext, cmd: AdminsAdd) -> None:
    """Grant a user admin rights in this workspace."""
    user = refs.user_id(cmd.user, platform=ctx.place.platform)

    def work(session: Session) -> bool:
        added = grant(
            session, workspace_id=ctx.workspace_id, user_id=user, granted_by=ctx.sender.user_id
        )
        ctx.audit(session, action=cmd.action, target=user, detail="" if added else "already")
        return added

    added = await ctx.db(work)
    shown = ctx.show_user(user)
    if added:
        await ctx.reply(f"{shown} is now a byokbot admin of this workspace.")
    else:
        await ctx.reply(f"{shown} was already a byokbot admin.")


@command(
    "admins remove <@user>",
    AdminsRemove,
    summary="take a user's byokbot admin rights away",
    example="admins remove <@112233445566778899>",
    fields=(arg("user", "user"),),
)
async def remove(ctx: CommandContext, cmd: AdminsRemove) -> None:
    """Take granted admin rights away (platform admins keep theirs)."""
    user = refs.user_id(cmd.user, platform=ctx.place.platform)

    def work(session: Session) -> None:
        if not revoke(session, workspace_id=ctx.workspace_id, user_id=user):
            raise NotFound(
                f"{ctx.show_user(user)} is not a granted admin (platform admins stay admins)",
                kind="admin",
                name=user,
            )
        ctx.audit(session, action=cmd.action, target=user)

    await ctx.db(work)
    line = f"{ctx.show_user(user)} is no longer a granted byokbot admin."
    if user == ctx.sender.user_id:
        line += " That was you: you keep rights only if the platform makes you an admin."
    await ctx.reply(line)


@command("admins list", AdminsList, summary="list the granted admins", example="admins list")
async def list_all(ctx: CommandContext, cmd: AdminsList) -> None:
    """The granted admins; platform admins are admins too and are not listed."""

    def work(session: Session) -> str:
        rows = list_admins(session, workspace_id=ctx.workspace_id)
        note = "Platform admins (workspace owners and admins, Manage Server) are admins too."
        if not rows:
            return f"No granted admins. {note}"
        tz = ctx.tz(session)
        lines = [f"Granted admins ({len(rows)}):"]
        for row in rows:
            by = f" by {ctx.show_user(row.granted_by)}" if row.granted_by else ""
            lines.append(
                f"• {ctx.show_user(row.user_id)} — since {local_time(row.created_at, tz)}{by}"
            )
        lines.append(note)
        return "\n".join(lines)

    await ctx.reply(await ctx.db(work))
