"""A hostile provider against the real turn path: it ignores max_tokens, it reports nonsense.

Real `Core`, real providers client, real HTTP to the fake provider servers (OpenAI,
Anthropic and Gemini wire formats), real database. SPEC "Money" and Guarantee 6: the bot
stops reading once the output passes the agent's max output tokens, so the budget is
never passed by more than one streamed chunk; implausible usage figures are charged the
reserved estimate; nothing stays reserved, whatever happened.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from sqlalchemy import text

from bot.core import Core
from bot.money import from_pico, to_pico
from bot.pricing import worst_case_cost
from bot.providers.types import ChatMessage
from bot.services import Services
from bot.turns import trim
from tests.fakes.fixtures import *  # noqa: F403
from tests.fakes.fixtures import FAMILIES, TEST_KEY
from tests.fakes.server import FakeServer, StreamLog
from tests.kits.turnkit import World, talk

MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5", "gemini": "gemini-2.5-flash"}
LIMIT = Decimal("0.0005")  # the hostile review's limit: 1,000 tokens cost more than this


@pytest.fixture
def core(services: Services) -> Core:
    return Core(services)


def agent_on(world: World, fake: FakeServer, provider: str, *, max_tokens: int) -> str:
    """Agent `writer` on `provider`'s fake, bound to channel C1; returns its id."""
    key_id = world.key("k", secret=TEST_KEY, base_url=fake.base_url, provider=provider)
    agent_id = world.agent("writer", key_id=key_id, model=MODELS[provider], max_tokens=max_tokens)
    world.bind(agent_id, "C1")
    return agent_id


def worst_for(provider: str, message: str, *, max_tokens: int) -> Decimal:
    """The reservation of a call with `message` and no system prompt or history."""
    upper = trim.upper_bound_tokens([ChatMessage("user", message)], system=None)
    worst = worst_case_cost(
        provider=provider, model=MODELS[provider], input_tokens=upper, max_output_tokens=max_tokens
    )
    assert worst is not None
    return worst


async def settled_stream(fake: FakeServer) -> StreamLog:
    """The fake's last streamed answer, once its handler has finished (or noticed the hang-up)."""
    for _ in range(400):
        if fake.streams and (fake.streams[-1].disconnected or fake.streams[-1].completed):
            break
        await asyncio.sleep(0.01)
    return fake.streams[-1]


@pytest.mark.parametrize("provider", FAMILIES)
async def test_provider_ignoring_max_tokens_is_cut_within_one_chunk(
    core: Core, world: World, family_fakes: dict[str, FakeServer], provider: str
) -> None:
    fake = family_fakes[provider]
    fake.flood(tokens=1000)  # streams 1,000 one-token chunks whatever max_tokens says
    agent_on(world, fake, provider, max_tokens=1)
    budget_id = world.budget(str(LIMIT))
    chunk = worst_for(provider, "", max_tokens=1) - worst_for(provider, "", max_tokens=0)

    sinks = [await talk(core, world, "<@UBOT> tell me everything") for _ in range(3)]

    counter = world.counter(budget_id)
    # Never past the limit by more than one chunk's cost, and nothing left reserved.
    assert counter.spent_pusd <= to_pico(LIMIT + chunk)
    assert counter.reserved_pusd == 0
    log = await settled_stream(fake)
    assert log.disconnected and not log.completed
    assert log.text_chunks < 100  # the bot hung up, it did not read the 1,000 chunks
    reply = sinks[0].last
    assert reply.kind == "stream" and reply.text.startswith(" t0")
    assert " t9" not in reply.text
    assert "writer stopped here: its answer reached --max-tokens 1" in reply.text
    rows = world.usage_rows()
    assert len(rows) == 3
    worst = worst_for(provider, "tell me everything", max_tokens=1)
    for row in rows:
        assert (row.status, row.estimated, row.error_kind) == ("estimated", True, "max_tokens")
        assert from_pico(row.cost_pusd or 0) == worst  # the reserved estimate
    assert counter.spent_pusd == sum(row.cost_pusd or 0 for row in rows)


@pytest.mark.parametrize("figure", [10**15, -5, 1.5, "12"], ids=["1e15", "neg", "float", "str"])
@pytest.mark.parametrize("provider", FAMILIES)
async def test_absurd_usage_is_charged_the_reserved_estimate(
    core: Core,
    world: World,
    family_fakes: dict[str, FakeServer],
    provider: str,
    figure: object,
) -> None:
    fake = family_fakes[provider]
    fake.reply = "Fine."
    fake.output_figure = figure  # the output-token figure of the usage report, verbatim
    agent_on(world, fake, provider, max_tokens=256)
    budget_id = world.budget("1")

    sink = await talk(core, world, "<@UBOT> hi")

    assert sink.last.kind == "stream" and sink.last.text == "Fine."
    (row,) = world.usage_rows()
    assert (row.status, row.estimated, row.error_kind) == ("estimated", True, "implausible_usage")
    assert from_pico(row.cost_pusd or 0) == worst_for(provider, "hi", max_tokens=256)
    assert (row.input_tokens, row.output_tokens) == (0, 0)  # nothing of the report trusted
    counter = world.counter(budget_id)
    assert counter.reserved_pusd == 0
    assert counter.spent_pusd == row.cost_pusd


_REFUSE_OK_ROWS = {
    "sqlite": [
        "CREATE TRIGGER refuse_ok BEFORE INSERT ON usage_events WHEN NEW.status = 'ok' "
        "BEGIN SELECT RAISE(ABORT, 'refused by a test trigger'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_ok() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.status = 'ok' THEN RAISE EXCEPTION 'refused by a test trigger'; END IF; "
        "RETURN NEW; END $$",
        "CREATE TRIGGER refuse_ok BEFORE INSERT ON usage_events FOR EACH ROW "
        "EXECUTE FUNCTION refuse_ok()",
    ],
}


async def test_a_usage_row_the_database_refuses_still_releases_the_reservation(
    core: Core, world: World, family_fakes: dict[str, FakeServer]
) -> None:
    fake = family_fakes["openai"]
    agent_on(world, fake, "openai", max_tokens=256)
    budget_id = world.budget("1")
    # Not an outage, and not a value we check: the database itself refuses the row.
    with world.engine.begin() as conn:
        for statement in _REFUSE_OK_ROWS[conn.dialect.name]:
            conn.execute(text(statement))

    sink = await talk(core, world, "<@UBOT> hi")

    assert sink.last.kind == "stream"
    (row,) = world.usage_rows()
    assert (row.status, row.estimated, row.error_kind) == ("estimated", True, "unrecordable")
    counter = world.counter(budget_id)
    assert counter.reserved_pusd == 0
    assert counter.spent_pusd == row.cost_pusd == to_pico(worst_for("openai", "hi", max_tokens=256))
