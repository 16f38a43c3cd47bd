"""`/byok limit set|list|clear`: budget rows, this period's consumption, workspace timezone."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.money import to_pico
from storage.models import Budget, BudgetCounter
from tests.commands_kit import SECRET, Bot, audit_rows, make_services

NOW = dt.datetime(2026, 11, 27, 23, 30, tzinfo=dt.UTC)


@pytest.fixture
async def bot(engine: Engine, master_key: str) -> AsyncIterator[Bot]:
    services = make_services(engine, master_key=master_key)
    services.clock = lambda: NOW
    bot = Bot(services)
    await bot.run(f"key add openai prod {SECRET} --no-verify")
    await bot.run("agent create writer --key prod --model gpt-4o-mini")
    yield bot
    await services.providers.aclose()


def _budgets(engine: Engine) -> list[tuple[str, str, int]]:
    with Session(engine) as session:
        rows = session.exec(select(Budget).order_by(Budget.id)).all()  # type: ignore[arg-type]
        return [(row.target.split(":")[0], row.period, row.limit_pusd) for row in rows]


def _plant(engine: Engine, *, period: str, key: str, spent: str, reserved: str = "0") -> None:
    with Session(engine) as session:
        budget = session.exec(select(Budget).where(Budget.period == period)).first()
        assert budget is not None and budget.id is not None
        # merge: `limit set` already opened the current period's counter.
        session.merge(
            BudgetCounter(
                budget_id=budget.id,
                period_start=key,
                spent_pusd=to_pico(Decimal(spent)),
                reserved_pusd=to_pico(Decimal(reserved)),
            )
        )
        session.commit()


async def test_set_list_and_change(bot: Bot, engine: Engine) -> None:
    sink = await bot.run("limit set workspace 5 --per day")
    assert sink.last == (
        "daily limit for the workspace set to $5.00. This day: $0.00 of $5.00 (0%)"
        " · resets 2026-11-28 00:00 UTC."
    )
    _plant(engine, period="day", key="2026-11-27", spent="1.2", reserved="0.3")
    listed = await bot.run("limit list")
    assert "• workspace — daily: $1.50 of $5.00 (30%) · resets 2026-11-28 00:00 UTC" in listed.last
    changed = await bot.run("limit set workspace 2.5 --per day")
    assert "set to $2.50 (was $5.00)" in changed.last and "$1.50 of $2.50 (60%)" in changed.last
    await bot.run("limit set writer 0.0000001 --per month")
    listing = (await bot.run("limit list")).last
    assert (
        "agent writer — monthly: $0.00 of $0.0000001 (0%) · resets 2026-12-01 00:00 UTC" in listing
    )
    assert _budgets(engine) == [
        ("workspace", "day", to_pico(Decimal("2.5"))),
        ("agent", "month", 100_000),
    ]
    actions = [
        (a.action, a.target, a.detail) for a in audit_rows(engine) if a.action == "limit.set"
    ]
    assert actions[0] == ("limit.set", "workspace", "day 5")


async def test_periods_follow_the_workspace_timezone(bot: Bot, engine: Engine) -> None:
    await bot.run("digest at 09:00 Europe/Berlin")
    await bot.run("limit set workspace 10 --per day")
    # 23:30 UTC is already the 28th in Berlin: yesterday's counter no longer counts.
    _plant(engine, period="day", key="2026-11-27", spent="9")
    listing = (await bot.run("limit list")).last
    assert "$0.00 of $10.00 (0%) · resets 2026-11-29 00:00 CET" in listing
    _plant(engine, period="day", key="2026-11-28", spent="9")
    assert "$9.00 of $10.00 (90%)" in (await bot.run("limit list")).last


async def test_clear(bot: Bot, engine: Engine) -> None:
    await bot.run("limit set writer 5 --per day")
    await bot.run("limit set writer 50 --per month")
    await bot.run("limit set workspace 100 --per month")
    _plant(engine, period="day", key="2026-11-27", spent="1")
    assert "daily limit removed" in (await bot.run("limit clear writer --per day")).last
    assert [b[:2] for b in _budgets(engine)] == [("agent", "month"), ("workspace", "month")]
    assert "has no daily limit" in (await bot.run("limit clear writer --per day")).last
    assert "limit removed" in (await bot.run("limit clear writer")).last
    assert "no agent called ghost" in (await bot.run("limit clear ghost")).last
    assert "no agent called ghost" in (await bot.run("limit set ghost 5 --per day")).last
    assert [b[:2] for b in _budgets(engine)] == [("workspace", "month")]
    with Session(engine) as session:
        remaining = session.exec(select(Budget)).one().id
        # The cleared budgets' counters went with them; only the workspace's is left.
        assert {c.budget_id for c in session.exec(select(BudgetCounter)).all()} == {remaining}


async def test_empty_list(bot: Bot) -> None:
    assert (await bot.run("limit list")).last.startswith("No limits.")
