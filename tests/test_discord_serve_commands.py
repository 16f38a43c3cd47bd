"""`/byok` app commands through the real `byokbot serve` against the fake Discord.

The process logs in over REST, connects to the fake gateway, syncs its commands, and is
then sent INTERACTION_CREATE dispatches; answers are read from the interaction callbacks
and webhook follow-ups the fake recorded.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.fakes.discord_api import MODAL, FakeDiscord
from tests.fakes.discord_driver import DiscordDriver, discord_env
from tests.fakes.discord_gateway import ADMIN, ADMINISTRATOR, APP_ID, GUILD, MEMBER
from tests.fakes.fixtures import _openai_server  # noqa: F401
from tests.fakes.providers import FakeOpenAI
from tests.helpers import ServeProcess

SECRET = "sk-discordsecret0123456789abcdefXYZ"


@pytest.fixture
def fake() -> Iterator[FakeDiscord]:
    with FakeDiscord() as api:
        yield api


@pytest.fixture
def serve(
    database_url: str, master_key: str, fake: FakeDiscord, tmp_path: Path
) -> Iterator[ServeProcess]:
    env = discord_env(database_url=database_url, master_key=master_key, fake=fake)
    with ServeProcess(env=env, cwd=tmp_path) as process:
        yield process


@pytest.fixture
def discord(serve: ServeProcess, fake: FakeDiscord) -> DiscordDriver:
    driver = DiscordDriver(fake, log=serve.log_text)
    driver.wait_ready()
    return driver


@pytest.fixture
def provider(request: pytest.FixtureRequest) -> Iterator[FakeOpenAI]:
    server: FakeOpenAI = request.getfixturevalue("_openai_server")
    server.reset()
    yield server
    server.reset()


def test_start_logs_in_identifies_with_the_intents_and_syncs_byok(
    discord: DiscordDriver, fake: FakeDiscord
) -> None:
    assert fake.calls_to("GET", "/users/@me") and fake.calls_to("GET", "/gateway/bot")
    assert all(c.authorization == f"Bot {fake.token}" for c in fake.calls_to("GET", "/users"))
    (identify,) = fake.identified
    guilds, guild_messages, dms, content = 1 << 0, 1 << 9, 1 << 12, 1 << 15
    assert identify["intents"] == guilds | guild_messages | dms | content
    (sync,) = fake.calls_to("PUT", f"/applications/{APP_ID}/commands")
    (byok,) = sync.body
    assert byok["name"] == "byok"
    assert byok.get("contexts") == [0] or byok.get("dm_permission") is False
    names = {o["name"]: {s["name"] for s in o.get("options", [])} for o in byok["options"]}
    assert names["key"] == {"add", "list", "rotate", "revoke", "test"}
    assert {"create", "set", "bind", "unbind", "default", "list", "show", "delete"} <= (
        names["agent"]
    )
    assert {"help", "usage", "audit", "limit", "digest", "admins"} <= set(names)


def test_admin_agent_list_is_a_deferred_ephemeral_reply_with_the_core_text(
    discord: DiscordDriver, fake: FakeDiscord
) -> None:
    answer = discord.command("agent", "list", {}, user=ADMIN)
    assert answer.deferred_ephemeral
    assert answer.all_ephemeral
    assert answer.text.startswith("No agents yet"), answer.text


def test_administrator_role_is_an_admin_too(discord: DiscordDriver) -> None:
    answer = discord.command("key", "list", {}, user=ADMINISTRATOR)
    assert answer.all_ephemeral
    assert answer.text.startswith("No keys yet"), answer.text


def test_non_admin_is_refused_privately_and_audited(
    discord: DiscordDriver, database_url: str
) -> None:
    answer = discord.command("agent", "list", {}, user=MEMBER)
    assert answer.all_ephemeral
    assert answer.text.startswith("Only byokbot admins"), answer.text
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT actor_id, outcome FROM audit_events")).all()
    finally:
        engine.dispose()
    assert any(row[0] == str(MEMBER) and row[1] == "denied" for row in rows), rows


def test_key_add_without_secret_opens_a_modal_whose_submission_stores_the_key(
    discord: DiscordDriver,
    fake: FakeDiscord,
    provider: FakeOpenAI,
    database_url: str,
    serve: ServeProcess,
) -> None:
    provider.valid_keys.add(SECRET)
    callback = discord.command_callback(
        "key",
        "add",
        {"provider": "openai", "name": "prod", "base_url": provider.base_url},
        user=ADMIN,
    )
    assert callback["type"] == MODAL, callback
    modal = callback["data"]
    (row,) = modal["components"]
    (field_,) = row["components"]
    assert field_["type"] == 4
    answer = discord.submit_modal(modal["custom_id"], {field_["custom_id"]: SECRET}, user=ADMIN)
    assert answer.all_ephemeral
    assert "stored" in answer.text, answer.text
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            keys = conn.execute(text("SELECT workspace_id, name FROM provider_keys")).all()
    finally:
        engine.dispose()
    assert keys == [(f"discord:{GUILD}", "prod")]
    (verify,) = provider.requests  # verified against the provider before it was stored
    assert verify.headers["authorization"] == f"Bearer {SECRET}"
    assert SECRET not in serve.log_text()
    assert SECRET not in " ".join(str(c.body) for c in fake.calls)
    assert not any(SECRET in str(c.body) for c in fake.calls_to("POST", "/interactions"))


def test_inline_secret_is_stored_never_echoed_nor_logged(
    discord: DiscordDriver, fake: FakeDiscord, serve: ServeProcess, provider: FakeOpenAI
) -> None:
    options = {
        "provider": "openai",
        "name": "inline",
        "secret": SECRET,
        "base_url": provider.base_url,
        "no_verify": True,
    }
    answer = discord.command("key", "add", options, user=ADMIN)
    assert answer.all_ephemeral and "stored" in answer.text, answer.text
    listing = discord.command("key", "list", {}, user=ADMIN)
    assert "inline" in listing.text
    sent = " ".join(str(c.body) for c in fake.calls if not c.path.startswith("/interactions"))
    assert SECRET not in sent and SECRET not in listing.text
    assert SECRET not in serve.log_text()
