"""Workspace isolation: same names in two workspaces; nothing of one is reachable from the other."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.vault.keystore import mask
from storage.models import Admin, Agent, Budget, ChannelBinding, ProviderKey, UsageEvent, Workspace
from tests.kits.commands_kit import OTHER_SECRET, SECRET, Bot, audit_rows, make_services

A, B = "slack:TAAAA", "slack:TBBBB"


@pytest.fixture
async def bots(engine: Engine, master_key: str) -> AsyncIterator[tuple[Bot, Bot]]:
    services = make_services(engine, master_key=master_key)
    a = Bot(services, workspace_id=A, platform="slack", channel="C0AAAAAAA")
    b = Bot(services, workspace_id=B, platform="slack", channel="C0BBBBBBB")
    for bot, secret, model in ((a, SECRET, "gpt-4o-mini"), (b, OTHER_SECRET, "gpt-4.1")):
        for line in (
            f"key add openai prod {secret} --no-verify",
            f"agent create writer --key prod --model {model} --prompt 'secret sauce {model}'",
            "agent bind writer",
            "limit set writer 5 --per day",
            "admins add <@U0GRANTED>",
            "digest channel",
        ):
            sink = await bot.run(line, user="U0OWNER")
            assert not sink.last.startswith(("Only", "no ", "unknown")), sink.last
    with Session(engine) as session:
        for ws, cost in ((A, 1_000_000_000), (B, 7_000_000_000)):
            session.add(
                UsageEvent(
                    workspace_id=ws,
                    agent_name="writer",
                    key_name="prod",
                    model="m",
                    status="ok",
                    cost_pusd=cost,
                    created_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
                )
            )
        session.commit()
    yield a, b
    await services.providers.aclose()


async def test_reads_see_only_their_workspace(bots: tuple[Bot, Bot]) -> None:
    a, _b = bots
    keys = (await a.run("key list")).last
    assert mask(SECRET) in keys and mask(OTHER_SECRET) not in keys
    shown = (await a.run("agent show writer")).last
    assert "secret sauce gpt-4o-mini" in shown and "gpt-4.1" not in shown
    assert "<#C0AAAAAAA>" in (await a.run("agent list")).last
    assert "<#C0BBBBBBB>" not in (await a.run("agent list")).last
    limits = (await a.run("limit list")).last
    assert limits.count("•") == 1
    usage = (await a.run("usage")).last
    assert "$0.001" in usage and "$0.007" not in usage
    export = (await a.run("usage export")).files[0].content.decode()
    assert export.count("\r\n") == 2
    audit = (await a.run("audit 200")).last
    assert "C0BBBBBBB" not in audit and "gpt-4.1" not in audit
    admins = (await a.run("admins list")).last
    assert admins.count("<@U0GRANTED>") == 1


async def test_changes_in_one_leave_the_other_alone(bots: tuple[Bot, Bot], engine: Engine) -> None:
    a, _b = bots
    await a.run("key revoke prod")
    await a.run("agent set writer --model changed")
    await a.run("agent unbind writer")
    await a.run("limit clear writer")
    await a.run("admins remove <@U0GRANTED>")
    await a.run("digest off")
    await a.run("agent delete writer")
    with Session(engine) as session:
        key_b = session.exec(select(ProviderKey).where(ProviderKey.workspace_id == B)).one()
        assert key_b.status == "active" and key_b.ciphertext != b""
        agent_b = session.exec(select(Agent).where(Agent.workspace_id == B)).one()
        assert agent_b.model == "gpt-4.1"
        assert session.exec(select(ChannelBinding).where(ChannelBinding.workspace_id == B)).one()
        assert session.exec(select(Budget).where(Budget.workspace_id == B)).one()
        assert session.exec(select(Admin).where(Admin.workspace_id == B)).one()
        workspace_b = session.get(Workspace, B)
        assert workspace_b is not None and workspace_b.digest_enabled
        assert workspace_b.default_agent_id == agent_b.id


async def test_a_granted_admin_of_one_is_nobody_in_the_other(
    bots: tuple[Bot, Bot], engine: Engine
) -> None:
    a, b = bots
    await a.run("admins remove <@U0GRANTED>")
    await a.run("admins add <@U0ONLYA>")
    assert "prod" in (await a.run("key list", user="U0ONLYA", admin=False)).last
    refused = await b.run("key list", user="U0ONLYA", admin=False)
    assert refused.last.startswith("Only byokbot admins")
    assert audit_rows(engine, B)[-1].outcome == "denied"
    assert audit_rows(engine, A)[-1].outcome == "ok"


async def test_an_agent_cannot_use_another_workspaces_key(bots: tuple[Bot, Bot]) -> None:
    a, _b = bots
    await a.run("key revoke prod")
    # B still has an active "prod", but A's agent may only pick A's keys.
    assert "revoked" in (await a.run("agent create other --key prod --model m")).last
    assert "revoked" in (await a.run("agent set writer --key prod")).last


async def test_slack_needs_channel_links(bots: tuple[Bot, Bot]) -> None:
    a, _b = bots
    assert "not a channel link" in (await a.run("agent bind writer #general")).last
    assert "not a #channel" in (await a.run("agent bind writer C0123ABCD")).last
    linked = await a.run("agent bind writer <#C0123ABCD|general>")
    assert "bound to <#C0123ABCD>" in linked.last
    assert "not a user mention" in (await a.run("admins add @bob")).last
    assert "is now" in (await a.run("admins add <@U0BOB1234|bob>")).last
    discord = await a.run("agent bind writer <#112233445566778899>")
    assert "not a channel link" in discord.last
