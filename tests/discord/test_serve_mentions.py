"""Nothing byokbot posts on Discord can mass-mention (SPEC "Messages"), whatever it quotes.

Every message the real `byokbot serve` creates or edits (replies, stream edits, command
answers, follow-ups, digest posts) carries `allowed_mentions` with `parse: []`, and its
text is defused too: `@everyone`, `@here` and role mentions `<@&id>` from model output
(split across chunks as well), a model id, the `--show-cost` footer and the digest.

Both tests share the module's `byokbot serve` (`shared_discord`, tests/discord/conftest.py).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import create_engine

from adapters.mentions import ZWSP
from tests.discord.conftest import fresh_agent
from tests.fakes.discord import FakeDiscord
from tests.fakes.discord_driver import DiscordDriver
from tests.fakes.discord_gateway import ADMIN, BOT_ID, CHANNEL
from tests.fakes.providers import FakeOpenAI
from tests.fakes.server import CHUNK_BREAK
from tests.kits.serve_fixtures import usage_rows

ACTIVE = re.compile(r"@(?:everyone|here)|<@&", re.IGNORECASE)
MENTION = f"<@{BOT_ID}>"
HOSTILE_CHUNKS = [
    "Hey ",
    "@every",
    "one",
    " and @",
    "here and <@",
    "&",
    "424242> and <@&99> too; ",
    "@everyone!",
]
HOSTILE = "".join(HOSTILE_CHUNKS)


def message_bodies(fake: FakeDiscord) -> list[dict[str, Any]]:
    """Every message the bot created or edited: REST, interaction callbacks, follow-ups."""
    found: list[dict[str, Any]] = []
    for call in list(fake.calls):
        if call.method not in ("POST", "PATCH") or not isinstance(call.body, dict):
            continue
        if call.path.endswith("/callback"):  # type 4: a message; 5 (deferral), 9 (modal): none
            if call.body.get("type") == 4:
                found.append(call.body["data"])
        elif call.path.endswith("/messages") or "/messages/" in call.path:
            found.append(call.body)  # channel messages and their edits, files included
        elif call.path.startswith("/webhooks/"):
            found.append(call.body)  # interaction follow-ups and their edits
    return found


def assert_nothing_pings(fake: FakeDiscord) -> None:
    """Every message says `parse: []` (and no users or roles) and holds no active mention."""
    bodies = message_bodies(fake)
    assert bodies, fake.summary()
    for body in bodies:
        allowed = body.get("allowed_mentions")
        assert isinstance(allowed, dict), body
        assert allowed.get("parse") == [], body
        assert not allowed.get("users") and not allowed.get("roles"), body
        assert not ACTIVE.search(str(body.get("content") or "")), body


def reply_text(fake: FakeDiscord, message_id: str) -> str:
    """The bot's replies to `message_id` put together, as they look now."""
    parts = [
        m
        for m in fake.messages.values()
        if str((m.get("message_reference") or {}).get("message_id")) == message_id
    ]
    return "".join(m["content"] for m in sorted(parts, key=lambda m: int(m["id"])))


@pytest.fixture
def hostile(provider: FakeOpenAI) -> FakeOpenAI:
    """The fake OpenAI streaming HOSTILE_CHUNKS, one event each, a little apart."""
    provider.reply = CHUNK_BREAK.join(HOSTILE_CHUNKS)
    provider.delay = 0.15
    return provider


def test_streamed_answer_cannot_mass_mention_even_split_across_chunks(
    shared_discord: DiscordDriver,
    shared_fake: FakeDiscord,
    hostile: FakeOpenAI,
    module_database_url: str,
) -> None:
    discord, fake = shared_discord, shared_fake
    fresh_agent(discord, hostile.base_url)
    engine = create_engine(module_database_url)
    before = usage_rows(engine)  # the database is the module's: count this test's row
    said = discord.say(f"{MENTION} say it")
    fake.wait_for(lambda f: reply_text(f, said["id"]).replace(ZWSP, "") == HOSTILE, timeout=20)
    fake.wait_for(lambda _f: usage_rows(engine) == before + 1)
    engine.dispose()
    assert fake.calls_to("PATCH", f"/channels/{CHANNEL}/messages")  # streamed by edits
    assert not ACTIVE.search(reply_text(fake, said["id"]))
    assert_nothing_pings(fake)


def test_model_id_cannot_mass_mention_in_replies_footer_or_digest(
    shared_discord: DiscordDriver,
    shared_fake: FakeDiscord,
    provider: FakeOpenAI,
    module_database_url: str,
) -> None:
    discord, fake = shared_discord, shared_fake
    engine = create_engine(module_database_url)
    before = usage_rows(engine)  # the database is the module's: count this test's row
    provider.reply = "Fine."
    options: dict[str, Any] = {
        "provider": "openai",
        "name": "k",
        "secret": "test-key",
        "base_url": provider.base_url,
        "no_verify": True,
    }
    assert "stored" in discord.command("key", "add", options, user=ADMIN).text
    options = {"name": "writer", "key": "k", "model": "@everyone", "show_cost": True}
    options["no_verify"] = True  # the fake lists no such model
    created = discord.command("agent", "create", options, user=ADMIN).text
    assert f"@{ZWSP}everyone" in created, created  # the model id is shown back, defused
    bound = discord.command("agent", "bind", {"name": "writer"}, user=ADMIN).text
    assert "bound" in bound, bound
    assert "digest" in discord.command("digest", "channel", {}, user=ADMIN).text

    said = discord.say(f"{MENTION} hi")
    fake.wait_for(lambda f: "tokens" in reply_text(f, said["id"]), timeout=20)
    assert f"@{ZWSP}everyone" in reply_text(fake, said["id"])  # the cost footer

    fake.wait_for(lambda _f: usage_rows(engine) == before + 1)
    engine.dispose()
    answer = discord.command("digest", "now", {}, user=ADMIN)
    assert "posted in" in answer.text, answer.text
    digest = [
        str((c.body or {}).get("content") or "")
        for c in fake.calls_to("POST", f"/channels/{CHANNEL}/messages")
        if "message_reference" not in (c.body or {})
    ]
    assert any(f"@{ZWSP}everyone" in d for d in digest), digest
    assert_nothing_pings(fake)
