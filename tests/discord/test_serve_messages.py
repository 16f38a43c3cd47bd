"""Messages through the real `byokbot serve` on the fake Discord gateway.

Tests that need neither an empty database nor a process of their own share the module's
`byokbot serve` (`shared_discord`, tests/discord/conftest.py); the default agent, SIGTERM,
gateway drops and the rejected key each start their own.

Mentions, DMs, `--all-messages` channels, reply chains as context, replays, other bots,
streaming by edits and splitting at Discord's 2,000-character limit; a gateway that drops
(resumed, or identified afresh), a REST 429 on a reply, and a provider rejecting the key.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.discord.conftest import fresh_agent
from tests.fakes.discord import RESUME_PATH, FakeDiscord
from tests.fakes.discord_driver import DiscordDriver
from tests.fakes.discord_gateway import (
    ADMIN,
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
from tests.fakes.providers import FakeOpenAI
from tests.fakes.server import Fault
from tests.kits.helpers import ServeProcess

REPLY = "Here is the considered answer from the provider."
MENTION = f"<@{BOT_ID}>"


@pytest.fixture
def provider(provider: FakeOpenAI) -> FakeOpenAI:
    """The fake OpenAI, answering with REPLY."""
    provider.reply = REPLY
    return provider


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
    shared_discord: DiscordDriver, shared_fake: FakeDiscord, provider: FakeOpenAI
) -> None:
    discord, fake = shared_discord, shared_fake
    fresh_agent(discord, provider.base_url)
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
    shared_discord: DiscordDriver, shared_fake: FakeDiscord, provider: FakeOpenAI
) -> None:
    discord, fake = shared_discord, shared_fake
    fresh_agent(discord, provider.base_url)
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
    shared_discord: DiscordDriver, shared_fake: FakeDiscord, provider: FakeOpenAI
) -> None:
    discord, fake = shared_discord, shared_fake
    fresh_agent(discord, provider.base_url, bind=False)
    dm_channel = 960000000000000002
    said = discord.say("which team am I?", user=ROAMER, channel=dm_channel, guild=None)
    fake.wait_for(lambda f: bool(replies_to(f, said["id"])))
    (hint,) = replies_to(fake, said["id"])
    assert "exactly one server" in hint["content"]
    assert provider.chat_requests == []


def test_bound_all_messages_channel_answers_plain_messages_only_there(
    shared_discord: DiscordDriver, shared_fake: FakeDiscord, provider: FakeOpenAI
) -> None:
    discord, fake = shared_discord, shared_fake
    fresh_agent(discord, provider.base_url, all_messages=True)
    said = discord.say("no mention needed here")
    fake.wait_for(lambda f: answered_with(f, said["id"], REPLY))
    elsewhere = discord.say("nor here?", channel=SECOND_CHANNEL)
    settle()
    assert replies_to(fake, elsewhere["id"]) == []
    assert len(provider.chat_requests) == 1


def test_replayed_message_create_is_answered_once(
    shared_discord: DiscordDriver, shared_fake: FakeDiscord, provider: FakeOpenAI
) -> None:
    discord, fake = shared_discord, shared_fake
    fresh_agent(discord, provider.base_url)
    said = discord.say(f"{MENTION} once please")
    discord.say(f"{MENTION} once please", message_id=int(said["id"]))
    fake.wait_for(lambda f: answered_with(f, said["id"], REPLY))
    settle()
    assert len(replies_to(fake, said["id"])) == 1
    assert len(provider.chat_requests) == 1


def test_other_bots_are_ignored_even_when_they_mention_the_bot(
    shared_discord: DiscordDriver, shared_fake: FakeDiscord, provider: FakeOpenAI
) -> None:
    discord, fake = shared_discord, shared_fake
    fresh_agent(discord, provider.base_url, all_messages=True)
    said = discord.say(f"{MENTION} hello from a bot", user=OTHER_BOT)
    settle()
    assert replies_to(fake, said["id"]) == []
    assert provider.chat_requests == []


def test_long_answer_is_split_into_messages_under_the_limit(
    shared_discord: DiscordDriver, shared_fake: FakeDiscord, provider: FakeOpenAI
) -> None:
    discord, fake = shared_discord, shared_fake
    words = [f"word{i:04d}" for i in range(500)]  # 500 × 9 characters - 1 = 4,499
    provider.reply = " ".join(words)
    assert 4_400 < len(provider.reply) < 4_600
    name = fresh_agent(discord, provider.base_url)
    # The bot stops reading past max-tokens UTF-8 bytes (no token is shorter than a byte):
    # room for every byte of this answer.
    options = {"name": name, "max_tokens": 5_000}
    assert "max tokens 5,000" in discord.command("agent", "set", options, user=ADMIN).text
    said = discord.say(f"{MENTION} write a lot")
    fake.wait_for(lambda f: answered_with(f, said["id"], provider.reply), timeout=30)
    parts = replies_to(fake, said["id"])
    assert len(parts) == 3
    assert all(0 < len(p["content"]) <= 2_000 for p in parts)
    assert "".join(p["content"] for p in parts).split() == words  # cut between words


def test_message_content_and_answers_are_not_logged(
    shared_discord: DiscordDriver,
    shared_fake: FakeDiscord,
    provider: FakeOpenAI,
    shared_serve: ServeProcess,
) -> None:
    discord, fake, serve = shared_discord, shared_fake, shared_serve
    fresh_agent(discord, provider.base_url)
    said = discord.say(f"{MENTION} the secret plan is zanzibar-42")
    fake.wait_for(lambda f: answered_with(f, said["id"], REPLY))
    log = serve.log_text()
    assert "zanzibar-42" not in log
    assert "considered answer" not in log
    assert "discord connected" in log  # the log is the real one, at DEBUG


def test_a_key_in_a_message_is_refused_privately_by_dm_and_never_sent(
    shared_discord: DiscordDriver,
    shared_fake: FakeDiscord,
    provider: FakeOpenAI,
    shared_serve: ServeProcess,
) -> None:
    discord, fake, serve = shared_discord, shared_fake, shared_serve
    leaked = "sk-proj-Leaked0123456789abcdefghijklmnop"
    fresh_agent(discord, provider.base_url)
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


# -- the gateway dropping and Discord's REST rate limits -----------------------------------
def query_of(connection: str) -> str:
    return connection.partition("?")[2]


def ask(discord: DiscordDriver, content: str) -> dict[str, Any]:
    """Mention the bot with `content` and wait for the whole answer; returns the message."""
    said = discord.say(f"{MENTION} {content}")
    discord.fake.wait_for(lambda f: answered_with(f, said["id"], REPLY))
    return said


@pytest.mark.parametrize("drop", ["close-4000", "op7-reconnect"])
def test_a_dropped_gateway_is_resumed_and_replays_are_answered_once(
    discord: DiscordDriver, fake: FakeDiscord, provider: FakeOpenAI, drop: str
) -> None:
    discord.create_agent(provider.base_url)
    before = ask(discord, "before the drop")
    session, seq = fake.session_id, fake.sequence

    if drop == "close-4000":
        fake.disconnect(4000)  # "unknown error": a close Discord says to resume after
    else:
        fake.request_reconnect()  # op 7
    # Sent while the bot is away: Discord keeps it in the session and replays it on RESUME.
    missed = discord.say(f"{MENTION} while you were away")
    fake.wait_for(lambda f: bool(f.resumed), timeout=20)

    (resume,) = fake.resumes
    assert resume == {"token": fake.token, "session_id": session, "seq": seq}
    assert len(fake.identified) == 1  # resumed, not identified again
    first, again = fake.connections
    assert again.startswith(RESUME_PATH + "?")  # READY's resume_gateway_url
    assert query_of(again) == query_of(first)  # same version, encoding and compression
    fake.wait_for(lambda f: answered_with(f, missed["id"], REPLY))

    after = ask(discord, "after the resume")
    # Discord delivers MESSAGE_CREATEs again after a resume: the same ids, answered once.
    for said in (before, missed, after):
        discord.say(said["content"], message_id=int(said["id"]))
    settle()
    for said in (before, missed, after):
        assert len(replies_to(fake, said["id"])) == 1, said["content"]
    assert len(provider.chat_requests) == 3


def test_a_session_that_cannot_be_resumed_is_identified_afresh_and_replays_answered_once(
    discord: DiscordDriver, fake: FakeDiscord, provider: FakeOpenAI, serve: ServeProcess
) -> None:
    discord.create_agent(provider.base_url)
    before = ask(discord, "before the drop")
    old_session = fake.session_id

    fake.expire_session()  # as if the bot came back too late: its RESUME gets op 9
    fake.disconnect(4000)
    # discord.py waits 5 s before a second IDENTIFY (Discord's identify rate limit).
    fake.wait_for(lambda f: len(f.identified) == 2 and f.connected(), timeout=30)
    assert [r["session_id"] for r in fake.resumes] == [old_session]
    assert fake.session_id not in (None, old_session)
    assert fake.identified[1]["intents"] == fake.identified[0]["intents"]
    fake.wait_for(lambda _f: serve.log_text().count("discord connected") == 2)

    ask(discord, "after the new session")
    discord.say(before["content"], message_id=int(before["id"]))  # replayed in the new one
    settle()
    assert len(replies_to(fake, before["id"])) == 1
    assert len(provider.chat_requests) == 2
    assert "Traceback" not in serve.log_text()


def test_a_429_on_the_first_reply_is_retried_after_retry_after_and_sent_once(
    shared_discord: DiscordDriver, shared_fake: FakeDiscord, provider: FakeOpenAI
) -> None:
    discord, fake = shared_discord, shared_fake
    fresh_agent(discord, provider.base_url)
    path = f"/channels/{CHANNEL}/messages"
    fake.rate_limit("POST", path, retry_after=0.75)
    said = ask(discord, "not so fast")
    settle()
    posts = fake.calls_to("POST", path)
    # One 429 (retried no sooner than Discord asked, or the fake would 429 again), one post.
    assert [p.status for p in posts] == [429, 200], [(p.status, p.at) for p in posts]
    assert posts[1].at - posts[0].at >= 0.7
    assert posts[0].body == posts[1].body  # the same reply, sent again
    (reply,) = replies_to(fake, said["id"])
    assert reply["content"] == REPLY
    assert len(provider.chat_requests) == 1  # the model is not asked twice


# -- provider failures ---------------------------------------------------------------------
def test_a_rejected_key_is_one_private_line_a_usage_row_and_a_notice_to_the_admins(
    discord: DiscordDriver,
    fake: FakeDiscord,
    provider: FakeOpenAI,
    serve: ServeProcess,
    engine: Engine,
) -> None:
    discord.create_agent(provider.base_url)
    assert "digest" in discord.command("digest", "channel", {}, user=ADMIN).text  # here
    provider.script(Fault.http_status(401, code="invalid_api_key"))
    said = discord.say(f"{MENTION} are you there?")
    dm_posts = f"/channels/{MEMBER + 1}/messages"  # the fake's DM channel with MEMBER
    fake.wait_for(lambda f: bool(f.calls_to("POST", dm_posts)))
    (line,) = [c.body["content"] for c in fake.calls_to("POST", dm_posts)]
    assert line.startswith("writer could not answer:") and "\n" not in line, line
    assert "writer-key is now marked failing" in line and "/byok key rotate writer-key" in line
    fake.wait_for(lambda f: bool(f.channel_messages(CHANNEL)))
    (notice,) = fake.channel_messages(CHANNEL)  # to the digest channel, answering no one
    assert "message_reference" not in notice and "Key writer-key (openai)" in notice["content"]
    settle()
    assert replies_to(fake, said["id"]) == []  # nothing public, no trace anywhere
    assert "Traceback" not in serve.log_text()
    assert len(provider.chat_requests) == 1  # a rejected key is not retried
    with engine.connect() as conn:
        usage = conn.execute(text("SELECT status, error_kind FROM usage_events")).all()
        keys = conn.execute(text("SELECT name, status FROM provider_keys")).all()
    assert usage == [("key_rejected", "key_rejected")]
    assert keys == [("writer-key", "failing")]
