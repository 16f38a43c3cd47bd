"""Budget periods, reservations across several budgets, settlement, on the real database."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection

from bot.budgets import reservations
from bot.core import Core
from bot.errors import BudgetExceeded
from bot.money import to_pico
from bot.providers.types import Usage
from bot.services import Services
from bot.transactions import Commit, TransactionRunner
from storage.budgets import applicable_budgets, read_counter
from tests.fakes.fixtures import *  # noqa: F403
from tests.fakes.fixtures import TEST_KEY
from tests.fakes.providers import FakeOpenAI
from tests.kits.turnkit import Clock, World, talk

UTC = dt.UTC


@pytest.mark.parametrize(
    ("period", "now", "tz", "key", "resets"),
    [
        (
            "day",
            dt.datetime(2026, 11, 27, 22, 59, tzinfo=UTC),
            "Europe/Berlin",
            "2026-11-27",
            "2026-11-28 00:00 CET",
        ),
        (
            "day",
            dt.datetime(2026, 11, 27, 23, 0, tzinfo=UTC),
            "Europe/Berlin",
            "2026-11-28",
            "2026-11-29 00:00 CET",
        ),
        (
            "day",
            dt.datetime(2026, 11, 28, 3, 0, tzinfo=UTC),
            "America/Los_Angeles",
            "2026-11-27",
            "2026-11-28 00:00 PST",
        ),
        (
            "month",
            dt.datetime(2026, 12, 31, 23, 30, tzinfo=UTC),
            "UTC",
            "2026-12",
            "2027-01-01 00:00 UTC",
        ),
        (
            "month",
            dt.datetime(2026, 12, 31, 23, 30, tzinfo=UTC),
            "Asia/Tokyo",
            "2027-01",
            "2027-02-01 00:00 JST",
        ),
        ("month", dt.datetime(2028, 2, 10, tzinfo=UTC), "UTC", "2028-02", "2028-03-01 00:00 UTC"),
        # The day after a DST change starts at local midnight, not 23:00 or 01:00.
        (
            "day",
            dt.datetime(2026, 3, 29, 12, 0, tzinfo=UTC),
            "Europe/Berlin",
            "2026-03-29",
            "2026-03-30 00:00 CEST",
        ),
        (
            "day",
            dt.datetime(2026, 11, 27, 12, 0, tzinfo=UTC),
            "Not/AZone",
            "2026-11-27",
            "2026-11-28 00:00 UTC",
        ),
    ],
)
def test_period_window(period: str, now: dt.datetime, tz: str, key: str, resets: str) -> None:
    got_key, resets_at = reservations.period_window(period, now=now, tz=tz)
    assert got_key == key
    assert reservations.format_reset(resets_at) == resets
    assert resets_at > now


def test_later_refusal_releases_earlier_reservations(services: Services) -> None:
    world = World(services)
    world.workspace()
    agent = world.agent("writer", key_id=None)
    agent_budget = world.budget("1.00", agent_id=agent)  # plenty
    ws_budget = world.budget("0.10")  # too small for the call
    now = dt.datetime(2026, 11, 27, 12, tzinfo=UTC)
    with services.engine.connect() as conn:
        rows = applicable_budgets(conn, workspace_id=world.workspace_id, agent_id=agent)
    assert [r.id for r in rows] == sorted([agent_budget, ws_budget])
    amount = to_pico(Decimal("0.25"))
    held = reservations.plan(rows, agent_name="writer", amount_pusd=amount, now=now, tz="UTC")

    # The refusal is caught inside the transaction, which then commits.
    with services.engine.begin() as conn, pytest.raises(BudgetExceeded) as refused:
        reservations.reserve(conn, held, amount_pusd=amount)
    assert refused.value.budget == "the workspace's daily limit" and refused.value.period == "day"
    assert (refused.value.budget_id, refused.value.scope) == (ws_budget, "workspace")
    assert refused.value.left == Decimal("0.10") and refused.value.limit == Decimal("0.10")
    assert "the workspace's daily limit has $0.10 left of $0.10" in str(refused.value)
    for budget_id in (agent_budget, ws_budget):  # nothing stays held anywhere
        with services.engine.connect() as conn:
            state = read_counter(conn, budget_id=budget_id, period_start="2026-11-27")
        assert (state.spent_pusd, state.reserved_pusd) == (0, 0)

    small = reservations.plan(rows, agent_name="writer", amount_pusd=amount // 5, now=now, tz="UTC")
    with services.engine.begin() as conn:
        held_ok = reservations.reserve(conn, small, amount_pusd=amount // 5)
    with services.engine.begin() as conn:
        reservations.settle(conn, held_ok, spent_pusd=to_pico(Decimal("0.07")))
    assert world.counter(agent_budget).spent_pusd == to_pico(Decimal("0.07"))
    assert world.counter(ws_budget).spent_pusd == to_pico(Decimal("0.07"))
    assert world.counter(ws_budget).reserved_pusd == 0


def test_only_a_wholly_successful_reservation_relaxes_the_commit(services: Services) -> None:
    """PostgreSQL's commit skips the WAL flush only when a call follows (and settles durably)."""
    world = World(services)
    world.workspace()
    agent = world.agent("writer", key_id=None)
    world.budget("1.00", agent_id=agent)  # reserved first (lower id)
    world.budget("0.10")
    engine = services.engine
    postgres = engine.dialect.name == "postgresql"
    now = dt.datetime(2026, 11, 27, 12, tzinfo=UTC)
    with engine.connect() as conn:
        rows = applicable_budgets(conn, workspace_id=world.workspace_id, agent_id=agent)

    def held(usd: str) -> tuple[reservations.Held, ...]:
        amount = to_pico(Decimal(usd))
        return reservations.plan(rows, agent_name="writer", amount_pusd=amount, now=now, tz="UTC")

    def relaxed(conn: Connection) -> bool:
        if not postgres:
            return False
        return conn.execute(text("SELECT current_setting('synchronous_commit')")).scalar() == "off"

    with engine.begin() as conn:
        small = held("0.05")
        reservations.reserve(conn, small, amount_pusd=small[0].amount_pusd, relax_commit=True)
        assert relaxed(conn) == postgres
    with engine.begin() as conn:
        assert not relaxed(conn)  # the setting ends with its transaction
        large = held("0.20")  # the agent's budget takes it, the workspace's refuses
        with pytest.raises(BudgetExceeded):
            reservations.reserve(conn, large, amount_pusd=large[0].amount_pusd, relax_commit=True)
        assert not relaxed(conn)
    with engine.begin() as conn:
        again = held("0.05")  # a new call, a new lease
        reservations.reserve(conn, again, amount_pusd=again[0].amount_pusd)
        assert not relaxed(conn)


