"""Attachments of Discord messages, through the real `byokbot serve` and the fake Discord.

The image goes from the fake Discord's CDN (no token sent: attachment URLs are signed)
to each wire family's fake provider byte for byte; an attachment on another host is
never fetched, a declared oversize is never downloaded, one larger than declared is cut
while streaming, a message with only an attachment in an `--all-messages` channel is
answered, earlier attachments of a reply chain are not re-sent, nothing lands in the
process's private TMPDIR, and no file name reaches the log or the database.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.discord import FakeDiscord
from tests.fakes.discord_driver import DiscordDriver
from tests.fakes.discord_gateway import ADMIN, BOT_ID, CHANNEL, GUILD, MEMBER, message, next_id
from tests.fakes.fixtures import *  # noqa: F403  # the three families' fake providers
from tests.fakes.fixtures import FAMILIES
from tests.fakes.server import FakeServer
from tests.kits.helpers import ServeProcess
from tests.kits.platform_files import MODELS, assert_nowhere, png, sent_images, tmp_entries

NAME = "quarterly-invoice-7f3a.png"  # must never reach the log or the database
IMAGE = png(5, 4)
MENTION = f"<@{BOT_ID}>"


# One `byokbot serve` (and one fake Discord, one database) for the whole module: starting a
# process per test is what cost the time. Each test makes its own agent and key (binding
# replaces the channel's agent), starts from a fake with no recorded calls (see
# tests/discord/conftest.py), and checks the shared TMPDIR, log and database, its
# predecessors' traffic included.
@pytest.fixture(scope="module")
def private_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The serve process's own TMPDIR: it must stay empty."""
    return tmp_path_factory.mktemp("private-tmp")


@pytest.fixture(scope="module")
def shared_env(shared_env: dict[str, str], private_tmp: Path) -> dict[str, str]:
    """The Discord serve environment with a private TMPDIR."""
    return {**shared_env, "TMPDIR": str(private_tmp)}


@pytest.fixture
def fake(shared_fake: FakeDiscord) -> FakeDiscord:
    return shared_fake


@pytest.fixture
def serve(shared_serve: ServeProcess) -> ServeProcess:
    return shared_serve


@pytest.fixture
def discord(shared_discord: DiscordDriver) -> DiscordDriver:
    return shared_discord


_NUMBERS = itertools.count(1)


@pytest.fixture
def hostile() -> Iterator[FakeDiscord]:
    """Another Discord-like server on loopback (another port)."""
    with FakeDiscord() as api:
        yield api


def create_agent(
    discord: DiscordDriver, family: str, provider: FakeServer, *, all_messages: bool = False
) -> None:
    """key add + agent create + bind here, for `family` on `provider` (new names each time)."""
    name = f"seer{next(_NUMBERS)}"
    options: dict[str, Any] = {
        "provider": family,
        "name": f"{name}-key",
        "secret": "test-key",
        "base_url": provider.base_url,
        "no_verify": True,
    }
    reply = discord.command("key", "add", options, user=ADMIN).text
    assert "stored" in reply, reply
    options = {"name": name, "key": f"{name}-key", "model": MODELS[family]}
    reply = discord.command("agent", "create", options, user=ADMIN).text
    assert "created" in reply, reply
    options = {"name": name, "all_messages": all_messages}
    reply = discord.command("agent", "bind", options, user=ADMIN).text
    assert "bound" in reply, reply


def said(fake: FakeDiscord) -> str:
    """Everything the bot posted or edited, in order (replies, DMs, follow-ups)."""
    return "\n".join(
        str(c.body.get("content") or "")
        for c in list(fake.calls)
        if c.method in ("POST", "PATCH") and isinstance(c.body, dict)
    )


def wait_until(fake: FakeDiscord, check: Callable[[], bool], timeout: float = 15.0) -> None:
    """Wait for `check`; on a timeout, fail showing what the bot said."""
    try:
        fake.wait_for(lambda _f: check(), timeout=timeout)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the bot said: {said(fake)!r}") from None


def replied(fake: FakeDiscord, message_id: str) -> bool:
    """The bot answered `message_id` (a reply to it exists)."""
    return any(
        str((m.get("message_reference") or {}).get("message_id")) == message_id
        for m in list(fake.messages.values())
    )


