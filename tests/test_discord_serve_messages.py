"""Messages through the real `byokbot serve` on the fake Discord gateway.

Mentions, DMs, `--all-messages` channels, reply chains as context, replays, other bots,
streaming by edits and splitting at Discord's 2,000-character limit.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.discord_api import FakeDiscord
from tests.fakes.discord_driver import DiscordDriver, discord_env
from tests.fakes.discord_gateway import (
    BOT_ID,
    CHANNEL,
    GUILD,
    MEMBER,
    OTHER_BOT,
    ROAMER,
    SECOND_CHANNEL,
    message,
    next_id,
)
from tests.fakes.fixtures import _openai_server  # noqa: F401
from tests.fakes.providers import FakeOpenAI
from tests.helpers import ServeProcess

REPLY = "Here is the considered answer from the provider."
MENTION = f"<@{BOT_ID}>"


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
    server.reply = REPLY
    yield server
    server.reset()


def replies_to(fake: FakeDiscord, message_id: str) -> list[dict[str, Any]]:
    """The bot's messages answering `message_id`, as they look now."""
    found = [
        m
        for m in fake.messages.values()
        if str((m.get("message_reference") or {}).get("message_id")) == message_id
    ]
    return sorted(found, key=lambda m: int(m["id"]))


def answered_with(fake: FakeDiscord, message_id: str, text: str) -> bool:
    return "".join(m["content"] for m in replies_to(fake, message_id)) == text


def settle(seconds: float = 1.0) -> None:
    time.sleep(seconds)  # time for an answer that must NOT come


def test_mention_is_answered_by_a_reply_streamed_with_edits(
    discord: DiscordDriver, fake: FakeDiscord, provider: FakeOpenAI
) -> None:
    discord.create_agent(provider.base_url)
    said = discord.say(f"{MENTION} what is 2+2?")
    fake.wait_for(lambda f: answered_with(f, said["id"], REPLY))
    (reply,) = replies_to(fake, said["id"])
    posts = fake.calls_to("POST", f"/channels/{CHANNEL}/messages")
    assert len(posts) == 1 and posts[0].body["content"] != REPLY  # first words, then edits
    assert fake.calls_to("PATCH", f"/channels/{CHANNEL}/messages/{reply['id']}")
    assert posts[0].body["allowed_mentions"]["parse"] == []  # model output pings no one
    (request,) = provider.chat_requests
    assert request.json["messages"][-1]["content"] == "what is 2+2?"  # mention stripped
    assert request.json["model"] == "gpt-4o-mini"


def test_reply_chain_is_the_context(
    discord: DiscordDriver, fake: FakeDiscord, provider: FakeOpenAI
) -> None:
    discord.create_agent(provider.base_url)
    first = message(
        message_id=next_id(),
        channel_id=CHANNEL,
        author_id=MEMBER,
        content=f"{MENTION} name a colour",
        guild_id=GUILD,
    )
    answer = message(
        message_id=next_id(),
        channel_id=CHANNEL,
        author_id=BOT_ID,
        content="Blue.",
        guild_id=GUILD,
        reply_to=int(first["id"]),
    )
    fake.remember(first)
    fake.remember(answer)
    said = discord.say(f"{MENTION} and another?", reply_to=int(answer["id"]))
    fake.wait_for(lambda f: answered_with(f, said["id"], REPLY))
    (request,) = provider.chat_requests
    turns = [(m["role"], m["content"]) for m in request.json["messages"] if m["role"] != "system"]
    assert turns == [("user", "name a colour"), ("assistant", "Blue."), ("user", "and another?")]


def test_direct_message_goes_to_the_default_agent_of_the_shared_guild(
    discord: DiscordDriver, fake: FakeDiscord, provider: FakeOpenAI
) -> None:
    discord.create_agent(provider.base_url, bind=False)  # the first agent is the default
    dm_channel = 960000000000000001
    said = discord.say("hello in private", channel=dm_channel, guild=None)
    fake.wait_for(lambda f: answered_with(f, said["id"], REPLY))
    assert fake.calls_to("POST", f"/channels/{dm_channel}/messages")


def test_direct_message_from_a_member_of_two_guilds_gets_a_hint_only(
    discord: DiscordDriver, fake: FakeDiscord, provider: FakeOpenAI
) -> None:
    discord.create_agent(provider.base_url, bind=False)
    dm_channel = 960000000000000002
    said = discord.say("which team am I?", user=ROAMER, channel=dm_channel, guild=None)
    fake.wait_for(lambda f: bool(replies_to(f, said["id"])))
    (hint,) = replies_to(fake, said["id"])
    assert "exactly one server" in hint["content"]
    assert provider.chat_requests == []