async def test_several_budgets_reserve_all_or_nothing_without_a_transaction(
    services: Services,
) -> None:
    """The turn's autocommit unit: a refusal by the last budget leaves nothing held."""
    world = World(services)
    world.workspace()
    agent = world.agent("writer", key_id=None)
    agent_budget = world.budget("1.00", agent_id=agent)
    ws_budget = world.budget("0.10")
    now = dt.datetime(2026, 11, 27, 12, tzinfo=UTC)
    with services.engine.connect() as conn:
        rows = applicable_budgets(conn, workspace_id=world.workspace_id, agent_id=agent)
    runner = TransactionRunner(services.engine)

    async def reserve(usd: str) -> None:
        amount = to_pico(Decimal(usd))
        held = reservations.plan(rows, agent_name="writer", amount_pusd=amount, now=now, tz="UTC")
        await runner.run(
            lambda conn: reservations.reserve(conn, held, amount_pusd=amount, relax_commit=True),
            commit=Commit.AUTOCOMMIT,
        )

    try:
        with pytest.raises(BudgetExceeded):
            await reserve("0.20")
        for budget_id in (agent_budget, ws_budget):
            with services.engine.connect() as conn:
                state = read_counter(conn, budget_id=budget_id, period_start="2026-11-27")
            assert state.reserved_pusd == 0
        await reserve("0.05")
        for budget_id in (agent_budget, ws_budget):
            assert world.counter(budget_id).reserved_pusd == to_pico(Decimal("0.05"))
    finally:
        runner.close()


async def test_agent_budget_does_not_limit_other_agents(
    services: Services, openai_fake: FakeOpenAI
) -> None:
    world = World(services)
    world.workspace()
    key_id = world.key("k", secret=TEST_KEY, base_url=openai_fake.base_url)
    capped = world.agent("capped", key_id=key_id)
    world.agent("free", key_id=key_id)
    world.bind(capped, "C1")
    world.budget("0.000001", agent_id=capped)
    core = Core(services)
    assert "capped's daily limit" in (await talk(core, world, "<@UBOT> hi")).last.text
    assert (await talk(core, world, "<@UBOT> free hi")).last.kind == "stream"


async def test_new_period_starts_from_zero(services: Services, openai_fake: FakeOpenAI) -> None:
    clock = Clock(dt.datetime(2026, 11, 27, 23, 50, tzinfo=UTC))
    services.clock = clock
    world = World(services)
    world.workspace()
    key_id = world.key("k", secret=TEST_KEY, base_url=openai_fake.base_url)
    world.bind(world.agent("tiny", key_id=key_id, max_tokens=1), "C1")
    openai_fake.reply = "!"  # one token: within max_tokens, so the stream is read to its end
    openai_fake.usage = Usage(input_tokens=10, output_tokens=1)
    world.budget("0.0000021")  # exactly one "hi" per day
    core = Core(services)
    assert (await talk(core, world, "<@UBOT> hi")).last.kind == "stream"
    refused = await talk(core, world, "<@UBOT> hi")
    assert "It resets at 00:00 UTC (in 10 min)." in refused.last.text
    clock.now = dt.datetime(2026, 11, 28, 0, 1, tzinfo=UTC)
    assert (await talk(core, world, "<@UBOT> hi")).last.kind == "stream"


async def test_unpriced_model_still_stops_at_an_exhausted_budget(
    services: Services, openai_fake: FakeOpenAI
) -> None:
    world = World(services)
    world.workspace()
    key_id = world.key("k", secret=TEST_KEY, base_url=openai_fake.base_url)
    world.bind(world.agent("priced", key_id=key_id, max_tokens=1), "C1")
    world.bind(world.agent("custom", key_id=key_id, model="house-model-x"), "C2")
    openai_fake.reply = "!"  # one token: within max_tokens, so the stream is read to its end
    openai_fake.usage = Usage(input_tokens=10, output_tokens=1)
    world.budget("0.0000021")
    core = Core(services)
    assert (await talk(core, world, "<@UBOT> hi", channel="C2")).last.kind == "stream"
    assert (await talk(core, world, "<@UBOT> hi", channel="C1")).last.kind == "stream"
    stopped = await talk(core, world, "<@UBOT> hi", channel="C2")
    assert stopped.last.text.startswith("Over budget")
    rows = world.usage_rows()
    assert [(r.model, r.status, r.priced) for r in rows] == [
        ("house-model-x", "ok", False),
        ("gpt-4o-mini", "ok", True),
        ("house-model-x", "refused", True),
    ]
