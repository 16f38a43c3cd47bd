"""`/byok limit set|list|clear`: budget rows, this period's consumption, workspace timezone."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.money import to_pico
from storage.models import Budget, BudgetCounter, BudgetLease, UsageEvent
from tests.kits.commands_kit import SECRET, Bot, audit_rows, make_services

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
        "Daily limit for the workspace set to $5.00. Today: $0.00 spent, $0.00 reserved,"
        " $5.00 left of $5.00 · resets 2026-11-28 00:00 UTC."
    )
    _plant(engine, period="day", key="2026-11-27", spent="1.2", reserved="0.3")
    listed = await bot.run("limit list")
    assert (
        "• workspace — daily, hard: $1.20 spent, $0.30 reserved, $3.50 left of $5.00"
        " · resets 2026-11-28 00:00 UTC"
    ) in listed.last
    changed = await bot.run("limit set workspace 2.5 --per day")
    assert "set to $2.50 (was $5.00)" in changed.last and "$1.00 left of $2.50" in changed.last
    await bot.run("limit set writer 0.0000001 --per month")
    listing = (await bot.run("limit list")).last
    assert (
        "agent writer — monthly, hard: $0.00 spent, $0.00 reserved, <$0.000001 left of"
        " <$0.000001 · resets 2026-12-01 00:00 UTC"
    ) in listing
    assert _budgets(engine) == [
        ("workspace", "day", to_pico(Decimal("2.5"))),
        ("agent", "month", 100_000),
    ]
    actions = [
        (a.action, a.target, a.detail) for a in audit_rows(engine) if a.action == "limit.set"
    ]
    assert actions[0] == ("limit.set", "workspace", "day 5 hard")


async def test_periods_follow_the_workspace_timezone(bot: Bot, engine: Engine) -> None:
    await bot.run("digest at 09:00 Europe/Berlin")
    await bot.run("limit set workspace 10 --per day")
    # 23:30 UTC is already the 28th in Berlin: yesterday's counter no longer counts.
    _plant(engine, period="day", key="2026-11-27", spent="9")
    listing = (await bot.run("limit list")).last
    assert (
        "$0.00 spent, $0.00 reserved, $10.00 left of $10.00 · resets 2026-11-29 00:00 CET"
        in listing
    )
    _plant(engine, period="day", key="2026-11-28", spent="9")
    assert "$9.00 spent, $0.00 reserved, $1.00 left of $10.00" in (await bot.run("limit list")).last


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


def _usage(engine: Engine, *, user: str, agent: str, cost: str, at: dt.datetime) -> None:
    with Session(engine) as session:
        session.add(
            UsageEvent(
                workspace_id="console",
                agent_name=agent,
                user_id=user,
                status="ok",
                cost_pusd=to_pico(Decimal(cost)),
                created_at=at.replace(tzinfo=None),
            )
        )
        session.commit()


def _lease(engine: Engine, *, budget_target: str) -> None:
    with Session(engine) as session:
        budget = session.exec(select(Budget).where(Budget.target == budget_target)).one()
        assert budget.id is not None
        session.add(
            BudgetLease(
                id="lease1",
                budget_id=budget.id,
                period_start="2026-11-27",
                member="alice",
                amount_pusd=5,
                expires_at=NOW.replace(tzinfo=None),
            )
        )
        session.commit()


async def test_member_and_soft_limits(bot: Bot, engine: Engine) -> None:
    # Alice spent $0.40 today before any limit: her own and her per-member counters start there.
    _usage(engine, user="alice", agent="writer", cost="0.4", at=NOW - dt.timedelta(hours=1))
    _usage(engine, user="bob", agent="writer", cost="0.1", at=NOW - dt.timedelta(hours=1))
    own = await bot.run("limit set @alice 2 --per day")
    assert own.last == (
        "Daily limit for member @alice set to $2.00. Today: $0.40 spent, $0.00 reserved,"
        " $1.60 left of $2.00 · resets 2026-11-28 00:00 UTC."
    )
    each = await bot.run("limit set each-user 1 --per day --soft")
    assert each.last == (
        "Daily soft limit for each member set to $1.00. Today: $1.00 each · this day"
        " 0 members: $0.00 spent, $0.00 reserved, the most by one $0.00"
        " · resets 2026-11-28 00:00 UTC. It never refuses a call; admins are alerted at 80%"
        " and 100%."
    )
    with Session(engine) as session:
        rows = session.exec(select(Budget).order_by(Budget.id)).all()  # type: ignore[arg-type]
        assert [(r.target, r.member_id, r.soft) for r in rows] == [
            ("user:alice", "alice", False),
            ("each-user", None, True),
        ]
    # `me` for a non-admin: only their own spend and the limits that apply to them.
    mine = await bot.run("me", user="alice", admin=False)
    assert mine.last == (
        "Your spend (UTC):\n"
        "• today: $0.40 (writer $0.40)\n"
        "• this month: $0.40 (writer $0.40)\n"
        "Limits that apply to you:\n"
        "• your own daily limit (hard): $0.40 spent, $0.00 reserved, $1.60 left of $2.00"
        " · resets 2026-11-28 00:00 UTC\n"
        "• your per-member daily limit (soft): $0.40 spent, $0.00 reserved, $0.60 left of"
        " $1.00 · resets 2026-11-28 00:00 UTC"
    )
    bobs = (await bot.run("me", user="bob", admin=False)).last
    assert "your own" not in bobs and "alice" not in bobs
    assert "• your per-member daily limit (soft): $0.10 spent" in bobs
    listing = (await bot.run("limit list")).last
    assert (
        "• member @alice — daily, hard: $0.40 spent, $0.00 reserved, $1.60 left of $2.00"
        " · resets 2026-11-28 00:00 UTC"
    ) in listing
    assert (
        "• each member — daily, soft: $1.00 each · this day 2 members: $0.50 spent,"
        " $0.00 reserved, the most by one $0.40 · resets 2026-11-28 00:00 UTC"
    ) in listing
    # A non-admin may not manage limits.
    assert "admin" in (await bot.run("limit set each-user 5 --per day", admin=False)).last
    # Clearing takes the counters and any lease of a call in flight with it.
    _lease(engine, budget_target="each-user")
    assert (await bot.run("limit clear each-user")).last == "Each member's limit removed."
    assert (await bot.run("limit clear @alice --per day")).last == (
        "Member @alice's daily limit removed."
    )
    with Session(engine) as session:
        assert session.exec(select(Budget)).all() == []
        assert session.exec(select(BudgetCounter)).all() == []
        assert session.exec(select(BudgetLease)).all() == []
    audited = [(a.action, a.target, a.detail) for a in audit_rows(engine)]
    assert ("limit.set", "alice", "day 2 hard") in audited
    assert ("limit.set", "each-user", "day 1 soft") in audited
    assert ("limit.clear", "alice", "period=day") in audited


async def test_deleting_an_agent_deletes_its_budget_leases(bot: Bot, engine: Engine) -> None:
    await bot.run("limit set writer 5 --per day")
    with Session(engine) as session:
        target = session.exec(select(Budget)).one().target
    _lease(engine, budget_target=target)
    await bot.run("agent delete writer")
    with Session(engine) as session:
        assert session.exec(select(Budget)).all() == []
        assert session.exec(select(BudgetLease)).all() == []


async def test_me_without_limits_or_spend(bot: Bot) -> None:
    assert (await bot.run("me", user="carol", admin=False)).last == (
        "Your spend (UTC):\n• today: $0.00\n• this month: $0.00\nNo limit applies to you."
    )
