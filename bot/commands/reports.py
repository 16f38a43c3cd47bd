"""`/byok usage` (totals and groups, exact decimal cost) and `/byok usage export` (CSV)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zoneinfo
from dataclasses import dataclass
from typing import ClassVar

from sqlmodel import Session

from bot.commands import values
from bot.commands.base import Command, Dimension, Since
from bot.commands.context import CommandContext
from bot.commands.display import count, plural
from bot.commands.fields import option
from bot.commands.registry import command
from bot.commands.words import Words
from bot.money import format_pico, from_pico
from storage import outcomes
from storage.models import UsageEvent
from storage.reports import UsageLine, usage_by, usage_events, usage_total

DEFAULT_SINCE = Since(days=30)
MAX_ROWS = 25
_COLUMNS = (
    "time_utc", "agent", "key", "provider", "model", "user", "channel", "outcome", "error_kind",
    "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
    "reasoning_tokens", "cost_usd", "priced", "estimated", "input_price_mtok",
    "output_price_mtok", "cache_read_price_mtok", "cache_write_price_mtok", "latency_ms",
    "provider_request_id",
)  # fmt: skip
# Spreadsheets run cells starting with these as formulas; such text cells get a quote.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


_SINCE = "[--since 1d|7d|30d|YYYY-MM-DD]"


@dataclass(frozen=True, slots=True)
class UsageReport(Command):
    """`usage [--since …] [--by agent|key|model|user]`."""

    action: ClassVar[str] = "usage.report"
    since: Since | None = None
    by: Dimension = "agent"

    @classmethod
    def build(cls, words: Words) -> UsageReport:
        """The window (default: 30 days) and the grouping (default: by agent)."""
        return cls(since=words.since(), by=values.dimension(words.opts.get("--by", "agent")))


@dataclass(frozen=True, slots=True)
class UsageExport(Command):
    """`usage export [--since …]`."""

    action: ClassVar[str] = "usage.export"
    mutates: ClassVar[bool] = True  # audited: data leaves the bot
    since: Since | None = None

    @classmethod
    def build(cls, words: Words) -> UsageExport:
        """The window (default: 30 days)."""
        return cls(since=words.since())


def window_start(since: Since, *, now: dt.datetime, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    """The naive-UTC start of a `--since` window (a calendar day is midnight in `tz`)."""
    if since.days is not None:
        start = now - dt.timedelta(days=since.days)
    else:
        assert since.day is not None
        day = since.day
        start = dt.datetime(day.year, day.month, day.day, tzinfo=tz)
    return start.astimezone(dt.UTC).replace(tzinfo=None)


def _figures(line: UsageLine) -> str:
    parts = [
        format_pico(line.cost_pusd),
        plural(line.calls, "call"),
        f"{count(line.tokens)} tokens",
    ]
    if line.unpriced:
        parts.append(f"{line.unpriced:,} unpriced (not in the cost)")
    if line.estimated:
        parts.append(f"{line.estimated:,} estimated")
    parts.append(f"outcomes: {outcomes.summary(line.outcomes)}")
    return " · ".join(parts)


def _label(ctx: CommandContext, *, by: str, group: str) -> str:
    if not group:
        return "(none)"
    return ctx.show_user(group) if by == "user" else group


def _span(since: Since, *, when: str) -> str:
    # In words ("over the last 7 days"), not as typed ("7d").
    if since.days is None:
        return f"since {since.day} ({when})"
    days = "day" if since.days == 1 else f"{since.days} days"
    return f"over the last {days} (since {when})"


@command(
    f"usage {_SINCE} [--by agent|key|model|user]",
    UsageReport,
    summary="spend, requests and tokens (default: the last 30 days, by agent)",
    brief="Spend, requests and tokens (or a CSV export)",
    example="usage --since 7d --by model",
    details="costs are exact; unpriced and estimated calls are flagged.",
    fields=(option("since", "--since"), option("by", "--by", choices=values.DIMENSIONS)),
)
async def report(ctx: CommandContext, cmd: UsageReport) -> None:
    """Totals and per-group rows since the window start, costliest first."""
    since = cmd.since or DEFAULT_SINCE

    def work(session: Session) -> str:
        tz = ctx.tz(session)
        start = window_start(since, now=ctx.now(), tz=tz)
        total = usage_total(session, workspace_id=ctx.workspace_id, since=start)
        head = f"Usage {_span(since, when=_when(start, tz))}"
        if total.calls == 0 and total.refused == 0:
            return f"{head}: nothing yet."
        lines = [f"{head}, by {cmd.by}:", f"Total: {_figures(total)}"]
        groups = usage_by(session, workspace_id=ctx.workspace_id, since=start, by=cmd.by)
        for line in groups[:MAX_ROWS]:
            lines.append(f"• {_label(ctx, by=cmd.by, group=line.group)}: {_figures(line)}")
        if len(groups) > MAX_ROWS:
            lines.append(f"… and {len(groups) - MAX_ROWS:,} more; /byok usage export has them all.")
        return "\n".join(lines)

    await ctx.reply(await ctx.db(work))


def _when(start: dt.datetime, tz: zoneinfo.ZoneInfo) -> str:
    return start.replace(tzinfo=dt.UTC).astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def _cell(value: object) -> str:
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _row(event: UsageEvent) -> list[str]:
    cost = "" if event.cost_pusd is None else f"{from_pico(event.cost_pusd).normalize():f}"
    values: list[object] = [
        event.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"), event.agent_name, event.key_name,
        event.provider, event.model, event.user_id, event.channel_id, event.outcome,
        event.error_kind, event.input_tokens, event.output_tokens, event.cache_read_tokens,
        event.cache_write_tokens, event.reasoning_tokens, cost, event.priced, event.estimated,
        event.input_price_mtok, event.output_price_mtok, event.cache_read_price_mtok,
        event.cache_write_price_mtok, event.latency_ms, event.provider_request_id,
    ]  # fmt: skip
    return [_cell(value) for value in values]


def to_csv(events: list[UsageEvent]) -> bytes:
    """The export file: a header and one row per call, costs as exact decimals."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(_COLUMNS)
    writer.writerows(_row(event) for event in events)
    return buffer.getvalue().encode("utf-8")


@command(
    f"usage export {_SINCE}",
    UsageExport,
    summary="every call since then as a CSV file",
    example="usage export --since 2026-11-01",
    fields=(option("since", "--since"),),
    fold_into=("usage",),  # in a form: `usage` with its `export` switch on
    fold_switch="export",
)
async def export(ctx: CommandContext, cmd: UsageExport) -> None:
    """Every usage row since the window start as a private CSV file."""
    since = cmd.since or DEFAULT_SINCE

    def work(session: Session) -> tuple[bytes, int, str]:
        tz = ctx.tz(session)
        start = window_start(since, now=ctx.now(), tz=tz)
        events = list(usage_events(session, workspace_id=ctx.workspace_id, since=start))
        ctx.audit(session, action=cmd.action, detail=f"since={since.describe()} rows={len(events)}")
        return to_csv(events), len(events), start.date().isoformat()

    content, rows, day = await ctx.db(work)
    name = f"byokbot-usage-since-{day}.csv"
    title = f"byokbot usage since {since.describe()}: {plural(rows, 'call')}"
    await ctx.sink.send_file(filename=name, content=content, title=title, private=True)
