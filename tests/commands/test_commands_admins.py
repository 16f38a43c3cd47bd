"""Permissions on every management command, granted admins, and `/byok audit N`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from bot.commands.registry import specs
from bot.vault.masterkey import generate_key
from storage.engine import make_engine
from tests.kits.commands_kit import SECRET, Bot, audit_rows, make_services

# Every management command (everything but help and me), by its registered example.
EXAMPLES: dict[tuple[str, ...], str] = {
    spec.path: spec.example for spec in specs() if spec.value.admin_only
}
_TABLES = (
    "workspaces", "provider_keys", "agents", "channel_bindings", "admins", "budgets",
    "budget_counters", "usage_events", "digest_runs", "approval_requests",
)  # fmt: skip


def _state(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    with engine.connect() as conn:
        return {
            table: sorted(map(tuple, conn.execute(text(f"SELECT * FROM {table}"))), key=repr)
            for table in _TABLES
        }


SET_UP = (
    f"key add openai prod {SECRET} --no-verify",
    "agent create writer --key prod --model gpt-4o-mini",
    "agent bind writer #general",
    "limit set workspace 5 --per month",
    "admins add @trusted",
)


@pytest.fixture
async def bot(engine: Engine, master_key: str) -> AsyncIterator[Bot]:
    services = make_services(engine, master_key=master_key)
    bot = Bot(services)
    for line in SET_UP:
        await bot.run(line)
    yield bot
    await services.providers.aclose()


async def _set_up(engine: Engine, master_key: str) -> None:
    services = make_services(engine, master_key=master_key)
    try:
        for line in SET_UP:
            await Bot(services).run(line)
    finally:
        await services.providers.aclose()


@pytest.fixture(scope="module")
def refusal_world(module_database_url: str) -> Iterator[tuple[Engine, str]]:
    """One database set up like `bot`'s, shared by the refusal cases (and its master key).

    A refused command changes no table but audit_events, and each case compares the
    tables and counts the audit rows before and after itself, so the cases see exactly
    what a fresh set-up would show them; a fresh database per case cost a CREATE DATABASE.
    """
    engine = make_engine(module_database_url)
    master_key = generate_key()
    try:
        asyncio.run(_set_up(engine, master_key))
        yield engine, master_key
    finally:
        engine.dispose()


@pytest.fixture
async def refusal_bot(refusal_world: tuple[Engine, str]) -> AsyncIterator[Bot]:
    engine, master_key = refusal_world
    services = make_services(engine, master_key=master_key)
    yield Bot(services)
    await services.providers.aclose()


def test_examples_cover_every_management_command() -> None:
    assert set(EXAMPLES) == {spec.path for spec in specs()} - {("help",), ("me",)}


@pytest.mark.parametrize("path", sorted(EXAMPLES), ids=" ".join)
async def test_non_admins_are_refused_privately_audited_and_change_nothing(
    refusal_bot: Bot, refusal_world: tuple[Engine, str], path: tuple[str, ...]
) -> None:
    bot, (engine, _) = refusal_bot, refusal_world
    before = _state(engine)
    audits = len(audit_rows(engine))
    sink = await bot.run(EXAMPLES[path], user="mallory", admin=False)
    assert [s.private for s in sink.sent] == [True]
    assert sink.last.startswith(f"Only byokbot admins can use /byok {' '.join(path)}. ")
    assert sink.files == [] and sink.forms == []
    assert _state(engine) == before
    rows = audit_rows(engine)
    assert len(rows) == audits + 1
    denied = rows[-1]
    assert (denied.actor_id, denied.outcome) == ("mallory", "denied")
    assert denied.action == {
        "usage": "usage.report",
        "audit": "audit.view",
        "models": "models.list",
        "approve": "approval.approve",
        "deny": "approval.deny",
    }.get(".".join(path), ".".join(path))
    assert SECRET not in denied.target + denied.detail


async def test_bots_are_never_admins(bot: Bot, engine: Engine) -> None:
    sink = await bot.run("key list", user="B0T", admin=True, is_bot=True)
    assert sink.last.startswith("Only byokbot admins")
    assert audit_rows(engine)[-1].outcome == "denied"


async def test_help_is_for_everyone_and_not_audited(bot: Bot, engine: Engine) -> None:
    audits = len(audit_rows(engine))
    sink = await bot.run("help key add", user="mallory", admin=False)
    assert "key add <provider> <name>" in sink.last and sink.sent[0].private
    assert len(audit_rows(engine)) == audits


async def test_granted_admins_and_removal(bot: Bot, engine: Engine) -> None:
    assert "prod" in (await bot.run("key list", user="trusted", admin=False)).last
    listing = (await bot.run("admins list")).last
    assert "@trusted" in listing and "by @admin-1" in listing and "Platform admins" in listing
    assert "already" in (await bot.run("admins add @trusted")).last
    removed = await bot.run("admins remove @trusted")
    assert "no longer" in removed.last
    refused = await bot.run("key list", user="trusted", admin=False)
    assert refused.last.startswith("Only byokbot admins")
    assert "not a granted admin" in (await bot.run("admins remove @trusted")).last
    assert (await bot.run("admins list")).last.startswith("No granted admins.")
    granted_self = await bot.run("admins add @me", user="me", admin=True)
    assert "is now" in granted_self.last
    assert "That was you" in (await bot.run("admins remove @me", user="me", admin=False)).last


async def test_audit_shows_the_newest_entries_without_secrets(bot: Bot, engine: Engine) -> None:
    await bot.run("key list", user="mallory", admin=False)
    await bot.run("agent delete ghost")
    sink = await bot.run("audit 3")
    lines = sink.last.splitlines()
    assert lines[0] == "Last 3 audit entries (newest first):"
    assert "@admin-1 · agent.delete ghost · error (NotFound)" in lines[1]
    assert "@mallory · key.list · denied" in lines[2]
    assert "@admin-1 · admins.add mallory" not in sink.last
    assert "@admin-1 · admins.add trusted · ok" in lines[3]
    everything = (await bot.run("audit 200")).last
    assert "key.add prod · ok (provider=openai verified=False)" in everything
    assert SECRET not in everything
    assert len(everything.splitlines()) == len(audit_rows(engine)) + 1  # views are not audited