def test_bound_all_messages_channel_answers_plain_messages_only_there(
    discord: DiscordDriver, fake: FakeDiscord, provider: FakeOpenAI
) -> None:
    discord.create_agent(provider.base_url, all_messages=True)
    said = discord.say("no mention needed here")
    fake.wait_for(lambda f: answered_with(f, said["id"], REPLY))
    elsewhere = discord.say("nor here?", channel=SECOND_CHANNEL)
    settle()
    assert replies_to(fake, elsewhere["id"]) == []
    assert len(provider.chat_requests) == 1


def test_replayed_message_create_is_answered_once(
    discord: DiscordDriver, fake: FakeDiscord, provider: FakeOpenAI
) -> None:
    discord.create_agent(provider.base_url)
    said = discord.say(f"{MENTION} once please")
    discord.say(f"{MENTION} once please", message_id=int(said["id"]))
    fake.wait_for(lambda f: answered_with(f, said["id"], REPLY))
    settle()
    assert len(replies_to(fake, said["id"])) == 1
    assert len(provider.chat_requests) == 1


def test_other_bots_are_ignored_even_when_they_mention_the_bot(
    discord: DiscordDriver, fake: FakeDiscord, provider: FakeOpenAI
) -> None:
    discord.create_agent(provider.base_url, all_messages=True)
    said = discord.say(f"{MENTION} hello from a bot", user=OTHER_BOT)
    settle()
    assert replies_to(fake, said["id"]) == []
    assert provider.chat_requests == []


def test_long_answer_is_split_into_messages_under_the_limit(
    discord: DiscordDriver, fake: FakeDiscord, provider: FakeOpenAI
) -> None:
    words = [f"word{i:04d}" for i in range(500)]  # 500 × 9 characters - 1 = 4,499
    provider.reply = " ".join(words)
    assert 4_400 < len(provider.reply) < 4_600
    discord.create_agent(provider.base_url)
    said = discord.say(f"{MENTION} write a lot")
    fake.wait_for(lambda f: answered_with(f, said["id"], provider.reply), timeout=30)
    parts = replies_to(fake, said["id"])
    assert len(parts) == 3
    assert all(0 < len(p["content"]) <= 2_000 for p in parts)
    assert "".join(p["content"] for p in parts).split() == words  # cut between words


def test_message_content_and_answers_are_not_logged(
    discord: DiscordDriver, fake: FakeDiscord, provider: FakeOpenAI, serve: ServeProcess
) -> None:
    discord.create_agent(provider.base_url)
    said = discord.say(f"{MENTION} the secret plan is zanzibar-42")
    fake.wait_for(lambda f: answered_with(f, said["id"], REPLY))
    log = serve.log_text()
    assert "zanzibar-42" not in log
    assert "considered answer" not in log
    assert "discord connected" in log  # the log is the real one, at DEBUG


def test_a_key_in_a_message_is_refused_privately_by_dm_and_never_sent(
    discord: DiscordDriver, fake: FakeDiscord, provider: FakeOpenAI, serve: ServeProcess
) -> None:
    leaked = "sk-proj-Leaked0123456789abcdefghijklmnop"
    discord.create_agent(provider.base_url)
    said = discord.say(f"{MENTION} is this key ok? {leaked}")
    fake.wait_for(lambda f: bool(f.calls_to("POST", "/users/@me/channels")))
    (dm,) = fake.calls_to("POST", "/users/@me/channels")
    assert str(dm.body["recipient_id"]) == str(MEMBER)
    dm_channel = str(MEMBER + 1)  # the fake's DM channel id for a user
    fake.wait_for(lambda f: bool(f.calls_to("POST", f"/channels/{dm_channel}/messages")))
    (hint,) = fake.calls_to("POST", f"/channels/{dm_channel}/messages")
    assert "revoke it at the provider" in hint.body["content"]
    settle()
    assert replies_to(fake, said["id"]) == []  # nothing in the channel
    assert provider.chat_requests == []
    assert leaked not in " ".join(str(c.body) for c in fake.calls)
    assert leaked not in serve.log_text()


def test_serve_stops_cleanly_on_sigterm(
    discord: DiscordDriver, fake: FakeDiscord, serve: ServeProcess
) -> None:
    assert serve.stop() == 0
    log = serve.log_text()
    assert "stopped" in log and "did not stop cleanly" not in log and "Traceback" not in log
