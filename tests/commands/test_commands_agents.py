"""`/byok agent …`: create, set, list, show, delete, bind, unbind, default."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from storage.models import Agent, Budget, BudgetCounter, ChannelBinding, Workspace
from tests.kits.commands_kit import SECRET, Bot, audit_rows, make_services


@pytest.fixture
async def bot(engine: Engine, master_key: str) -> AsyncIterator[Bot]:
    services = make_services(engine, master_key=master_key)
    bot = Bot(services)
    # --no-verify: these tests are about agents, not the provider.
    sink = await bot.run(f"key add openai prod {SECRET} --no-verify")
    assert "stored" in sink.last
    yield bot
    await services.providers.aclose()


def _agents(engine: Engine) -> dict[str, Agent]:
    with Session(engine) as session:
        return {agent.name: agent for agent in session.exec(select(Agent)).all()}


def _bindings(engine: Engine) -> dict[str, tuple[str, bool]]:
    with Session(engine) as session:
        rows = session.exec(select(ChannelBinding)).all()
        names = {a.id: a.name for a in session.exec(select(Agent)).all()}
        return {row.channel_id: (names[row.agent_id], row.all_messages) for row in rows}


def _default(engine: Engine) -> str | None:
    with Session(engine) as session:
        workspace = session.get(Workspace, "console")
        assert workspace is not None
        agent = (
            session.get(Agent, workspace.default_agent_id) if workspace.default_agent_id else None
        )
        return agent.name if agent else None


async def test_create_stores_settings_and_first_agent_is_default(bot: Bot, engine: Engine) -> None:
    sink = await bot.run(
        'agent create writer --key prod --model gpt-4o-mini --prompt "You are terse."'
        " --max-tokens 300 --temperature 0.2 --show-cost"
    )
    assert "agent writer created" in sink.last and "default agent" in sink.last
    writer = _agents(engine)["writer"]
    assert (
        writer.model,
        writer.prompt,
        writer.max_tokens,
        writer.temperature,
        writer.show_cost,
    ) == (
        "gpt-4o-mini",
        "You are terse.",
        300,
        0.2,
        True,
    )
    second = await bot.run("agent create critic --key prod --model gpt-4o")
    assert "default agent" not in second.last
    critic = _agents(engine)["critic"]
    assert (critic.max_tokens, critic.temperature, critic.show_cost, critic.prompt) == (
        1024,
        None,
        False,
        None,
    )
    assert _default(engine) == "writer"
    assert "already exists" in (await bot.run("agent create writer --key prod --model x")).last


async def test_create_needs_an_existing_live_key(bot: Bot, engine: Engine) -> None:
    missing = await bot.run("agent create writer --key nope --model gpt-4o")
    assert "no key called nope" in missing.last
    await bot.run("key revoke prod")
    revoked = await bot.run("agent create writer --key prod --model gpt-4o")
    assert "revoked" in revoked.last
    assert _agents(engine) == {}
    assert [a.outcome for a in audit_rows(engine) if a.action == "agent.create"] == [
        "error",
        "error",
    ]


async def test_set_changes_only_what_is_given(bot: Bot, engine: Engine) -> None:
    await bot.run(f"key add anthropic claude {SECRET} --no-verify")
    await bot.run('agent create writer --key prod --model gpt-4o-mini --prompt "Old."')
    sink = await bot.run(
        "agent set writer --key claude --model claude-sonnet-4-5 --max-tokens 500 --show-cost"
    )
    assert "key claude" in sink.last and "model claude-sonnet-4-5" in sink.last
    writer = _agents(engine)["writer"]
    assert (writer.model, writer.prompt, writer.max_tokens, writer.show_cost) == (
        "claude-sonnet-4-5",
        "Old.",
        500,
        True,
    )
    await bot.run('agent set writer --prompt "" --no-show-cost --temperature 1.5')
    writer = _agents(engine)["writer"]
    assert (writer.prompt, writer.show_cost, writer.temperature) == (None, False, 1.5)
    assert "no agent called ghost" in (await bot.run("agent set ghost --model x")).last
    assert "no key called" in (await bot.run("agent set writer --key nope")).last
    assert _agents(engine)["writer"].model == "claude-sonnet-4-5"


async def test_list_and_show(bot: Bot) -> None:
    await bot.run('agent create writer --key prod --model gpt-4o-mini --prompt "Be brief."')
    await bot.run("agent create critic --key prod --model gpt-4o")
    await bot.run("agent bind critic #reviews --all-messages")
    listing = (await bot.run("agent list")).last
    assert "writer — prod · gpt-4o-mini · no channel · default" in listing
    assert "critic — prod · gpt-4o · #reviews (all messages)" in listing
    shown = (await bot.run("agent show writer")).last
    assert "model: gpt-4o-mini" in shown and "prompt: Be brief." in shown and "(default)" in shown
    assert "key: prod (openai, active)" in shown
    await bot.run("key revoke prod")
    assert "prod (revoked)" in (await bot.run("agent list")).last


async def test_bind_defaults_to_this_channel_and_replaces(bot: Bot, engine: Engine) -> None:
    await bot.run("agent create writer --key prod --model gpt-4o-mini")
    await bot.run("agent create critic --key prod --model gpt-4o")
    here = await bot.run("agent bind writer", channel="general")
    assert "bound to #general" in here.last and "mentions" in here.last
    assert _bindings(engine) == {"general": ("writer", False)}
    replaced = await bot.run("agent bind critic #general --all-messages")
    assert "replaces writer" in replaced.last and "every message" in replaced.last
    assert _bindings(engine) == {"general": ("critic", True)}
    again = await bot.run("agent bind critic #general --all-messages")
    assert "already bound" in again.last
    dm = await bot.run("agent bind writer", direct=True)
    assert "name a #channel" in dm.last
    assert _bindings(engine) == {"general": ("critic", True)}


async def test_unbind(bot: Bot, engine: Engine) -> None:
    await bot.run("agent create writer --key prod --model gpt-4o-mini")
    await bot.run("agent bind writer #a")
    await bot.run("agent bind writer #b")
    assert "not bound to #c" in (await bot.run("agent unbind writer #c")).last
    assert "unbound from #a" in (await bot.run("agent unbind writer", channel="a")).last
    assert _bindings(engine) == {"b": ("writer", False)}


async def test_default(bot: Bot, engine: Engine) -> None:
    await bot.run("agent create writer --key prod --model gpt-4o-mini")
    await bot.run("agent create critic --key prod --model gpt-4o")
    sink = await bot.run("agent default critic")
    assert "critic is the default agent" in sink.last and "It was writer" in sink.last
    assert _default(engine) == "critic"
    assert "no agent called" in (await bot.run("agent default ghost")).last
    assert _default(engine) == "critic"


async def test_delete_removes_bindings_limits_and_default(bot: Bot, engine: Engine) -> None:
    await bot.run("agent create writer --key prod --model gpt-4o-mini")
    await bot.run("agent create critic --key prod --model gpt-4o")
    await bot.run("agent bind writer #a --all-messages")
    await bot.run("agent bind critic #b")
    await bot.run("limit set writer 5 --per day")
    await bot.run("limit set writer 50 --per month")
    await bot.run("limit set workspace 100 --per month")
    with Session(engine) as session:
        budget = session.exec(select(Budget).where(Budget.period == "day")).one()
        assert budget.id is not None
        # merge: `limit set` may already have opened this period's counter.
        session.merge(BudgetCounter(budget_id=budget.id, period_start="2026-11-27", spent_pusd=7))
        session.commit()
    sink = await bot.run("agent delete writer")
    assert "1 binding and 2 limits" in sink.last and "no default agent" in sink.last
    assert set(_agents(engine)) == {"critic"}
    assert _bindings(engine) == {"b": ("critic", False)}
    assert _default(engine) is None
    with Session(engine) as session:
        (left,) = session.exec(select(Budget)).all()
        assert left.target == "workspace"
        # The deleted agent's budgets took their counters with them.
        counters = session.exec(select(BudgetCounter)).all()
        assert {c.budget_id for c in counters} <= {left.id}
    assert "no agent called writer" in (await bot.run("agent show writer")).last


async def test_agent_names_are_checked(bot: Bot) -> None:
    assert "reserved" in (await bot.run("agent create workspace --key prod --model m")).last
    assert "agent names use" in (await bot.run("agent create 'a b' --key prod --model m")).last
    long_name = "a" * 65
    assert (
        "agent names use" in (await bot.run(f"agent create {long_name} --key prod --model m")).last
    )
    assert "--model" in (await bot.run(f"agent create w --key prod --model {'m' * 201}")).last
    prompt = "x" * 8_001
    sink = await bot.run(f"agent create w --key prod --model m --prompt {prompt}")
    assert "the prompt is too long" in sink.last


async def test_unpriced_models_are_pointed_out(bot: Bot) -> None:
    priced = await bot.run("agent create writer --key prod --model gpt-4o-mini")
    assert "no published price" not in priced.last
    typo = await bot.run("agent create critic --key prod --model gpt4o-mni")
    assert "no published price for gpt4o-mni at openai" in typo.last
    fixed = await bot.run("agent set critic --model gpt-4o")
    assert "no published price" not in fixed.last
    prompt_only = await bot.run("agent set critic --prompt hi")
    assert "no published price" not in prompt_only.last
