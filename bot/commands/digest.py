"""`/byok digest channel|at|now|off`: where and when the daily digest goes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import ClassVar

from sqlmodel import Session

from bot.clock import as_aware_utc, zone_or_utc
from bot.commands import values
from bot.commands.base import ChannelRef, Command, DigestDay
from bot.commands.context import CommandContext
from bot.commands.fields import arg
from bot.commands.registry import command
from bot.commands.words import Words
from bot.digest.claim import skip_ended_days
from bot.digest.schedule import post_digest
from bot.errors import InvalidValue
from storage.models import Workspace

_NOW_LINES = {
    "posted": "digest of {day} posted in {channel}.",
    "no_channel": "there is no digest channel yet; set one with /byok digest channel #channel.",
    "no_poster": "the digest cannot be posted on this platform right now.",
    "failed": "the digest could not be posted in {channel}; check the bot can write there.",
}


@dataclass(frozen=True, slots=True)
class DigestChannel(Command):
    """`digest channel [#channel]`."""

    action: ClassVar[str] = "digest.channel"
    mutates: ClassVar[bool] = True
    channel: ChannelRef | None = None

    @classmethod
    def build(cls, words: Words) -> DigestChannel:
        """The channel (default: this one)."""
        return cls(channel=words.channel(0))


@dataclass(frozen=True, slots=True)
class DigestAt(Command):
    """`digest at <HH:MM> [<IANA tz>]`."""

    action: ClassVar[str] = "digest.at"
    mutates: ClassVar[bool] = True
    time: str
    tz: str | None = None

    @classmethod
    def build(cls, words: Words) -> DigestAt:
        """The time of day and, optionally, the workspace's timezone."""
        tz = words.arg(1)
        return cls(
            time=values.clock_time(words.args[0]),
            tz=values.timezone(tz) if tz is not None else None,
        )


@dataclass(frozen=True, slots=True)
class DigestNow(Command):
    """`digest now [today|yesterday|YYYY-MM-DD]`: today so far by default."""

    action: ClassVar[str] = "digest.now"
    mutates: ClassVar[bool] = True
    day: DigestDay = "today"

    @classmethod
    def build(cls, words: Words) -> DigestNow:
        """The day (default: today so far)."""
        return cls(day=values.digest_day(words.arg(0) or "today"))


@dataclass(frozen=True, slots=True)
class DigestOff(Command):
    """`digest off`."""

    action: ClassVar[str] = "digest.off"
    mutates: ClassVar[bool] = True


def _workspace(session: Session, ctx: CommandContext) -> Workspace:
    workspace = session.get(Workspace, ctx.workspace_id)
    assert workspace is not None  # ensured before every management command
    return workspace


@command(
    "digest channel [#channel]",
    DigestChannel,
    summary="post the daily digest and budget alerts in a channel (default: this channel)",
    brief="Post the digest in a channel (default: here)",
    example="digest channel <#112233445566778899>",
    fields=(arg("channel", "channel", optional=True),),
)
async def channel(ctx: CommandContext, cmd: DigestChannel) -> None:
    """Post the digest and budget alerts in a channel (default: this one)."""
    target = ctx.channel(cmd.channel)

    def work(session: Session) -> tuple[str, str]:
        workspace = _workspace(session, ctx)
        if not (workspace.digest_channel and workspace.digest_enabled):
            # Switching the digest on: days that already ended are not caught up on.
            skip_ended_days(session, workspace=workspace, now=ctx.services.clock())
        workspace.digest_channel, workspace.digest_enabled = target, True
        session.add(workspace)
        ctx.audit(session, action=cmd.action, target=target)
        return workspace.digest_time, workspace.timezone

    at, tz = await ctx.db(work)
    await ctx.reply(
        f"the daily digest and budget alerts go to {ctx.show_channel(target)},"
        f" daily at {at} ({tz})."
    )


@command(
    "digest at <HH:MM> [<IANA tz>]",
    DigestAt,
    summary="when the daily digest is posted, and the workspace timezone",
    brief="When the digest is posted, and the timezone",
    example="digest at 18:30 Europe/Berlin",
    fields=(arg("time"), arg("timezone", optional=True)),
)
async def at(ctx: CommandContext, cmd: DigestAt) -> None:
    """When the digest is posted; a timezone also sets the workspace's day for budgets."""

    def work(session: Session) -> tuple[str, str | None, bool]:
        workspace = _workspace(session, ctx)
        tz_changed = cmd.tz is not None and cmd.tz != workspace.timezone
        workspace.digest_time = cmd.time
        if cmd.tz is not None:
            workspace.timezone = cmd.tz
        session.add(workspace)
        ctx.audit(session, action=cmd.action, target=cmd.time, detail=f"tz={workspace.timezone}")
        return workspace.timezone, workspace.digest_channel, tz_changed

    tz, where, tz_changed = await ctx.db(work)
    line = f"the digest is posted daily at {cmd.time} ({tz})."
    if tz_changed:
        line += f" Daily and monthly limits now follow {tz} too."
    if where is None:
        line += " No digest channel yet: set one with /byok digest channel #channel."
    await ctx.reply(line)


@command(
    "digest now [today|yesterday|YYYY-MM-DD]",
    DigestNow,
    summary="post a digest now: today so far (default), yesterday or a given day",
    brief="Post a digest now: today so far, yesterday or a date",
    example="digest now yesterday",
    fields=(arg("day", optional=True),),
)
async def now(ctx: CommandContext, cmd: DigestNow) -> None:
    """Post a digest now (today so far, yesterday or a day), whatever the schedule did."""

    def local_today(session: Session) -> tuple[dt.date, str]:
        workspace = _workspace(session, ctx)
        zone = zone_or_utc(workspace.timezone)
        return as_aware_utc(ctx.services.clock()).astimezone(zone).date(), zone.key

    today, tz = await ctx.db(local_today)
    if cmd.day == "today":
        day = today
    elif cmd.day == "yesterday":
        day = today - dt.timedelta(days=1)
    else:
        day = cmd.day
    if day > today:
        raise InvalidValue(f"{day} has not started yet ({tz}); try today or an earlier day.")
    outcome = await post_digest(ctx.services, workspace_id=ctx.workspace_id, day=day, force=True)

    def work(session: Session) -> None:
        ctx.audit(session, action=cmd.action, target=str(outcome.day), outcome=outcome.status)

    await ctx.db(work)
    where = ctx.show_channel(outcome.channel_id) if outcome.channel_id else ""
    template = _NOW_LINES.get(outcome.status, "the digest was not posted ({status}).")
    shown = f"today so far ({day})" if day == today else str(day)
    await ctx.reply(template.format(day=shown, channel=where, status=outcome.status))


@command("digest off", DigestOff, summary="stop the daily digest", example="digest off")
async def off(ctx: CommandContext, cmd: DigestOff) -> None:
    """Stop the daily digest (budget alerts still go to the digest channel)."""

    def work(session: Session) -> None:
        workspace = _workspace(session, ctx)
        workspace.digest_enabled = False
        session.add(workspace)
        ctx.audit(session, action=cmd.action)

    await ctx.db(work)
    await ctx.reply(
        "the daily digest is off; /byok digest channel turns it back on. Budget alerts still"
        " go to the digest channel."
    )
