"""`/byok usage` and `/byok usage export`: exact decimal figures from planted usage rows."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from storage.models import UsageEvent
from storage.outcomes import outcome_of
from storage.workspaces import ensure_workspace
from tests.kits.commands_kit import Bot, audit_rows, make_services

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


def _at(days_ago: float) -> dt.datetime:
    return (NOW - dt.timedelta(days=days_ago)).replace(tzinfo=None)


def _event(**fields: object) -> UsageEvent:
    base: dict[str, object] = {
        "workspace_id": "console",
        "agent_name": "writer",
        "key_name": "prod",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "user_id": "U1",
        "channel_id": "general",
        "status": "ok",
        "created_at": _at(1),
    }
    base.update(fields)
    kind = base.get("error_kind")
    base.setdefault("outcome", outcome_of(str(base["status"]), None if kind is None else str(kind)))
    return UsageEvent.model_validate(base)


@pytest.fixture
async def bot(engine: Engine, master_key: str) -> AsyncIterator[Bot]:
    services = make_services(engine, master_key=master_key)
    services.clock = lambda: NOW
    with Session(engine) as session:
        ensure_workspace(session, workspace_id="console", platform="console")
        ensure_workspace(session, workspace_id="slack:T2", platform="slack")
        session.add_all(
            [
                _event(input_tokens=100, output_tokens=50, cost_pusd=123_456_789,
                       input_price_mtok="0.15", output_price_mtok="0.6"),
                _event(user_id="U2", input_tokens=200, output_tokens=100, cost_pusd=1_000_000_000,
                       created_at=_at(0.5)),
                _event(agent_name="critic", key_name="claude", provider="anthropic",
                       model="claude-sonnet-4-5", input_tokens=1000, output_tokens=234,
                       cost_pusd=4_200_000_000, estimated=True, status="estimated"),
                _event(agent_name="critic", model="my-model", input_tokens=10, output_tokens=10,
                       cost_pusd=None, priced=False),
                _event(status="refused", cost_pusd=None, error_kind="budget"),
                _event(status="rate_limited", cost_pusd=None, error_kind="rate_limited"),
                _event(cost_pusd=1_000_000_000_000, input_tokens=5, created_at=_at(40)),
                _event(workspace_id="slack:T2", cost_pusd=9_000_000_000_000, input_tokens=7),
                _event(model="=HYPERLINK(\"http://x\")", cost_pusd=1, created_at=_at(2)),
            ]
        )  # fmt: skip
        session.commit()
    yield Bot(services)
    await services.providers.aclose()


async def test_usage_by_agent_with_exact_cost_and_flags(bot: Bot) -> None:
    text = (await bot.run("usage")).last
    lines = text.splitlines()
    assert lines[0] == "Usage over the last 30 days (since 2026-10-28 12:00 UTC), by agent:"
    assert lines[1] == (
        "Total: $0.0053 · 6 calls · 1,704 tokens · 1 unpriced (not in the cost)"
        " · 1 estimated · outcomes: 5 ok, 1 error, 1 refused_budget"
    )
    assert (
        lines[2]
        == "• critic: $0.0042 · 2 calls · 1,254 tokens · 1 unpriced (not in the cost) · 1 estimated"
        " · outcomes: 2 ok"
    )
    assert lines[3] == (
        "• writer: $0.0011 · 4 calls · 450 tokens · outcomes: 3 ok, 1 error, 1 refused_budget"
    )
    assert len(lines) == 4


@pytest.mark.parametrize(
    ("by", "first"),
    [
        ("key", "• claude: $0.0042 · 1 call · 1,234 tokens · 1 estimated"),
        ("model", "• claude-sonnet-4-5: $0.0042 · 1 call · 1,234 tokens · 1 estimated"),
        ("user", "• @U1: $0.0043 · 5 calls · 1,404 tokens"),
    ],
)
async def test_usage_by_each_dimension(bot: Bot, by: str, first: str) -> None:
    lines = (await bot.run(f"usage --by {by}")).last.splitlines()
    assert lines[0].endswith(f"by {by}:")
    assert lines[2].startswith(first)
    assert lines[1].startswith("Total: $0.0053 · 6 calls")


async def test_since_windows(bot: Bot) -> None:
    week = (await bot.run("usage --since 60d")).last.splitlines()
    assert week[1].startswith("Total: $1.01 · 7 calls · 1,709 tokens")
    day = (await bot.run("usage --since 1d")).last.splitlines()
    assert day[1].startswith("Total: $0.0053 · 5 calls")  # the 2-day-old row is out
    calendar = (await bot.run("usage --since 2026-11-27")).last.splitlines()
    assert calendar[0] == "Usage since 2026-11-27 (2026-11-27 00:00 UTC), by agent:"
    assert calendar[1].startswith("Total: $0.001 · 1 call · 300 tokens")
    future = (await bot.run("usage --since 2027-01-01")).last
    assert future.endswith(": nothing yet.")


async def test_calendar_day_is_midnight_in_the_workspace_timezone(bot: Bot) -> None:
    await bot.run("digest at 09:00 Pacific/Kiritimati")  # UTC+14
    text = (await bot.run("usage --since 2026-11-27")).last.splitlines()
    assert text[0] == "Usage since 2026-11-27 (2026-11-27 00:00 +14), by agent:"
    assert text[1].startswith("Total: $0.0053 · 5 calls")  # from 2026-11-26 10:00 UTC


async def test_export_is_a_private_csv_with_exact_decimals(bot: Bot, engine: Engine) -> None:
    sink = await bot.run("usage export --since 60d")
    [sent] = sink.files
    assert sent.private and sent.filename == "byokbot-usage-since-2026-09-28.csv"
    rows = list(csv.DictReader(io.StringIO(sent.content.decode("utf-8"))))
    assert len(rows) == 8  # the other workspace's row is not there
    assert [row["time_utc"] for row in rows] == sorted(row["time_utc"] for row in rows)
    costs = {row["cost_usd"] for row in rows}
    assert {"0.000123456789", "0.001", "0.0042", "1", ""} <= costs
    first = next(row for row in rows if row["cost_usd"] == "0.000123456789")
    assert (first["input_price_mtok"], first["priced"], first["agent"]) == (
        "0.15",
        "True",
        "writer",
    )
    formula = next(row for row in rows if "HYPERLINK" in row["model"])
    assert formula["model"].startswith("'=")
    assert audit_rows(engine)[-1].action == "usage.export"
    assert "rows=8" in audit_rows(engine)[-1].detail


async def test_empty_workspace_has_no_usage(engine: Engine, master_key: str) -> None:
    services = make_services(engine, master_key=master_key)
    bot = Bot(services, workspace_id="discord:42", platform="discord")
    assert (await bot.run("usage")).last.endswith("nothing yet.")
    sink = await bot.run("usage export")
    assert sink.files[0].content.decode().count("\r\n") == 1  # the header only
    await services.providers.aclose()
