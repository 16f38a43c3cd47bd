"""Hostile reply-chain context through the real `byokbot serve` on the fake Discord.

A key pasted earlier in a reply chain must not reach the provider as context when the
bot is mentioned in a reply to it (SPEC "Messages", Guarantee 1); lone surrogates in a
message or in its chain get an answer, never "internal error" (Guarantee 11).

Both tests share the module's `byokbot serve` (`shared_discord`, tests/discord/conftest.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.discord.conftest import fresh_agent
from tests.fakes.discord import FakeDiscord
from tests.fakes.discord_driver import DiscordDriver
from tests.fakes.discord_gateway import BOT_ID, CHANNEL, GUILD, MEMBER, message, next_id
from tests.fakes.providers import FakeOpenAI
from tests.kits.helpers import ServeProcess

REPLY = "Here is the considered answer from the provider."
MENTION = f"<@{BOT_ID}>"
LEAKED = "sk-proj-ChainLeak01234567890abcdefghijklmn"
ECHOED = "AIzaSyEchoedByTheBot0123456789abcdefghijk"


@pytest.fixture
def provider(provider: FakeOpenAI) -> FakeOpenAI:
    """The fake OpenAI, answering with REPLY."""
    provider.reply = REPLY
    return provider


def replies_to(fake: FakeDiscord, message_id: str) -> list[dict[str, Any]]:
    """The bot's messages answering `message_id`."""
    found = [
        m
        for m in fake.messages.values()
        if str((m.get("message_reference") or {}).get("message_id")) == message_id
    ]
    return sorted(found, key=lambda m: int(m["id"]))


def answered_with(fake: FakeDiscord, message_id: str, text: str) -> bool:
    return "".join(m["content"] for m in replies_to(fake, message_id)) == text


def chain(fake: FakeDiscord, links: list[tuple[int, str]]) -> int:
    """Remember a reply chain of (author, content), each replying to the one before;
    returns the newest message's id."""
    previous: int | None = None
    for author, content in links:
        data = message(
            message_id=next_id(),
            channel_id=CHANNEL,
            author_id=author,
            content=content,
            guild_id=GUILD,
            reply_to=previous,
        )
        fake.remember(data)
        previous = int(data["id"])
    assert previous is not None
    return previous


def sent_turns(provider: FakeOpenAI) -> list[tuple[str, str]]:
    (request,) = provider.chat_requests
    return [(m["role"], m["content"]) for m in request.json["messages"] if m["role"] != "system"]


def test_a_key_earlier_in_the_reply_chain_never_reaches_the_provider(
    shared_discord: DiscordDriver,
    shared_fake: FakeDiscord,
    provider: FakeOpenAI,
    shared_serve: ServeProcess,
) -> None:
    discord, fake, serve = shared_discord, shared_fake, shared_serve
    fresh_agent(discord, provider.base_url)
    newest = chain(
        fake,
        [
            (MEMBER, f"{MENTION} name a colour"),
            (BOT_ID, "Blue."),
            (MEMBER, f"is this key still good? {LEAKED}"),
            (BOT_ID, f"It was {ECHOED} all along."),  # a key in our own earlier answer
            (MEMBER, "green is nicer"),
        ],
    )
    said = discord.say(f"{MENTION} and another?", reply_to=newest)
    fake.wait_for(lambda f: answered_with(f, said["id"], REPLY))
    (request,) = provider.chat_requests
    body = request.body.decode()
    assert LEAKED not in body and ECHOED not in body
    assert "is this key still good" not in body and "all along" not in body
    assert sent_turns(provider) == [
        ("user", "name a colour"),
        ("assistant", "Blue."),
        ("user", "green is nicer\n\nand another?"),
    ]
    log = serve.log_text()
    assert LEAKED not in log and ECHOED not in log


def test_lone_surrogates_in_the_message_and_the_chain_get_an_answer(
    shared_discord: DiscordDriver,
    shared_fake: FakeDiscord,
    provider: FakeOpenAI,
    shared_serve: ServeProcess,
) -> None:
    discord, fake, serve = shared_discord, shared_fake, shared_serve
    fresh_agent(discord, provider.base_url)
    newest = chain(fake, [(MEMBER, f"{MENTION} broken \ud800 text"), (BOT_ID, "half \udfff")])
    said = discord.say(f"{MENTION} and now \udc00 what?\x00", reply_to=newest)
    fake.wait_for(lambda f: answered_with(f, said["id"], REPLY))
    assert sent_turns(provider) == [
        ("user", "broken \ufffd text"),
        ("assistant", "half \ufffd"),
        ("user", "and now \ufffd what?"),
    ]
    log = serve.log_text()
    assert "Traceback" not in log and "UnicodeEncodeError" not in log
