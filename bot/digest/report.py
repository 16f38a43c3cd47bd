"""The figures of one workspace's daily digest, computed exactly from usage metadata.

Days are calendar days in the workspace's timezone; `usage_events.created_at` is naive UTC,
so each local day becomes the half-open UTC interval between two local midnights (23 or 25
hours long on daylight-saving days). Money stays integer pico-USD until it becomes Decimal.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bot.clock import zone_or_utc
from bot.money import from_pico
from storage.digest import (
    BudgetUse,
    MemberBucket,
    UsageBucket,
    budget_uses,
    failure_counts,
    keys_by_status,
    member_buckets,
    usage_buckets,
)
from storage.models import Workspace
from storage.reports import outcome_counts

logger = logging.getLogger(__name__)

CHART_DAYS = 14
AVERAGE_DAYS = 7
TOP_MEMBERS = 5
KEY_FAILURE_KINDS = ("key_rejected", "rate_limited", "quota_exhausted")
_DAY = CHART_DAYS - 1  # bucket index of the digest day
_DAY_BEFORE = _DAY - 1


@dataclass(frozen=True, slots=True)
class Figures:
    """Spend, requests and tokens of one day (or one slice of it)."""

    spend: Decimal = Decimal(0)
    requests: int = 0
    tokens: int = 0


@dataclass(frozen=True, slots=True)
class Average:
    """Per-day average of the days before the digest day."""

    spend: Decimal
    requests: Decimal
    tokens: Decimal


@dataclass(frozen=True, slots=True)
class Breakdown:
    """One agent, key or model: its figures on the digest day and on the day before."""

    name: str
    figures: Figures
    previous: Figures


@dataclass(frozen=True, slots=True)
class BudgetLine:
    """A budget's consumption in its current period (and, for daily ones, on the digest day)."""

    target: str  # "workspace", the agent's name, "each-user" or the member's id
    is_workspace: bool
    period: str  # day | month
    period_start: str
    limit: Decimal
    spent: Decimal
    spent_on_day: Decimal | None
    scope: str = "agent"  # workspace | agent | user | each-user
    soft: bool = False


@dataclass(frozen=True, slots=True)
class KeyProblem:
    """A key whose calls failed on the digest day, or that is marked failing, with advice."""

    key_name: str
    provider: str
    counts: tuple[tuple[str, int], ...]  # (failure kind, calls)
    failing: bool
    advice: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DigestReport:
    """Everything a digest shows, for one workspace and one local day."""

    workspace_id: str
    workspace_name: str  # a human name, never the raw id (see `display_name`)
    platform: str
    timezone: str
    day: dt.date
    until: dt.datetime | None  # local "now" when the day is not over yet (today so far)
    total: Figures
    previous: Figures
    week_average: Average
    failed_calls: int
    outcomes: dict[str, int]  # the day's rows per outcome word (storage.outcomes)
    by_agent: tuple[Breakdown, ...]
    by_key: tuple[Breakdown, ...]
    by_model: tuple[Breakdown, ...]
    top_members: tuple[Breakdown, ...]  # name = platform user id, biggest spend first
    budgets: tuple[BudgetLine, ...]
    key_problems: tuple[KeyProblem, ...]
    unpriced: tuple[tuple[str, int], ...]  # (model, calls) without a published price
    estimated_calls: int
    chart_days: tuple[dt.date, ...]
    chart_spend: dict[str, tuple[Decimal, ...]]  # agent -> spend per chart day

    @property
    def quiet(self) -> bool:
        """True when the day saw no call at all (the digest is then one short line)."""
        return self.total.requests == 0

    @property
    def daily_limit(self) -> Decimal | None:
        """The workspace's daily limit, if it has one."""
        for line in self.budgets:
            if line.is_workspace and line.period == "day" and line.limit > 0:
                return line.limit
        return None


_PLATFORM_PLACES = {"slack": "Slack workspace", "discord": "Discord server"}


def display_name(workspace: Workspace) -> str:
    """The workspace's stored name (Slack team, Discord guild), else a human fallback."""
    if workspace.name.strip():
        return workspace.name.strip()
    if workspace.platform == "console":
        return "console"
    return f"your {_PLATFORM_PLACES.get(workspace.platform, 'workspace')}"


