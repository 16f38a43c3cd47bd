"""`/byok models`, the `--model` check on `agent create|set`, and did-you-mean for names.

Real commands through the dispatcher, against the fake providers of all three wire formats.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.providers.listing import model_ids
from bot.services import Services
from storage.models import Agent
from tests.fakes.fixtures import *  # noqa: F403
from tests.fakes.fixtures import TEST_KEY
from tests.fakes.providers import FakeServer
from tests.kits.commands_kit import Bot, audit_rows, make_services

# A priced model of each family (genai-prices), and one the price list does not know.
PRICED = {
    "openai": ("gpt-4o-mini", "$0.15 in · $0.60 out per 1M tokens"),
    "anthropic": ("claude-sonnet-4-5", "$3.00 in · $15.00 out per 1M tokens"),
    "gemini": ("gemini-2.5-flash", "$0.30 in · $2.50 out per 1M tokens"),
}
UNPRICED = "zz-house-model-7"


@pytest.fixture
async def bot(engine: Engine, master_key: str) -> AsyncIterator[Bot]:
    services: Services = make_services(engine, master_key=master_key)
    yield Bot(services)
    await services.providers.aclose()


@pytest.fixture
def fakes(
    openai_fake: FakeServer, anthropic_fake: FakeServer, gemini_fake: FakeServer
) -> dict[str, FakeServer]:
    return {"openai": openai_fake, "anthropic": anthropic_fake, "gemini": gemini_fake}


async def add_key(bot: Bot, provider: str, name: str, fake: FakeServer) -> None:
    sink = await bot.run(f"key add {provider} {name} {TEST_KEY} --base-url {fake.base_url}")
    assert "stored" in sink.last and "verified" in sink.last, sink.last


def _agents(engine: Engine) -> dict[str, str]:
    with Session(engine) as session:
        return {a.name: a.model for a in session.exec(select(Agent)).all()}


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
async def test_models_lists_the_providers_ids_with_prices_or_unpriced(
    bot: Bot, fakes: dict[str, FakeServer], provider: str
) -> None:
    fake = fakes[provider]
    model, price = PRICED[provider]
    fake.models = [UNPRICED, model]
    await add_key(bot, provider, "k", fake)
    fake.requests.clear()
    reply = (await bot.run("models k")).last
    lines = reply.splitlines()
    assert lines[0] == f"Models of key k ({provider}): 2"
    assert lines[1:] == [f"• {model} — {price}", f"• {UNPRICED} — unpriced"]
    (listing,) = fake.requests
    assert listing.method == "GET" and TEST_KEY not in listing.raw_url
    # One page as large as the provider allows (Anthropic and Gemini page their lists).
    expected_query = {"openai": {}, "anthropic": {"limit": "1000"}, "gemini": {"pageSize": "1000"}}
    assert dict(listing.query) == expected_query[provider]


async def test_a_key_echoed_as_a_model_id_is_never_shown(bot: Bot, openai_fake: FakeServer) -> None:
    planted = "sk-proj-EchoedAsModel0123456789abcdefXYZ"
    openai_fake.models = [
        "gpt-4o",
        planted,
        f"ft:{TEST_KEY}-suffix",
        "sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345",
    ]
    await add_key(bot, "openai", "prod", openai_fake)
    reply = (await bot.run("models prod")).last
    assert reply.splitlines() == [
        "Models of key prod (openai): 1",
        "• gpt-4o — $2.50 in · $10.00 out per 1M tokens",
    ]


async def test_gemini_lists_only_models_that_generate_content(
    bot: Bot, gemini_fake: FakeServer
) -> None:
    gemini_fake.models = ["gemini-2.5-pro"]
    await add_key(bot, "gemini", "g", gemini_fake)
    assert "models/" not in (await bot.run("models g")).last
    body = {
        "models": [
            {"name": "models/text-embedding-004", "supportedGenerationMethods": ["embedContent"]},
            {"name": "models/gemini-2.5-pro", "supportedGenerationMethods": ["generateContent"]},
            {"name": "models/bad id", "supportedGenerationMethods": ["generateContent"]},
        ]
    }
    assert model_ids(body) == ["gemini-2.5-pro"]
    assert model_ids({"data": [{"id": "b"}, {"id": "a"}, {"id": "a"}, {"id": 7}]}) == ["a", "b"]
    assert model_ids(["not", "a", "listing"]) is None


async def test_filter_is_a_case_insensitive_substring_and_the_reply_has_at_most_30_lines(
    bot: Bot, openai_fake: FakeServer
) -> None:
    openai_fake.models = [f"gpt-4o-v{i:02d}" for i in range(40)] + ["o3-mini", "GPT-4O-Shout"]
    await add_key(bot, "openai", "prod", openai_fake)
    everything = (await bot.run("models prod")).last.splitlines()
    assert len(everything) == 30
    assert everything[0] == "Models of key prod (openai): 42"
    assert everything[-1] == "… and 14 more; narrow it with /byok models prod <filter>."
    shout = (await bot.run("models prod 4o-SH")).last.splitlines()
    assert shout == ['Models of key prod (openai) matching "4o-SH": 1', "• GPT-4O-Shout — unpriced"]
    few = (await bot.run("models prod O3")).last
    assert "• o3-mini — " in few and "gpt" not in few
    none = (await bot.run("models prod zzz")).last
    assert none == 'No models matching "zzz" for key prod (openai); try /byok models prod.'


async def test_models_of_an_unknown_or_revoked_key(bot: Bot, openai_fake: FakeServer) -> None:
    await add_key(bot, "openai", "prod", openai_fake)
    assert "no key called prdo; did you mean `prod`?" in (await bot.run("models prdo")).last
    await bot.run("key revoke prod")
    openai_fake.requests.clear()
    assert "revoked" in (await bot.run("models prod")).last
    assert openai_fake.requests == []


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
async def test_agent_create_refuses_an_unknown_model_with_the_closest_ids(
    bot: Bot, engine: Engine, fakes: dict[str, FakeServer], provider: str
) -> None:
    fake = fakes[provider]
    model, _ = PRICED[provider]
    fake.models = [model, UNPRICED, f"{model}-latest"]
    await add_key(bot, provider, "k", fake)
    typo = model[:-1] + model[-1] * 2  # gpt-4o-minii, claude-sonnet-4-55, …
    refused = (await bot.run(f"agent create typo --key k --model {typo}")).last
    assert f"key k ({provider}) has no model {typo}; did you mean `{model}`" in refused
    assert "--no-verify" in refused and "/byok models k" in refused
    assert _agents(engine) == {}
    assert [a.outcome for a in audit_rows(engine) if a.action == "agent.create"] == ["error"]
    created = (await bot.run(f"agent create good --key k --model {model}")).last
    assert "agent good created" in created and "Note" not in created
    skipped = (await bot.run(f"agent create raw --key k --model {typo} --no-verify")).last
    assert "agent raw created" in skipped
    assert _agents(engine) == {"good": model, "raw": typo}


async def test_agent_set_checks_the_model_against_the_resulting_key(
    bot: Bot, engine: Engine, openai_fake: FakeServer, anthropic_fake: FakeServer
) -> None:
    openai_fake.models = ["gpt-4o-mini", "gpt-4o"]
    anthropic_fake.models = ["claude-sonnet-4-5"]
    await add_key(bot, "openai", "prod", openai_fake)
    await add_key(bot, "anthropic", "claude", anthropic_fake)
    await bot.run("agent create writer --key prod --model gpt-4o-mini")
    refused = (await bot.run("agent set writer --model gpt-4p")).last
    assert "has no model gpt-4p; did you mean `gpt-4o`" in refused
    # Switching the key alone checks the agent's model against the new key's list.
    assert "has no model gpt-4o-mini" in (await bot.run("agent set writer --key claude")).last
    ok = (await bot.run("agent set writer --key claude --model claude-sonnet-4-5")).last
    assert "updated" in ok
    assert "updated" in (await bot.run("agent set writer --model gpt-4p --no-verify")).last
    assert _agents(engine) == {"writer": "gpt-4p"}


async def test_model_is_accepted_with_a_note_when_the_list_cannot_be_fetched(
    bot: Bot, engine: Engine
) -> None:
    # Port 9 on loopback: nothing listens, so the provider is "down".
    added = await bot.run(
        f"key add openai down {TEST_KEY} --base-url http://127.0.0.1:9/v1 --no-verify"
    )
    assert "stored" in added.last
    created = (await bot.run("agent create writer --key down --model gpt-4o-minii")).last
    assert "agent writer created" in created
    assert "Note: gpt-4o-minii was not checked against the models of key down" in created
    assert _agents(engine) == {"writer": "gpt-4o-minii"}


async def test_did_you_mean_for_commands_agents_and_keys(bot: Bot, openai_fake: FakeServer) -> None:
    await add_key(bot, "openai", "prod", openai_fake)
    await bot.run("agent create claude --key prod --model gpt-4o-mini")
    await bot.run("agent create claudia --key prod --model gpt-4o-mini")
    top = (await bot.run("agnet list")).last
    assert top.startswith('unknown command "agnet"; did you mean `agent list`')
    assert top.splitlines()[1] == "usage: /byok agent list"
    verb = (await bot.run("agent lst")).last
    assert verb.startswith('unknown agent command "lst"; did you mean `agent list`')
    assert (await bot.run("agent default claud")).last == (
        "no agent called claud; did you mean `claude` or `claudia`?"
    )
    assert (await bot.run("key test prdo")).last == "no key called prdo; did you mean `prod`?"
    assert (
        "did you mean `prod`?"
        in (await bot.run("agent create w --key prdo --model gpt-4o-mini")).last
    )
    # Nothing close: the old pointer, no guess.
    assert (await bot.run("agent show zebra")).last == (
        "no agent called zebra; see /byok agent list"
    )
