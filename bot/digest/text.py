"""The digest as chat text: Slack mrkdwn that also reads well on Discord and in a console."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace
from decimal import ROUND_HALF_EVEN, Decimal

from bot.digest.report import Average, BudgetLine, DigestReport, Figures, KeyProblem
from bot.money import format_usd
from storage import outcomes

MAX_LINES = 10  # per breakdown; the rest is summarised in one line

_KIND_WORDS = {
    "key_rejected": "rejected",
    "rate_limited": "rate-limited",
    "quota_exhausted": "out of quota",
}


def render_text(report: DigestReport, *, chart_attached: bool = True) -> str:
    """The whole digest message for `report` (one short line for a day without calls)."""
    title = report.workspace_name or report.workspace_id
    if report.quiet:
        when = "today so far" if report.until is not None else f"on {report.day:%a %d %b %Y}"
        return f"*AI usage — {title}*: no AI calls {when}."
    if report.until is not None:
        lines = [
            f"*AI usage today so far — {title}*",
            f"{report.day:%A %d %B %Y}, until {report.until:%H:%M} ({report.timezone})",
            "",
        ]
    else:
        lines = [
            f"*Daily AI usage digest — {title}*",
            f"{report.day:%A %d %B %Y} ({report.timezone})",
            "",
        ]
    lines.append(
        f"*Spend {format_usd(report.total.spend)}* · {_count(report.total.requests, 'request')}"
        f" · {_count(report.total.tokens, 'token')}"
    )
    if any(report.outcomes.values()):
        lines.append(f"Outcomes: {outcomes.summary(report.outcomes)}.")
    if report.week_average.requests == 0 and report.previous.requests == 0:
        lines.append("No AI calls in the 7 days before.")
    else:
        whole = " whole" if report.until is not None else ""
        if report.previous.requests == 0:
            lines.append(f"The{whole} day before had no AI calls.")
        else:
            lines.append(_versus_day_before(report.total, report.previous, whole=whole))
        lines.append(_versus_average(report.total, report.week_average))
    members = tuple(
        replace(item, name=_member(item.name, platform=report.platform))
        for item in report.top_members
    )
    for heading, items in (
        ("By agent", report.by_agent),
        ("By key", report.by_key),
        ("By model", report.by_model),
        ("Top members", members),
    ):
        if items:
            lines += ["", f"*{heading}*"]
            lines += [
                f"• {_name(item.name, quoted=heading != 'Top members')}"
                f" {format_usd(item.figures.spend)}"
                f" ({_spend_change(item.figures.spend, item.previous.spend)})"
                f" · {_count(item.figures.requests, 'request')}"
                f" · {_count(item.figures.tokens, 'token')}"
                for item in items[:MAX_LINES]
            ]
            if len(items) > MAX_LINES:
                rest = items[MAX_LINES:]
                spend = sum((item.figures.spend for item in rest), Decimal(0))
                lines.append(f"• … and {len(rest)} more, {format_usd(spend)} together")
    if report.budgets:
        lines += ["", "*Budgets*", *(_budget(line, day=report.day) for line in report.budgets)]
    if report.key_problems:
        lines += ["", "*Keys that failed*", *(_key_problem(p) for p in report.key_problems)]
    lines += _flags(report)
    if chart_attached:
        lines += ["", "Chart attached: spend per agent over the last 14 days."]
    return "\n".join(lines)


def change(current: Decimal, base: Decimal) -> str:
    """Relative change as `+12.5%` / `-4.0%`; `new` when the base was zero and now is not."""
    if base == 0:
        return "±0%" if current == 0 else "new"
    percent = ((current - base) * 100 / base).quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN)
    if percent == 0:
        return "±0%"
    return f"{percent:+,}%"


def _spend_change(current: Decimal, base: Decimal) -> str:
    # "new vs day before" read as jargon: say plainly that the day before had none.
    shown = change(current, base)
    return "none the day before" if shown == "new" else f"{shown} vs day before"


def _member(user_id: str, *, platform: str) -> str:
    # As `bot.commands.refs.show_user` writes it (importing it here would be circular).
    return f"@{user_id}" if platform == "console" else f"<@{user_id}>"


def _name(name: str, *, quoted: bool) -> str:
    return f"`{name}`" if quoted else name


def _versus_day_before(total: Figures, previous: Figures, *, whole: str = "") -> str:
    return (
        f"vs the{whole} day before ({format_usd(previous.spend)}"
        f" · {_count(previous.requests, 'request')}"
        f" · {_count(previous.tokens, 'token')}): spend {change(total.spend, previous.spend)}"
        f" · requests {change(Decimal(total.requests), Decimal(previous.requests))}"
        f" · tokens {change(Decimal(total.tokens), Decimal(previous.tokens))}"
    )


def _versus_average(total: Figures, average: Average) -> str:
    requests = average.requests.quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN)
    tokens = average.tokens.quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
    return (
        f"vs the 7-day average ({format_usd(average.spend)} · {requests:,} requests"
        f" · {tokens:,} tokens a day): spend {change(total.spend, average.spend)}"
        f" · requests {change(Decimal(total.requests), average.requests)}"
        f" · tokens {change(Decimal(total.tokens), average.tokens)}"
    )


def _share(spent: Decimal, limit: Decimal) -> str:
    if limit <= 0:
        return "no limit"
    percent = (spent * 100 / limit).quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN)
    return f"{percent}%"


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def _budget(line: BudgetLine, *, day: dt.date) -> str:
    who = "workspace" if line.is_workspace else f"agent `{line.target}`"
    if line.scope == "user":
        who = f"member <@{line.target}>"
    elif line.scope == "each-user":
        who = "each member"
    period = "daily" if line.period == "day" else "monthly"
    kind = " soft" if line.soft else ""
    so_far = "today so far" if line.period == "day" else "this month so far"
    if line.scope == "each-user":
        so_far += " (the most by one member)"
    text = (
        f"• {who}, {period}{kind} limit {format_usd(line.limit)}: {format_usd(line.spent)}"
        f" ({_share(line.spent, line.limit)}) {so_far}"
    )
    if line.spent_on_day is not None:
        text += (
            f"; {format_usd(line.spent_on_day)} ({_share(line.spent_on_day, line.limit)})"
            f" on {day:%a %d %b}"
        )
    if line.limit > 0 and line.spent >= line.limit:
        text += " — *over its soft limit*" if line.soft else " — *exhausted*"
    return text


def _key_problem(problem: KeyProblem) -> str:
    facts = [f"{_KIND_WORDS.get(kind, kind)} {count:,}×" for kind, count in problem.counts]
    if problem.failing:
        facts.append("marked failing")
    provider = f" ({problem.provider})" if problem.provider else ""
    advice = "; ".join(problem.advice)
    return f"• `{problem.key_name}`{provider}: {', '.join(facts)} → {advice}"


def _flags(report: DigestReport) -> Sequence[str]:
    flags: list[str] = []
    if report.unpriced:
        calls = sum(count for _, count in report.unpriced)
        models = ", ".join(f"`{model}` ({count:,})" for model, count in report.unpriced)
        flags.append(
            f"⚠ {calls:,} call(s) used models without a published price and are not in the"
            f" spend: {models}"
        )
    if report.estimated_calls:
        flags.append(
            f"⚠ {report.estimated_calls:,} call(s) were charged at their reserved estimate"
            " (the stream ended before the provider reported usage)"
        )
    return ["", *flags] if flags else []