def local_midnight_utc(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    """The naive-UTC instant at which `day` starts in `zone`."""
    local = dt.datetime.combine(day, dt.time(0), tzinfo=zone)
    return local.astimezone(dt.UTC).replace(tzinfo=None)


def yesterday_in(zone: ZoneInfo, now: dt.datetime) -> dt.date:
    """The local calendar day before `now`'s local day."""
    return now.astimezone(zone).date() - dt.timedelta(days=1)


def build_report(
    session: Session, *, workspace: Workspace, day: dt.date, now: dt.datetime
) -> DigestReport:
    """Compute the digest of `workspace` for local `day`; `now` (aware) picks budget periods."""
    zone = zone_or_utc(workspace.timezone)
    days = tuple(day - dt.timedelta(days=CHART_DAYS - 1 - i) for i in range(CHART_DAYS))
    bounds = [local_midnight_utc(d, zone) for d in (*days, day + dt.timedelta(days=1))]
    buckets = usage_buckets(session, workspace_id=workspace.id, boundaries=bounds)
    members = member_buckets(session, workspace_id=workspace.id, boundaries=bounds[_DAY_BEFORE:])
    local_now = now.astimezone(zone)
    on_day = [b for b in buckets if b.bucket == _DAY]
    per_day = [_figures(b for b in buckets if b.bucket == i) for i in range(CHART_DAYS)]
    week = per_day[_DAY - AVERAGE_DAYS : _DAY]
    unpriced: dict[str, int] = defaultdict(int)
    for b in on_day:
        if b.unpriced:
            unpriced[b.model or "(unknown model)"] += b.unpriced
    return DigestReport(
        workspace_id=workspace.id,
        workspace_name=display_name(workspace),
        platform=workspace.platform,
        timezone=zone.key,
        day=day,
        until=local_now.replace(tzinfo=None) if local_now.date() <= day else None,
        total=per_day[_DAY],
        previous=per_day[_DAY_BEFORE],
        week_average=Average(
            spend=sum((f.spend for f in week), Decimal(0)) / AVERAGE_DAYS,
            requests=Decimal(sum(f.requests for f in week)) / AVERAGE_DAYS,
            tokens=Decimal(sum(f.tokens for f in week)) / AVERAGE_DAYS,
        ),
        failed_calls=sum(b.errors for b in on_day),
        outcomes=outcome_counts(
            session, workspace_id=workspace.id, start=bounds[_DAY], end=bounds[_DAY + 1]
        ),
        by_agent=_breakdown(buckets, lambda b: b.agent_name or "(no agent)"),
        by_key=_breakdown(buckets, lambda b: b.key_name or "(no key)"),
        by_model=_breakdown(buckets, lambda b: b.model or "(unknown model)"),
        top_members=_top_members(members),
        budgets=_budget_lines(session, workspace_id=workspace.id, zone=zone, day=day, now=now),
        key_problems=_key_problems(
            session, workspace_id=workspace.id, start=bounds[_DAY], end=bounds[_DAY + 1]
        ),
        unpriced=tuple(sorted(unpriced.items(), key=lambda item: (-item[1], item[0]))),
        estimated_calls=sum(b.estimated for b in on_day),
        chart_days=days,
        chart_spend=_chart_spend(buckets),
    )


def _figures(buckets: Iterable[UsageBucket]) -> Figures:
    spend = requests = tokens = 0
    for b in buckets:
        spend += b.cost_pusd
        requests += b.requests
        tokens += b.tokens
    return Figures(spend=from_pico(spend), requests=requests, tokens=tokens)


def _top_members(members: list[MemberBucket]) -> tuple[Breakdown, ...]:
    """The TOP_MEMBERS biggest spenders of the day (bucket 1; bucket 0 is the day before)."""

    def figures(bucket: MemberBucket | None) -> Figures:
        if bucket is None:
            return Figures()
        return Figures(
            spend=from_pico(bucket.cost_pusd), requests=bucket.requests, tokens=bucket.tokens
        )

    before = {m.user_id: m for m in members if m.bucket == 0}
    lines = [
        Breakdown(name=m.user_id, figures=figures(m), previous=figures(before.get(m.user_id)))
        for m in members
        if m.bucket == 1 and m.user_id
    ]
    lines.sort(key=lambda line: (-line.figures.spend, -line.figures.requests, line.name))
    return tuple(lines[:TOP_MEMBERS])


def _breakdown(
    buckets: list[UsageBucket], name_of: Callable[[UsageBucket], str]
) -> tuple[Breakdown, ...]:
    """Group by `name_of`; names used on the day, biggest spend first."""
    today: dict[str, list[UsageBucket]] = defaultdict(list)
    before: dict[str, list[UsageBucket]] = defaultdict(list)
    for b in buckets:
        if b.bucket == _DAY:
            today[name_of(b)].append(b)
        elif b.bucket == _DAY_BEFORE:
            before[name_of(b)].append(b)
    lines = [
        Breakdown(name=name, figures=_figures(rows), previous=_figures(before.get(name, [])))
        for name, rows in today.items()
    ]
    lines.sort(key=lambda line: (-line.figures.spend, -line.figures.requests, line.name))
    return tuple(lines)


def _chart_spend(buckets: list[UsageBucket]) -> dict[str, tuple[Decimal, ...]]:
    picos: dict[str, list[int]] = defaultdict(lambda: [0] * CHART_DAYS)
    for b in buckets:
        if 0 <= b.bucket < CHART_DAYS and b.cost_pusd:
            picos[b.agent_name or "(no agent)"][b.bucket] += b.cost_pusd
    return {name: tuple(from_pico(p) for p in values) for name, values in picos.items()}


def _budget_lines(
    session: Session, *, workspace_id: str, zone: ZoneInfo, day: dt.date, now: dt.datetime
) -> tuple[BudgetLine, ...]:
    today = now.astimezone(zone).date()
    current = {"day": today.isoformat(), "month": today.strftime("%Y-%m")}
    starts = {*current.values(), day.isoformat()}
    lines = [
        _budget_line(use, current=current, day=day)
        for use in budget_uses(session, workspace_id=workspace_id, period_starts=starts)
    ]
    lines.sort(key=lambda line: (not line.is_workspace, line.target, line.period))
    return tuple(lines)


def _budget_line(use: BudgetUse, *, current: dict[str, str], day: dt.date) -> BudgetLine:
    budget = use.budget
    is_workspace = budget.target == "workspace"
    period_start = current.get(budget.period, "")
    on_day: Decimal | None = None
    if budget.period == "day" and day.isoformat() != period_start:
        on_day = from_pico(use.spent_pusd.get(day.isoformat(), 0))
    scope = budget.target.split(":", 1)[0]
    target = "workspace" if is_workspace else (use.agent_name or "(deleted agent)")
    if scope in ("user", "each-user"):
        target = budget.member_id or "each-user"
    return BudgetLine(
        target=target,
        scope=scope,
        soft=budget.soft,
        is_workspace=is_workspace,
        period=budget.period,
        period_start=period_start,
        limit=from_pico(budget.limit_pusd),
        spent=from_pico(use.spent_pusd.get(period_start, 0)),
        spent_on_day=on_day,
    )


def key_advice(key_name: str, kinds: Iterable[str]) -> tuple[str, ...]:
    """What an admin should do about a key, per failure kind seen."""
    advice: list[str] = []
    found = set(kinds)
    if found & {"key_rejected", "failing"}:
        advice.append(f"check it at the provider and rotate with `/byok key rotate {key_name}`")
    if "rate_limited" in found:
        advice.append(
            "raise the provider rate limit, or add a second key with `/byok key add` "
            "and move some agents to it"
        )
    if "quota_exhausted" in found:
        advice.append(
            "add credit or raise the spend limit at the provider, or move agents to another "
            "key with `/byok agent set <agent> --key <key>`"
        )
    return tuple(advice)


def _key_problems(
    session: Session, *, workspace_id: str, start: dt.datetime, end: dt.datetime
) -> tuple[KeyProblem, ...]:
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    providers: dict[str, str] = {}
    rows = failure_counts(
        session, workspace_id=workspace_id, start=start, end=end, kinds=KEY_FAILURE_KINDS
    )
    for row in rows:
        kind = row.error_kind if row.error_kind in KEY_FAILURE_KINDS else row.status
        name = row.key_name or "(no key)"
        counts[name][kind] += row.count
        providers.setdefault(name, row.provider)
    failing = {
        key.name: key.provider
        for key in keys_by_status(session, workspace_id=workspace_id, status="failing")
    }
    problems = []
    for name in sorted(set(counts) | set(failing)):
        kinds = dict(counts.get(name, {}))
        problems.append(
            KeyProblem(
                key_name=name,
                provider=failing.get(name) or providers.get(name, ""),
                counts=tuple(sorted(kinds.items())),
                failing=name in failing,
                advice=key_advice(name, [*kinds, *(["failing"] if name in failing else [])]),
            )
        )
    return tuple(problems)