@pytest.mark.parametrize("family", FAMILIES)
def test_an_image_attached_to_a_mention_reaches_the_provider_byte_for_byte(
    family: str,
    request: pytest.FixtureRequest,
    discord: DiscordDriver,
    fake: FakeDiscord,
    serve: ServeProcess,
    module_database_url: str,
    private_tmp: Path,
) -> None:
    provider: FakeServer = request.getfixturevalue(f"{family}_fake")
    create_agent(discord, family, provider)
    attachment = fake.add_attachment(IMAGE, filename=NAME)
    sent = discord.say(f"{MENTION} what does this show?", attachments=[attachment])
    wait_until(fake, lambda: bool(provider.chat_requests) and replied(fake, sent["id"]))
    (call,) = provider.chat_requests
    assert sent_images(family, call) == [("image/png", IMAGE)]
    (download,) = fake.cdn_requests
    assert download.authorization is None  # signed URL: no token travels with it
    assert tmp_entries(private_tmp) == []
    time.sleep(0.5)  # the usage row is written after the answer
    assert_nowhere(NAME, log=serve.log_text(), database_url=module_database_url)


def test_an_attachment_alone_in_an_all_messages_channel_is_answered(
    discord: DiscordDriver, fake: FakeDiscord, openai_fake: FakeServer
) -> None:
    create_agent(discord, "openai", openai_fake, all_messages=True)
    discord.say("", attachments=[fake.add_attachment(IMAGE)])
    wait_until(fake, lambda: bool(openai_fake.chat_requests))
    (call,) = openai_fake.chat_requests
    assert sent_images("openai", call) == [("image/png", IMAGE)]


def test_an_attachment_on_another_host_is_never_fetched_and_the_text_is_answered(
    discord: DiscordDriver, fake: FakeDiscord, hostile: FakeDiscord, openai_fake: FakeServer
) -> None:
    create_agent(discord, "openai", openai_fake)
    sent = discord.say(
        f"{MENTION} look", attachments=[hostile.add_attachment(IMAGE, filename=NAME)]
    )
    wait_until(fake, lambda: bool(openai_fake.chat_requests) and replied(fake, sent["id"]))
    time.sleep(0.5)
    assert hostile.cdn_requests == [] and fake.cdn_requests == []
    (call,) = openai_fake.chat_requests
    assert sent_images("openai", call) == []
    assert "Attachment 1" in said(fake) and NAME not in said(fake)


def test_a_declared_25_mb_attachment_is_not_downloaded_at_all(
    discord: DiscordDriver, fake: FakeDiscord, openai_fake: FakeServer
) -> None:
    create_agent(discord, "openai", openai_fake)
    big = fake.add_attachment(IMAGE, size=25 * 1024 * 1024)
    sent = discord.say(f"{MENTION} look", attachments=[big])
    wait_until(fake, lambda: replied(fake, sent["id"]) and "20 MB" in said(fake))
    time.sleep(0.5)
    assert fake.cdn_requests == []
    assert len([line for line in said(fake).splitlines() if "20 MB" in line]) == 1


def test_an_attachment_larger_than_it_declares_is_cut_at_20_mb_while_streaming(
    discord: DiscordDriver, fake: FakeDiscord, openai_fake: FakeServer, private_tmp: Path
) -> None:
    create_agent(discord, "openai", openai_fake)
    length = 64 * 1024 * 1024
    liar = fake.add_attachment(size=1_000, length=length)
    sent = discord.say(f"{MENTION} look", attachments=[liar])
    wait_until(fake, lambda: replied(fake, sent["id"]) and "20 MB" in said(fake), timeout=30)
    assert len(fake.cdn_requests) == 1
    assert fake.cdn_file(liar).served < length
    assert tmp_entries(private_tmp) == []


def test_earlier_attachments_of_the_reply_chain_are_not_sent_again(
    discord: DiscordDriver, fake: FakeDiscord, openai_fake: FakeServer
) -> None:
    create_agent(discord, "openai", openai_fake)
    old, new = png(7, 7), png(8, 8)
    earlier = message(
        message_id=next_id(),
        channel_id=CHANNEL,
        author_id=MEMBER,
        content=f"{MENTION} look at this",
        guild_id=GUILD,
        attachments=[fake.add_attachment(old)],
    )
    fake.remember(earlier)
    sent = discord.say(
        f"{MENTION} and this?",
        reply_to=int(earlier["id"]),
        attachments=[fake.add_attachment(new)],
    )
    wait_until(fake, lambda: bool(openai_fake.chat_requests) and replied(fake, sent["id"]))
    (call,) = openai_fake.chat_requests
    assert sent_images("openai", call) == [("image/png", new)]
    assert len(fake.cdn_requests) == 1  # the earlier attachment was not even fetched
