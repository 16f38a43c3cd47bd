"""Files attached to Slack messages, through the real `byokbot serve` and the fake Slack.

The image goes from the fake Slack's file host (fetched with the workspace's bot token)
to each wire family's fake provider byte for byte; a file on another host is never
fetched, a declared oversize is never downloaded, a file larger than declared is cut
while streaming, `file_share` messages in `--all-messages` channels and DMs are answered
with their files, earlier files of a thread are not re-sent, nothing lands in the
process's private TMPDIR, and no file name reaches the log or the database.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.fixtures import *  # noqa: F403  # the three families' fake providers
from tests.fakes.fixtures import FAMILIES
from tests.fakes.server import FakeServer
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_driver import SlackDriver
from tests.fakes.slack_signing import message_event, next_ts
from tests.kits.helpers import ServeProcess
from tests.kits.platform_files import (
    MODELS,
    assert_nowhere,
    create_family_agent,
    png,
    sent_images,
    tmp_entries,
)
from tests.kits.serve_fixtures import (
    shared_slack,
    shared_slack_fake,
    shared_slack_serve,
    shared_tmp,
)

# The module's shared process (pytest finds fixtures by the names imported here).
__all__ = ["shared_slack", "shared_slack_fake", "shared_slack_serve", "shared_tmp"]

NAME = "quarterly-invoice-7f3a.png"  # must never reach the log or the database
IMAGE = png(5, 4)


@pytest.fixture
def private_tmp(tmp_path: Path) -> Path:
    """The serve process's own TMPDIR: it must stay empty."""
    path = tmp_path / "private-tmp"
    path.mkdir()
    return path


@pytest.fixture
def env(env: dict[str, str], private_tmp: Path) -> dict[str, str]:
    """The Slack serve environment with a private TMPDIR."""
    return {**env, "TMPDIR": str(private_tmp)}


# Tests that need neither an empty database nor a process of their own share one
# `byokbot serve`, fake Slack and database for the module (`shared_slack`, see
# tests/kits/serve_fixtures.py): each makes its own agent and key (binding replaces the
# channel's agent) and checks the shared TMPDIR, log and database, its predecessors'
# traffic included. The DM test needs the first agent (the default) to be its own, so it
# keeps a fresh process and database.
_AGENTS = itertools.count(1)


def shared_agent(slack: SlackDriver, family: str, provider: FakeServer) -> str:
    """A new agent (and key) for `family`, bound to C0001 in place of the last one."""
    name = f"seer{next(_AGENTS)}"
    create_family_agent(slack.admin, family, provider, name=name)
    bind(slack, name, "C0001")
    return name


@pytest.fixture
def hostile() -> Iterator[FakeSlackAPI]:
    """Another server on loopback (another port) that would take the same token."""
    with FakeSlackAPI() as api:
        yield api


def answered(fake: FakeSlackAPI) -> bool:
    return bool(fake.calls_to("chat.stopStream")) or bool(fake.calls_to("chat.postMessage"))


