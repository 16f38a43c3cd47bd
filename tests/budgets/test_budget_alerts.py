"""Budget alerts count settled spend only; soft and per-member budgets alert and never refuse.

Through a real `Core` against the fake OpenAI server: "hi" to an agent with max_tokens 1
reserves exactly what it costs ($0.0000021), so thresholds land exactly. Another
replica's call in flight is a real reservation taken with the same code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from sqlalchemy.engine import Engine

from bot.budgets import reservations
from bot.core import Core
from bot.money import to_pico
from bot.providers.types import Usage
from bot.services import Services
from storage.budgets import applicable_budgets
from tests.fakes.fixtures import *  # noqa: F403
from tests.fakes.fixtures import TEST_KEY
from tests.fakes.providers import FakeOpenAI
from tests.kits.turnkit import Clock, RecordingPoster, World, make_services, talk

CALL = Decimal("0.0000021")
NOW = dt.datetime(2026, 11, 27, 15, 0, tzinfo=dt.UTC)


@pytest.fixture
def poster() -> RecordingPoster:
    return RecordingPoster()


@pytest.fixture
async def services(
    engine: Engine, master_key: str, poster: RecordingPoster
) -> AsyncIterator[Services]:
    svc = make_services(engine, master_key, posters={"slack": poster})
    svc.clock = Clock(NOW)
    yield svc
    await svc.providers.aclose()


@pytest.fixture
def world(services: Services, openai_fake: FakeOpenAI) -> World:
    w = World(services)
    w.workspace(digest_channel="CADMIN")
    openai_fake.reply = "!"  # one token: within max_tokens, so the stream is read to its end
    openai_fake.usage = Usage(input_tokens=10, output_tokens=1)
    key_id = w.key("openai-prod", secret=TEST_KEY, base_url=openai_fake.base_url)
    w.bind(w.agent("tiny", key_id=key_id, max_tokens=1), "C1")
    w.bind(w.agent("big", key_id=key_id, max_tokens=1024), "C2")
    return w


async def test_alerts_count_settled_spend_not_reservations(
    services: Services, world: World, poster: RecordingPoster
) -> None:
    budget_id = world.budget(str(CALL * 10))
    core = Core(services)
    # Another replica's call holds 85% of the budget, in flight.
    with services.engine.connect() as conn:
        rows = applicable_budgets(conn, workspace_id=world.workspace_id, agent_id="x")
    in_flight = to_pico(CALL * Decimal("8.5"))
    held = reservations.plan(rows, agent_name="tiny", amount_pusd=in_flight, now=NOW, tz="UTC")
    with services.engine.begin() as conn:
        other = reservations.reserve(conn, held, amount_pusd=in_flight)

    assert (await talk(core, world, "<@UBOT> hi")).last.kind == "stream"  # 95% used, 10% spent
    # A call whose worst case (1,024 output tokens) passes the limit is refused: the budget
    # is not "at its limit" for the admins, only 10% is spent.
    refused = await talk(core, world, "<@UBOT> hi", channel="C2")
    assert refused.last.text.startswith("Over budget: the workspace's daily limit")
    assert poster.posts == []

    # The call in flight settles at 70%: 80% is now spent, and that alerts once.
    with services.engine.begin() as conn:
        alerts = reservations.settle(conn, other, spent_pusd=to_pico(CALL * 7))
    assert [alert.text() for alert in alerts] == [
        "Budget alert: the daily budget of the workspace has reached 80%"
        " ($0.000017 of $0.000021 spent); it resets 2026-11-28 00:00 UTC."
    ]
    assert (await talk(core, world, "<@UBOT> hi")).last.kind == "stream"  # 90%: no new alert
    assert poster.posts == []
    assert (await talk(core, world, "<@UBOT> hi")).last.kind == "stream"  # exactly 100%
    assert [text for _ws, _channel, text in poster.posts] == [
        "Budget alert: the daily budget of the workspace has reached its limit"
        " ($0.000021 of $0.000021 spent); calls that would pass it are refused until"
        " 2026-11-28 00:00 UTC."
    ]
    assert world.counter(budget_id).alert80_sent


async def test_soft_member_budget_never_refuses_and_alerts_naming_the_member(
    services: Services, world: World, poster: RecordingPoster
) -> None:
    world.budget(str(CALL * Decimal("2.5")), member="U1", soft=True)
    world.budget(str(CALL), each_user=True, soft=True)
    core = Core(services)
    for _ in range(4):
        assert (await talk(core, world, "<@UBOT> hi", user="U1")).last.kind == "stream"
    # Far past its limit: the soft budget of each member alerted once per level too.
    texts = [text for _ws, _channel, text in poster.posts]
    assert texts == [
        "Budget alert: the daily soft budget of <@U1> (each member) has reached 80%"
        " ($0.000002 of $0.000002 spent); it resets 2026-11-28 00:00 UTC.",
        "Budget alert: the daily soft budget of <@U1> (each member) has reached its limit"
        " ($0.000002 of $0.000002 spent); calls still go ahead until 2026-11-28 00:00 UTC.",
        "Budget alert: the daily soft budget of member <@U1> has reached 80%"
        " ($0.000004 of $0.000005 spent); it resets 2026-11-28 00:00 UTC.",
        "Budget alert: the daily soft budget of member <@U1> has reached its limit"
        " ($0.000006 of $0.000005 spent); calls still go ahead until 2026-11-28 00:00 UTC.",
    ]
    # Another member has a per-member counter of their own.
    assert (await talk(core, world, "<@UBOT> hi", user="U2")).last.kind == "stream"
    assert "<@U2> (each member) has reached its limit" in poster.posts[-1][2]
