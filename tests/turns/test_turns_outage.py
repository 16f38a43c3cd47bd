"""Database outage: "temporarily unavailable", no provider call, and recovery by itself."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy.engine import Engine

from bot.boundary import CommandRequest
from bot.core import UNAVAILABLE, Core
from bot.services import Services
from storage.engine import make_engine
from tests.fakes.fixtures import *  # noqa: F403
from tests.fakes.fixtures import TEST_KEY
from tests.fakes.providers import FakeOpenAI
from tests.kits.outage import DatabaseSwitch
from tests.kits.turnkit import RecordingSink, World, make_services, talk


@pytest.fixture
def switch(pg_url: str) -> Iterator[DatabaseSwitch]:
    sw = DatabaseSwitch(pg_url)
    yield sw
    sw.restore()  # so the fixture can drop the database


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    eng = make_engine(pg_url)
    yield eng
    eng.dispose()


@pytest.fixture
async def services(pg_engine: Engine, master_key: str) -> AsyncIterator[Services]:
    svc = make_services(pg_engine, master_key)
    yield svc
    await svc.providers.aclose()


async def test_outage_answers_unavailable_and_recovers(
    services: Services, switch: DatabaseSwitch, openai_fake: FakeOpenAI
) -> None:
    world = World(services)
    world.workspace()
    key_id = world.key("openai-prod", secret=TEST_KEY, base_url=openai_fake.base_url)
    agent_id = world.agent("writer", key_id=key_id)
    world.bind(agent_id, "C1")
    world.budget("5")
    core = Core(services)
    assert (await talk(core, world, "<@UBOT> before")).last.kind == "stream"
    assert len(openai_fake.chat_requests) == 1

    switch.cut()
    down = await talk(core, world, "<@UBOT> during")
    assert [(r.kind, r.private, r.text) for r in down.replies] == [("send", True, UNAVAILABLE)]
    command = RecordingSink()
    place, sender = world.message("x").place, world.message("x").sender
    await core.handle_command(
        CommandRequest(place=place, sender=sender, text="agent list"), command
    )
    assert command.texts == [UNAVAILABLE]
    assert len(openai_fake.chat_requests) == 1  # no provider call without its budget check

    switch.restore()
    after = await talk(core, world, "<@UBOT> after")
    assert after.last.kind == "stream" and after.last.text == openai_fake.reply
    assert len(openai_fake.chat_requests) == 2
    assert [row.status for row in world.usage_rows()] == ["ok", "ok"]


async def test_outage_after_reservation_still_never_calls_unchecked(
    services: Services, switch: DatabaseSwitch, openai_fake: FakeOpenAI
) -> None:
    """A cut between routing and reservation: the call is not made at all."""
    world = World(services)
    world.workspace()
    key_id = world.key("openai-prod", secret=TEST_KEY, base_url=openai_fake.base_url)
    world.bind(world.agent("writer", key_id=key_id), "C1")
    world.budget("5")
    core = Core(services)

    async def history_then_cut() -> list[object]:
        switch.cut()  # the platform read happens after routing, before the reservation
        return []

    message = world.message("<@UBOT> hi")
    message = type(message)(
        place=message.place,
        sender=message.sender,
        text=message.text,
        event_id=message.event_id,
        mentions_bot=True,
        history=history_then_cut,  # type: ignore[arg-type]
    )
    sink = RecordingSink()
    await core.handle_message(message, sink)

    assert sink.texts == [UNAVAILABLE]
    assert openai_fake.chat_requests == []