def wait_until(fake: FakeSlackAPI, check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for `check`; on a timeout, fail showing what the bot said."""
    try:
        fake.wait_for(lambda _f: check(), timeout=timeout)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the bot said: {said(fake)!r}") from None


def said(fake: FakeSlackAPI) -> str:
    """Everything the bot posted, streamed or whispered, in order."""
    keys = ("text", "markdown_text")
    methods = ("chat.postMessage", "chat.update", "chat.postEphemeral")
    streamed = ("chat.startStream", "chat.appendStream", "chat.stopStream")
    return "\n".join(
        str(c.params.get(k) or "")
        for c in fake.all_calls()
        if c.method in methods + streamed
        for k in keys
    )


def mention(
    files: list[dict[str, Any]], *, text: str = "<@UBOT> what does this show?"
) -> dict[str, Any]:
    """An app_mention carrying `files`, in C0001."""
    return message_event(
        user="UMEMBER", text=text, channel="C0001", event_type="app_mention", files=files
    )


def bind(slack: SlackDriver, name: str, channel: str, *, all_messages: bool = False) -> None:
    flag = " --all-messages" if all_messages else ""
    reply = slack.admin(f"agent bind {name} <#{channel}>{flag}")
    assert "bound" in reply, reply


@pytest.mark.parametrize("family", FAMILIES)
def test_an_image_attached_to_a_mention_reaches_the_provider_byte_for_byte(
    family: str,
    request: pytest.FixtureRequest,
    shared_slack: SlackDriver,
    shared_slack_fake: FakeSlackAPI,
    shared_slack_serve: ServeProcess,
    module_database_url: str,
    shared_tmp: Path,
) -> None:
    slack, fake, serve, database_url, private_tmp = (
        shared_slack,
        shared_slack_fake,
        shared_slack_serve,
        module_database_url,
        shared_tmp,
    )
    provider: FakeServer = request.getfixturevalue(f"{family}_fake")
    shared_agent(slack, family, provider)
    slack.event(mention([fake.add_file(IMAGE, name=NAME, mimetype="image/png")]))
    fake.wait_for(answered)
    (call,) = provider.chat_requests
    assert sent_images(family, call) == [("image/png", IMAGE)]
    assert call.json.get("model", MODELS[family]) == MODELS[family]
    (download,) = fake.downloads()
    assert download.authorization == f"Bearer {fake.default_token}" and download.status == 200
    assert tmp_entries(private_tmp) == []
    time.sleep(0.3)  # the usage row is written after the answer
    assert_nowhere(NAME, log=serve.log_text(), database_url=database_url)


def test_file_share_messages_in_all_messages_channels_and_dms_bring_their_files(
    slack: SlackDriver, fake: FakeSlackAPI, openai_fake: FakeServer
) -> None:
    create_family_agent(slack.admin, "openai", openai_fake)  # the default agent (DMs)
    bind(slack, "seer", "C0002", all_messages=True)
    first, second = png(2, 2), png(3, 3)
    channel = message_event(
        user="UMEMBER",
        text="",
        channel="C0002",
        subtype="file_share",
        files=[fake.add_file(first)],
    )
    slack.event(channel)
    wait_until(fake, lambda: len(openai_fake.chat_requests) == 1)
    direct = message_event(
        user="UMEMBER",
        text="and this one?",
        channel="DUMEMBER",
        channel_type="im",
        subtype="file_share",
        files=[fake.add_file(second)],
    )
    slack.event(direct)
    wait_until(fake, lambda: len(openai_fake.chat_requests) == 2)
    images = [sent_images("openai", r) for r in openai_fake.chat_requests]
    assert images == [[("image/png", first)], [("image/png", second)]]
    # Still ignored: other bots' file shares and edits of a file share.
    for ignored in (
        message_event(
            user="UOTHER",
            text="",
            channel="C0002",
            subtype="file_share",
            bot_id="BOTHER",
            files=[fake.add_file(first)],
        ),
        message_event(
            user="UMEMBER",
            text="",
            channel="C0002",
            subtype="message_changed",
            files=[fake.add_file(first)],
        ),
    ):
        slack.event(ignored)
    time.sleep(0.8)
    assert len(openai_fake.chat_requests) == 2 and len(fake.downloads()) == 2


def test_a_file_on_another_host_is_never_fetched_and_the_text_is_still_answered(
    shared_slack: SlackDriver,
    shared_slack_fake: FakeSlackAPI,
    hostile: FakeSlackAPI,
    openai_fake: FakeServer,
) -> None:
    slack, fake = shared_slack, shared_slack_fake
    shared_agent(slack, "openai", openai_fake)
    slack.event(mention([hostile.add_file(IMAGE, name=NAME)]))
    fake.wait_for(answered)
    time.sleep(0.3)
    assert hostile.downloads() == [] and fake.downloads() == []
    (call,) = openai_fake.chat_requests
    assert sent_images("openai", call) == []
    assert "Attachment 1" in said(fake) and NAME not in said(fake)


def test_a_declared_25_mb_file_is_not_downloaded_at_all(
    shared_slack: SlackDriver, shared_slack_fake: FakeSlackAPI, openai_fake: FakeServer
) -> None:
    slack, fake = shared_slack, shared_slack_fake
    shared_agent(slack, "openai", openai_fake)
    slack.event(mention([fake.add_file(IMAGE, size=25 * 1024 * 1024)]))
    fake.wait_for(answered)
    time.sleep(0.3)
    assert fake.downloads() == []
    lines = [line for line in said(fake).splitlines() if "20 MB" in line]
    assert len(lines) == 1, said(fake)


def test_a_file_larger_than_it_declares_is_cut_at_20_mb_while_streaming(
    shared_slack: SlackDriver,
    shared_slack_fake: FakeSlackAPI,
    openai_fake: FakeServer,
    shared_tmp: Path,
) -> None:
    slack, fake, private_tmp = shared_slack, shared_slack_fake, shared_tmp
    shared_agent(slack, "openai", openai_fake)
    length = 64 * 1024 * 1024
    obj = fake.add_file(size=1_000, length=length)
    slack.event(mention([obj]))
    fake.wait_for(answered, timeout=30)
    time.sleep(0.3)
    assert [d.status for d in fake.downloads()] == [200]
    assert fake.state.served_bytes[obj["id"]] < length
    assert "20 MB" in said(fake)
    assert tmp_entries(private_tmp) == []


def test_earlier_files_of_the_thread_are_not_sent_again(
    shared_slack: SlackDriver, shared_slack_fake: FakeSlackAPI, openai_fake: FakeServer
) -> None:
    slack, fake = shared_slack, shared_slack_fake
    shared_agent(slack, "openai", openai_fake)
    old, new = png(7, 7), png(8, 8)
    parent, answer, current = next_ts(), next_ts(), next_ts()
    fake.set_thread(
        "C0001",
        parent,
        [
            {
                "user": "UMEMBER",
                "text": "<@UBOT> look at this",
                "ts": parent,
                "subtype": "file_share",
                "files": [fake.add_file(old)],
            },
            {"user": "UBOT", "bot_id": "BBOT", "text": "A chart.", "ts": answer},
            {"user": "UMEMBER", "text": "<@UBOT> and this?", "ts": current},
        ],
    )
    event = message_event(
        user="UMEMBER",
        text="<@UBOT> and this?",
        channel="C0001",
        ts=current,
        thread_ts=parent,
        event_type="app_mention",
        files=[fake.add_file(new)],
    )
    slack.event(event)
    fake.wait_for(answered)
    (call,) = openai_fake.chat_requests
    assert sent_images("openai", call) == [("image/png", new)]
    assert len(fake.downloads()) == 1  # the old file was not even fetched
