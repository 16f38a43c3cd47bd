"""Digest figures from planted usage rows: exact money, changes, budgets, failing keys, days."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

from PIL import Image
from sqlalchemy.engine import Engine

from bot.digest.chart import PNG_SIGNATURE, TOTAL_GID, render_spend_chart, spend_figure
from bot.digest.report import DigestReport, build_report
from bot.digest.text import change, render_text
from storage.engine import session_scope
from storage.models import Workspace
from tests.digest.test_digest_support import (
    add_agent,
    add_budget,
    add_key,
    add_usage,
    add_workspace,
    local_utc,
)

WS = "slack:T1"
PARIS = "Europe/Paris"
DAY = dt.date(2026, 11, 26)
NOW = dt.datetime(2026, 11, 27, 9, 5, tzinfo=dt.UTC)
USD = 10**12  # pico-dollars per dollar


def report_for(engine: Engine, *, day: dt.date = DAY, now: dt.datetime = NOW) -> DigestReport:
    with session_scope(engine) as session:
        workspace = session.get(Workspace, WS)
        assert workspace is not None
        return build_report(session, workspace=workspace, day=day, now=now)


def plant_fortnight(engine: Engine) -> None:
    add_workspace(engine, WS, timezone=PARIS, name="Acme")
    add_workspace(engine, "slack:OTHER", timezone=PARIS)
    on_day = local_utc(PARIS, 2026, 11, 26, 12, 0)
    add_usage(engine, WS, at=on_day, cost_pusd=1_234_567_890_123)
    add_usage(engine, WS, at=on_day, cost_pusd=2 * USD, input_tokens=1000, output_tokens=500)
    add_usage(
        engine,
        WS,
        at=on_day,
        cost_pusd=USD // 2,
        agent="coder",
        key="anthropic-main",
        provider="anthropic",
        model="claude-sonnet-4-5",
        input_tokens=200,
        output_tokens=300,
    )
    add_usage(
        engine,
        WS,
        at=on_day,
        cost_pusd=None,
        priced=False,
        agent="coder",
        key="local",
        provider="ollama",
        model="my-local",
        input_tokens=10,
        output_tokens=10,
    )
    add_usage(engine, WS, at=on_day, cost_pusd=100_000_000, estimated=True, status="estimated")
    day_before = local_utc(PARIS, 2026, 11, 25, 8, 0)
    add_usage(engine, WS, at=day_before, cost_pusd=USD)
    add_usage(engine, WS, at=day_before, cost_pusd=USD)
    add_usage(engine, WS, at=day_before, cost_pusd=USD // 4, agent="coder", model="claude")
    for offset in range(2, 8):  # 2026-11-19 .. 2026-11-24
        day = DAY - dt.timedelta(days=offset)
        add_usage(
            engine, WS, at=local_utc(PARIS, day.year, day.month, day.day, 15), cost_pusd=USD // 2
        )
    # Outside the window or the workspace: never counted.
    add_usage(engine, WS, at=local_utc(PARIS, 2026, 11, 27, 0, 30), cost_pusd=100 * USD)
    add_usage(engine, WS, at=local_utc(PARIS, 2026, 11, 12, 12), cost_pusd=100 * USD)
    add_usage(engine, "slack:OTHER", at=on_day, cost_pusd=100 * USD)


def test_figures_are_exact_to_the_pico_dollar(engine: Engine) -> None:
    plant_fortnight(engine)
    report = report_for(engine)

    assert report.total.spend == Decimal("3.734667890123")
    assert report.total.requests == 5
    assert report.total.tokens == 150 + 1500 + 500 + 20 + 150
    assert report.previous.spend == Decimal("2.25")
    assert report.previous.requests == 3
    agents = {line.name: line for line in report.by_agent}
    assert [line.name for line in report.by_agent] == ["writer", "coder"]
    assert agents["writer"].figures.spend == Decimal("3.234667890123")
    assert agents["writer"].figures.requests == 3
    assert agents["writer"].previous.spend == Decimal(2)
    assert agents["coder"].figures.spend == Decimal("0.5")
    assert agents["coder"].figures.tokens == 520
    keys = {line.name: line.figures.spend for line in report.by_key}
    assert keys == {
        "openai-prod": Decimal("3.234667890123"),
        "anthropic-main": Decimal("0.5"),
        "local": Decimal(0),
    }
    models = {line.name: line.figures.requests for line in report.by_model}
    assert models == {"gpt-4o": 3, "claude-sonnet-4-5": 1, "my-local": 1}
    assert report.unpriced == (("my-local", 1),)
    assert report.estimated_calls == 1
    assert sum(line.figures.spend for line in report.by_agent) == report.total.spend

    text = render_text(report)
    assert "*Spend $3.73*" in text
    assert "5 requests · 2,320 tokens" in text
    assert "• `writer` $3.23 (+61.7% vs day before) · 3 requests" in text
    assert "`my-local` (1)" in text and "without a published price" in text
    assert "reserved estimate" in text
    assert "$100" not in text  # the planted $100 rows outside the day never show


def test_change_against_day_before_and_seven_day_average(engine: Engine) -> None:
    plant_fortnight(engine)
    report = report_for(engine)

    # The 7 days before the digest day: six at $0.50 and the day before at $2.25.
    assert report.week_average.spend == Decimal("5.25") / 7 == Decimal("0.75")
    assert report.week_average.requests == Decimal(9) / 7
    text = render_text(report)
    # (3.734667890123 - 2.25) / 2.25 = +65.985…%; (3.734667890123 - 0.75) / 0.75 = +397.955…%
    assert "vs the day before ($2.25 · 3 requests" in text
    assert "spend +66.0%" in text
    assert "vs the 7-day average ($0.75 · 1.3 requests" in text
    assert "spend +398.0%" in text
    assert change(Decimal(3), Decimal(4)) == "-25.0%"
    assert change(Decimal(0), Decimal(0)) == "±0%"
    assert change(Decimal(1), Decimal(0)) == "new"


def test_a_day_without_calls_is_one_short_line(engine: Engine) -> None:
    add_workspace(engine, WS, timezone=PARIS, name="Acme")
    add_usage(engine, WS, at=local_utc(PARIS, 2026, 11, 25, 10), cost_pusd=USD)
    add_budget(engine, WS, period="day", limit_pusd=5 * USD)
    report = report_for(engine)
    assert report.total.requests == 0 and report.total.spend == 0 and report.quiet
    assert render_text(report) == "*AI usage — Acme*: no AI calls on Thu 26 Nov 2026."
    today = report_for(engine, day=dt.date(2026, 11, 27))
    assert render_text(today) == "*AI usage — Acme*: no AI calls today so far."


def test_days_follow_the_workspace_timezone(engine: Engine) -> None:
    zone = "America/New_York"
    add_workspace(engine, WS, timezone=zone)
    counted = [
        (2026, 11, 26, 0, 0, 0, 0),  # local midnight: first instant of the day
        (2026, 11, 26, 23, 30, 0, 0),  # 04:30 UTC on the 27th, still the 26th locally
        (2026, 11, 26, 23, 59, 59, 999999),
    ]
    not_counted = [(2026, 11, 25, 23, 59, 59, 999999), (2026, 11, 27, 0, 0, 0, 0)]
    for parts in counted:
        add_usage(engine, WS, at=local_utc(zone, *parts), cost_pusd=USD)
    for parts in not_counted:
        add_usage(engine, WS, at=local_utc(zone, *parts), cost_pusd=10 * USD)
    report = report_for(engine, now=dt.datetime(2026, 11, 27, 15, tzinfo=dt.UTC))
    assert report.total.requests == 3
    assert report.total.spend == Decimal(3)
    assert report.previous.spend == Decimal(10)


def test_a_day_east_of_utc_and_a_25_hour_dst_day(engine: Engine) -> None:
    add_workspace(engine, WS, timezone="Asia/Kolkata")
    add_usage(engine, WS, at=dt.datetime(2026, 11, 26, 18, 0), cost_pusd=USD)  # 23:30 IST
    add_usage(engine, WS, at=dt.datetime(2026, 11, 26, 18, 30), cost_pusd=7 * USD)  # 27th
    add_usage(engine, WS, at=dt.datetime(2026, 11, 25, 18, 30), cost_pusd=USD)  # 00:00 IST
    assert report_for(engine).total.spend == Decimal(2)

    with session_scope(engine) as session:
        workspace = session.get(Workspace, WS)
        assert workspace is not None
        workspace.timezone = "Europe/Berlin"
    # 2026-10-25 is 25 hours long in Berlin (clocks go back at 03:00 CEST).
    add_usage(engine, WS, at=dt.datetime(2026, 10, 24, 22, 30), cost_pusd=USD)  # 00:30
    add_usage(engine, WS, at=dt.datetime(2026, 10, 25, 22, 30), cost_pusd=USD)  # 23:30 CET
    add_usage(engine, WS, at=dt.datetime(2026, 10, 25, 23, 0), cost_pusd=5 * USD)  # 26th
    add_usage(engine, WS, at=dt.datetime(2026, 10, 24, 21, 59), cost_pusd=5 * USD)  # 24th
    report = report_for(
        engine, day=dt.date(2026, 10, 25), now=dt.datetime(2026, 10, 26, 9, tzinfo=dt.UTC)
    )
    assert (report.total.requests, report.total.spend) == (2, Decimal(2))
    assert report.previous.spend == Decimal(5)


def test_budgets_show_their_current_period(engine: Engine) -> None:
    add_workspace(engine, WS, timezone=PARIS)
    writer = add_agent(engine, WS, "writer")
    coder = add_agent(engine, WS, "coder")
    add_budget(
        engine,
        WS,
        period="month",
        limit_pusd=50 * USD,
        spent={"2026-11": 12_345_000_000_000, "2026-10": 49 * USD},
    )
    add_budget(
        engine,
        WS,
        period="day",
        limit_pusd=5 * USD,
        agent_id=writer,
        spent={"2026-11-27": 400_000_000_000, "2026-11-26": 4_800_000_000_000},
    )
    add_budget(engine, WS, period="month", limit_pusd=2 * USD, agent_id=coder)
    add_usage(engine, WS, at=local_utc(PARIS, 2026, 11, 26, 12), cost_pusd=USD)
    # 23:30 UTC on the 26th is already the 27th in Paris: "today" follows the workspace.
    report = report_for(engine, now=dt.datetime(2026, 11, 26, 23, 30, tzinfo=dt.UTC))

    lines = {(b.target, b.period): b for b in report.budgets}
    assert report.budgets[0].is_workspace
    month = lines[("workspace", "month")]
    assert (month.period_start, month.limit, month.spent) == ("2026-11", 50, Decimal("12.345"))
    daily = lines[("writer", "day")]
    assert daily.period_start == "2026-11-27"
    assert daily.spent == Decimal("0.4") and daily.spent_on_day == Decimal("4.8")
    assert lines[("coder", "month")].spent == 0
    text = render_text(report)
    assert "• workspace, monthly limit $50.00: $12.35 (24.7%) this month so far" in text
    assert (
        "• agent `writer`, daily limit $5.00: $0.40 (8.0%) today so far;"
        " $4.80 (96.0%) on Thu 26 Nov"
    ) in text
    assert "• agent `coder`, monthly limit $2.00: $0.00 (0.0%) this month so far" in text


def test_failed_keys_are_listed_with_what_to_do(engine: Engine) -> None:
    add_workspace(engine, WS, timezone=PARIS)
    add_key(engine, WS, "old-key", provider="anthropic", status="failing")
    add_key(engine, WS, "healthy", status="active")
    noon = local_utc(PARIS, 2026, 11, 26, 12)
    for _ in range(2):
        add_usage(
            engine,
            WS,
            at=noon,
            cost_pusd=0,
            status="key_rejected",
            error_kind="key_rejected",
        )
    for _ in range(3):
        add_usage(
            engine,
            WS,
            at=noon,
            cost_pusd=0,
            key="groq-1",
            provider="groq",
            status="rate_limited",
            error_kind="rate_limited",
        )
    add_usage(
        engine,
        WS,
        at=noon,
        cost_pusd=0,
        key="anth",
        provider="anthropic",
        status="failed",
        error_kind="quota_exhausted",
    )
    add_usage(
        engine,
        WS,
        at=noon,
        cost_pusd=0,
        key="healthy",
        status="failed",
        error_kind="timeout",
    )
    add_usage(
        engine,
        WS,
        at=local_utc(PARIS, 2026, 11, 25, 12),
        cost_pusd=0,
        key="yesterdays-problem",
        status="key_rejected",
        error_kind="key_rejected",
    )
    report = report_for(engine)

    problems = {p.key_name: p for p in report.key_problems}
    assert set(problems) == {"openai-prod", "groq-1", "anth", "old-key"}
    assert problems["openai-prod"].counts == (("key_rejected", 2),)
    assert problems["groq-1"].counts == (("rate_limited", 3),)
    assert problems["anth"].counts == (("quota_exhausted", 1),)
    assert problems["old-key"].failing and problems["old-key"].counts == ()
    assert report.failed_calls == 7
    text = render_text(report)
    assert (
        "• `openai-prod` (openai): rejected 2× → check it at the provider and rotate with"
        " `/byok key rotate openai-prod`"
    ) in text
    assert "• `groq-1` (groq): rate-limited 3× → raise the provider rate limit" in text
    assert "or add a second key with `/byok key add`" in text
    assert "• `anth` (anthropic): out of quota 1× → add credit" in text
    assert "• `old-key` (anthropic): marked failing → " in text
    assert "`/byok key rotate old-key`" in text
    assert "healthy" not in text.split("*Keys that failed*")[1]


def test_chart_is_a_png_of_fourteen_days(engine: Engine) -> None:
    plant_fortnight(engine)
    report = report_for(engine)
    assert report.chart_days[0] == dt.date(2026, 11, 13) and report.chart_days[-1] == DAY
    assert report.chart_spend["writer"][-1] == Decimal("3.234667890123")
    assert report.chart_spend["writer"][0] == 0  # the $100 row on the 12th is outside

    png = render_spend_chart(days=report.chart_days, spend=report.chart_spend, title="Acme")
    assert png.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(png))
    image.load()
    assert image.format == "PNG" and image.size[0] >= 600
    drawn = image.text["Days"].split(",")  # type: ignore[attr-defined]
    assert drawn == [d.isoformat() for d in report.chart_days] and len(drawn) == 14
    assert image.text["Bars"] == "14,14"  # type: ignore[attr-defined]
    assert len(image.convert("RGB").getcolors(maxcolors=100_000) or []) > 10


def test_chart_groups_many_agents_and_escapes_dollars() -> None:
    days = [dt.date(2026, 11, 1) + dt.timedelta(days=i) for i in range(14)]
    spend = {f"agent-{i}$": [Decimal(i + 1)] * 14 for i in range(11)}
    png = render_spend_chart(days=days, spend=spend, title="$ spend $")
    image = Image.open(io.BytesIO(png))
    assert image.text["Bars"] == ",".join(["14"] * 8)  # type: ignore[attr-defined]
    empty = Image.open(io.BytesIO(render_spend_chart(days=days, spend={}, title="none")))
    assert empty.text["Days"].count(",") == 13  # type: ignore[attr-defined]
    assert empty.text["Bars"] == ""  # type: ignore[attr-defined]


def test_long_breakdowns_are_cut_and_summarised(engine: Engine) -> None:
    add_workspace(engine, WS, timezone=PARIS)
    noon = local_utc(PARIS, 2026, 11, 26, 12)
    for i in range(13):
        add_usage(engine, WS, at=noon, cost_pusd=(i + 1) * USD, agent=f"agent-{i:02d}")
    report = report_for(engine)
    assert len(report.by_agent) == 13 and report.by_agent[0].name == "agent-12"
    text = render_text(report)
    by_agent = text.split("*By agent*")[1].split("*By key*")[0]
    assert by_agent.count("• `agent-") == 10
    assert "• … and 3 more, $6.00 together" in by_agent  # agents 00-02: $1 + $2 + $3


def test_top_five_members_by_spend(engine: Engine) -> None:
    add_workspace(engine, WS, timezone=PARIS)
    noon = local_utc(PARIS, 2026, 11, 26, 12)
    for i in range(7):  # U0 spends $1 … U6 spends $7
        add_usage(engine, WS, at=noon, cost_pusd=(i + 1) * USD, user=f"U{i}")
    add_usage(engine, WS, at=noon, cost_pusd=USD // 2, user="U6")
    add_usage(engine, WS, at=local_utc(PARIS, 2026, 11, 25, 12), cost_pusd=USD, user="U5")
    add_usage(engine, WS, at=local_utc(PARIS, 2026, 11, 27, 1), cost_pusd=99 * USD, user="U0")
    report = report_for(engine)
    top = [(m.name, m.figures.spend, m.figures.requests) for m in report.top_members]
    assert top == [
        ("U6", Decimal("7.5"), 2),
        ("U5", Decimal(6), 1),
        ("U4", Decimal(5), 1),
        ("U3", Decimal(4), 1),
        ("U2", Decimal(3), 1),
    ]
    assert report.top_members[1].previous.spend == Decimal(1)
    members = render_text(report).split("*Top members*\n")[1].split("\n\n")[0].splitlines()
    assert members == [
        "• <@U6> $7.50 (none the day before) · 2 requests · 300 tokens",
        "• <@U5> $6.00 (+500.0% vs day before) · 1 request · 150 tokens",
        "• <@U4> $5.00 (none the day before) · 1 request · 150 tokens",
        "• <@U3> $4.00 (none the day before) · 1 request · 150 tokens",
        "• <@U2> $3.00 (none the day before) · 1 request · 150 tokens",
    ]


def test_chart_reads_at_a_glance() -> None:
    days = [dt.date(2026, 11, 30) + dt.timedelta(days=i) for i in range(14)]
    spend = {
        "writer": [Decimal(i % 3) for i in range(14)],
        "coder": [Decimal("0.25")] * 13 + [Decimal("0.042")],
    }
    figure = spend_figure(
        days=days,
        spend=spend,
        title="Acme: AI spend per agent, last 14 days",
        highlight=days[-1],
        daily_limit=Decimal(5),
    )
    figure.canvas.draw()
    [axes] = figure.axes
    # Legend outside the plotting area: it never covers a bar.
    legend = axes.get_legend()
    assert legend is not None
    assert legend.get_window_extent().x0 >= axes.get_window_extent().x1
    assert [t.get_text() for t in legend.get_texts()] == ["daily limit \\$5.00", "writer", "coder"]
    # Each day's total above its bar.
    totals = [t for t in axes.texts if t.get_gid() == TOTAL_GID]
    assert [t.get_text() for t in totals][:4] == ["\\$0.25", "\\$1.25", "\\$2.25", "\\$0.25"]
    assert totals[-1].get_text() == "\\$1.04" and totals[-1].get_fontweight() == "bold"
    tops = [sum(float(v[i]) for v in spend.values()) for i in range(14)]
    assert all(t.get_position()[1] > top for t, top in zip(totals, tops, strict=True))
    # Weekday and date, horizontal; the digest's day in bold.
    labels = axes.get_xticklabels()
    assert labels[0].get_text() == "Mon\n11-30" and labels[-1].get_text() == "Sun\n12-13"
    assert {label.get_rotation() for label in labels} == {0.0}
    assert labels[-1].get_fontweight() == "bold" and labels[0].get_fontweight() == "normal"
    # The daily limit as a dashed horizontal line; the title names the workspace.
    [limit] = [line for line in axes.get_lines() if line.get_linestyle() == "--"]
    assert set(limit.get_ydata()) == {5.0}  # type: ignore[arg-type]
    assert axes.get_title(loc="left").startswith("Acme")
    without = spend_figure(days=days, spend=spend, title="Acme", highlight=days[-1])
    assert not [line for line in without.axes[0].get_lines() if line.get_linestyle() == "--"]


def test_a_chart_of_sub_cent_spend_keeps_its_digits() -> None:
    # A first day of cheap calls: every tick and the total once read "<$0.01".
    days = [dt.date(2026, 11, 30) + dt.timedelta(days=i) for i in range(14)]
    spend = {"writer": [Decimal(0)] * 13 + [Decimal("0.000306")]}
    figure = spend_figure(days=days, spend=spend, title="console", highlight=days[-1])
    figure.canvas.draw()
    [axes] = figure.axes
    [total] = [t for t in axes.texts if t.get_gid() == TOTAL_GID]
    assert total.get_text() == "\\$0.00031"
    ticks = [t.get_text() for t in axes.get_yticklabels()]
    assert "\\$0.0001" in ticks and not [t for t in ticks if "<" in t]
    assert len(set(ticks)) == len(ticks)


def test_member_and_soft_budgets_are_shown_as_such(engine: Engine) -> None:
    from storage.models import Budget, BudgetCounter

    add_workspace(engine, WS, timezone=PARIS)
    with session_scope(engine) as session:
        soft = Budget(
            workspace_id=WS, target="workspace", period="month", limit_pusd=USD, soft=True
        )
        each = Budget(workspace_id=WS, target="each-user", period="month", limit_pusd=2 * USD)
        own = Budget(
            workspace_id=WS, target="user:U7", member_id="U7", period="month", limit_pusd=USD
        )
        session.add_all([soft, each, own])
        session.flush()
        assert soft.id and each.id and own.id
        session.add_all(
            [
                BudgetCounter(budget_id=soft.id, period_start="2026-11", spent_pusd=USD * 3 // 2),
                BudgetCounter(
                    budget_id=each.id, period_start="2026-11", member="U1", spent_pusd=USD
                ),
                BudgetCounter(
                    budget_id=each.id, period_start="2026-11", member="U2", spent_pusd=USD // 2
                ),
                BudgetCounter(budget_id=own.id, period_start="2026-11", spent_pusd=USD // 4),
            ]
        )
    add_usage(engine, WS, at=local_utc(PARIS, 2026, 11, 26, 12), cost_pusd=USD)
    text = render_text(report_for(engine, now=dt.datetime(2026, 11, 26, 23, 30, tzinfo=dt.UTC)))
    assert (
        "• workspace, monthly soft limit $1.00: $1.50 (150.0%) this month so far"
        " — *over its soft limit*"
    ) in text
    assert (
        "• each member, monthly limit $2.00: $1.00 (50.0%) this month so far"
        " (the most by one member)"
    ) in text
    assert "• member <@U7>, monthly limit $1.00: $0.25 (25.0%) this month so far" in text
