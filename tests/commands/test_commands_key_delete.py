"""`/byok key delete`: only a key no agent uses; revoked keys too; the audit keeps it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from storage.models import ProviderKey
from tests.kits.commands_kit import SECRET, Bot, audit_rows, make_services


@pytest.fixture
async def bot(engine: Engine, master_key: str) -> AsyncIterator[Bot]:
    services = make_services(engine, master_key=master_key)
    bot = Bot(services)
    assert "stored" in (await bot.run(f"key add openai dev {SECRET} --no-verify")).last
    yield bot
    await services.providers.aclose()


def _keys(engine: Engine) -> list[ProviderKey]:
    with Session(engine) as session:
        return list(session.exec(select(ProviderKey)).all())


async def test_a_key_in_use_is_refused_naming_its_agents(bot: Bot, engine: Engine) -> None:
    await bot.run("agent create writer --key dev --model gpt-4o-mini --no-verify")
    await bot.run("agent create critic --key dev --model gpt-4o --no-verify")
    refused = (await bot.run("key delete dev")).last
    assert refused.startswith("key dev is used by critic, writer;")
    assert "usage:" not in refused  # not the usage of `key add` any more
    assert [key.name for key in _keys(engine)] == ["dev"]
    await bot.run("agent delete writer")
    await bot.run("agent set critic --key dev --no-verify")
    assert "used by critic" in (await bot.run("key delete dev")).last
    await bot.run("agent delete critic")
    assert "key dev (openai) deleted" in (await bot.run("key delete dev")).last
    assert _keys(engine) == []


async def test_delete_erases_the_sealed_secret_and_the_audit_keeps_the_key(
    bot: Bot, engine: Engine
) -> None:
    (key,) = _keys(engine)
    sealed = bytes(key.ciphertext)
    assert sealed
    sink = await bot.run("key delete dev")
    assert "deleted" in sink.last and SECRET not in sink.text
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM provider_keys")).scalar_one() == 0
    assert _keys(engine) == []
    actions = [(a.action, a.target, a.outcome) for a in audit_rows(engine)]
    assert ("key.add", "dev", "ok") in actions and ("key.delete", "dev", "ok") in actions
    assert all(SECRET not in (a.detail or "") for a in audit_rows(engine))
    # The name is free again, and the list no longer shows it.
    assert "No keys yet" in (await bot.run("key list")).last


async def test_a_revoked_key_can_be_deleted(bot: Bot, engine: Engine) -> None:
    await bot.run("key revoke dev")
    assert "revoked" in (await bot.run("key list")).last
    deleted = (await bot.run("key delete dev")).last
    assert deleted.startswith("key dev (openai) deleted")
    assert "No keys yet" in (await bot.run("key list")).last
    (row,) = [a for a in audit_rows(engine) if a.action == "key.delete"]
    assert "status=revoked" in (row.detail or "")


async def test_unknown_key_and_non_admin(bot: Bot, engine: Engine) -> None:
    assert (await bot.run("key delete dve")).last == "no key called dve; did you mean `dev`?"
    refused = await bot.run("key delete dev", user="member", admin=False)
    assert "admin" in refused.last
    assert [key.name for key in _keys(engine)] == ["dev"]
