"""Discord guilds split across replicas by shard (SPEC "Running it": DISCORD_SHARD_COUNT/IDS).

Two real `byokbot serve` processes share one database: one holds shard 0, the other
shard 1 of 2, against a fake Discord that routes each guild's events to its shard's
connection only (`(guild_id >> 22) % 2`). Each guild's mention is answered once, by
the replica holding its shard, and the app commands are synced once, by shard 0's.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.discord import FakeDiscord, shard_of
from tests.fakes.discord_driver import DiscordDriver, discord_env
from tests.fakes.discord_gateway import (
    ADMIN,
    APP_ID,
    BOT_ID,
    CHANNEL,
    EVERYONE_PERMISSIONS,
    GUILD,
    MANAGE_GUILD,
    MEMBER,
    command_data,
    interaction,
)
from tests.fakes.providers import FakeOpenAI
from tests.kits.helpers import ServeProcess

SHARD1_GUILD = GUILD + (1 << 22)  # the next guild id on shard 1 of 2
SHARD1_CHANNEL = CHANNEL + 100
MENTION = f"<@{BOT_ID}>"


@pytest.fixture
def fake() -> Iterator[FakeDiscord]:
    """A fake Discord recommending two shards, with a guild on each."""
    with FakeDiscord(shards=2) as api:
        api.world.members[SHARD1_GUILD] = {BOT_ID, ADMIN, MEMBER}
        api.world.channels[SHARD1_CHANNEL] = SHARD1_GUILD
        assert shard_of(GUILD, 2) == 0 and shard_of(SHARD1_GUILD, 2) == 1
        yield api


def replica(tmp_path: Path, env: dict[str, str], shard: int) -> ServeProcess:
    """`serve` holding one shard of two, in its own directory."""
    cwd = tmp_path / f"shard{shard}"
    cwd.mkdir()
    extra = {"DISCORD_SHARD_COUNT": "2", "DISCORD_SHARD_IDS": str(shard)}
    return ServeProcess(env={**env, **extra}, cwd=cwd)


def admin_command(
    driver: DiscordDriver, guild: int, channel: int, command: str, opts: dict[str, Any]
) -> str:
    """`/byok <group> <name>` by a manager of `guild` (Discord computes the permissions)."""
    group, _, leaf = command.partition(" ")
    payload = interaction(
        kind=2,
        data=command_data(group, leaf, opts),
        user_id=ADMIN,
        guild_id=guild,
        channel_id=channel,
    )
    payload["member"]["permissions"] = str(EVERYONE_PERMISSIONS | MANAGE_GUILD)
    driver.fake.push("INTERACTION_CREATE", payload)
    return driver.answer_of(f"{payload['id']}/{payload['token']}").text


def set_up_agent(driver: DiscordDriver, provider: FakeOpenAI, guild: int, channel: int) -> None:
    """key add + agent create + agent bind in `guild`'s `channel`."""
    options = {
        "provider": "openai",
        "name": "k",
        "secret": "test-key",
        "base_url": provider.base_url,
        "no_verify": True,
    }
    assert "stored" in admin_command(driver, guild, channel, "key add", options)
    reply = admin_command(
        driver,
        guild,
        channel,
        "agent create",
        {"name": "writer", "key": "k", "model": "gpt-4o-mini"},
    )
    assert "created" in reply, reply
    assert "bound" in admin_command(driver, guild, channel, "agent bind", {"name": "writer"})


def replies(fake: FakeDiscord, channel: int) -> int:
    """How many messages the bot posted in `channel`."""
    return len(fake.channel_messages(channel))


def wait_ready(fake: FakeDiscord, *servers: ServeProcess) -> None:
    """Both shards connected and every replica reported itself ready."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if fake.connected() and all("discord connected" in s.log_text() for s in servers):
            return
        time.sleep(0.05)
    raise AssertionError("\n\n".join(s.log_text() for s in servers))


def test_two_replicas_split_the_guilds_by_shard_and_sync_commands_once(
    tmp_path: Path, database_url: str, master_key: str, fake: FakeDiscord, provider: FakeOpenAI
) -> None:
    env = discord_env(database_url=database_url, master_key=master_key, fake=fake)
    with replica(tmp_path, env, 0) as first, replica(tmp_path, env, 1) as second:
        wait_ready(fake, first, second)
        shards = sorted(tuple(identify["shard"]) for identify in fake.identified)
        assert shards == [(0, 2), (1, 2)]  # one connection each, its own shard only
        assert "in 2 guild(s)" in first.log_text()  # GUILD and OTHER_GUILD
        assert "in 1 guild(s)" in second.log_text()  # SHARD1_GUILD
        driver = DiscordDriver(fake)
        set_up_agent(driver, provider, GUILD, CHANNEL)
        set_up_agent(driver, provider, SHARD1_GUILD, SHARD1_CHANNEL)

        driver.say(f"{MENTION} hello", channel=CHANNEL, guild=GUILD)
        driver.say(f"{MENTION} hello", channel=SHARD1_CHANNEL, guild=SHARD1_GUILD)
        fake.wait_for(lambda f: replies(f, CHANNEL) >= 1 and replies(f, SHARD1_CHANNEL) >= 1)
        time.sleep(1.0)  # a second answer, if a replica answered a guild not its own
        assert replies(fake, CHANNEL) == 1 and replies(fake, SHARD1_CHANNEL) == 1
        assert len(provider.chat_requests) == 2

        # Only the replica holding shard 1 answers its guild: without it, nobody does.
        assert second.stop() == 0
        driver.say(f"{MENTION} again", channel=SHARD1_CHANNEL, guild=SHARD1_GUILD)
        driver.say(f"{MENTION} again", channel=CHANNEL, guild=GUILD)
        fake.wait_for(lambda f: replies(f, CHANNEL) == 2)
        time.sleep(1.0)
        assert replies(fake, SHARD1_CHANNEL) == 1
        assert len(provider.chat_requests) == 3

    syncs = fake.calls_to("PUT", f"/applications/{APP_ID}/commands")
    assert len(syncs) == 1, fake.summary()
    assert "discord commands synced" in first.log_text()
    assert "synced by the replica holding shard 0" in second.log_text()
    assert "discord commands synced" not in second.log_text()
