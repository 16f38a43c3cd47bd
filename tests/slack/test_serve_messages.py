"""Messages through the real `byokbot serve`: mentions, threads, DMs, all-messages, retries.

Every test runs the real process against the fake Slack Web API and the fake OpenAI
provider, delivering events signed with Slack's v0 scheme. Tests that need neither an
empty database nor a process of their own share the module's process (`shared_slack`,
tests/kits/serve_fixtures.py) and name their agents afresh; the DM to the default agent
and the refused stream (which the process may remember) each start their own.
"""

from __future__ import annotations

import itertools
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.fakes.providers import FakeOpenAI
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_driver import SlackDriver
from tests.fakes.slack_signing import message_event, next_ts
from tests.kits.serve_fixtures import (
    shared_slack,
    shared_slack_fake,
    shared_slack_serve,
    shared_tmp,
)
from tests.kits.slack_replies import answered, thread_replies

# The module's shared process (pytest finds fixtures by the names imported here).
__all__ = ["shared_slack", "shared_slack_fake", "shared_slack_serve", "shared_tmp"]

REPLY = "Here is the considered answer from the provider."


@pytest.fixture
def provider(provider: FakeOpenAI) -> FakeOpenAI:
    """The fake OpenAI, answering with REPLY."""
    provider.reply = REPLY
    return provider


_AGENTS = itertools.count(1)


def fresh_agent(
    slack: SlackDriver,
    provider_url: str,
    *,
    channel: str | None = "C0001",
    all_messages: bool = False,
) -> str:
    """`create_agent` under a name no earlier test used (binding replaces); returns it."""
    name = f"writer{next(_AGENTS)}"
    slack.create_agent(provider_url, name=name, channel=channel, all_messages=all_messages)
    return name


def thread_answer(fake: FakeSlackAPI) -> tuple[str, str]:
    """(thread_ts, text) of the one answer, posted whole or streamed."""
    (reply,) = thread_replies(fake)
    return reply.thread_ts, reply.text


def any_reply(fake: FakeSlackAPI) -> bool:
    """Anything posted, streamed or not (for answers that must not come)."""
    return any(fake.calls_to(m) for m in ("chat.postMessage", "chat.startStream"))


def settle(seconds: float = 0.8) -> None:
    time.sleep(seconds)  # time for an answer that must NOT come


def test_mention_is_answered_in_its_thread_with_the_provider_text(
    shared_slack: SlackDriver, shared_slack_fake: FakeSlackAPI, provider: FakeOpenAI
) -> None:
    slack, fake = shared_slack, shared_slack_fake
    fresh_agent(slack, provider.base_url)
    ts = next_ts()
    event = message_event(
        user="UMEMBER",
        text="<@UBOT> what is 2+2?",
        channel="C0001",
        ts=ts,
        event_type="app_mention",
    )
    started = time.monotonic()
    ack, _eid = slack.event(event)
    assert ack.status_code == 200 and time.monotonic() - started < 3
    fake.wait_for(answered)
    thread, text = thread_answer(fake)
    assert thread == ts and text == REPLY
    (request,) = provider.chat_requests
    assert request.json["messages"][-1]["content"] == "what is 2+2?"  # mention stripped
    assert request.json["model"] == "gpt-4o-mini"


def test_reply_inside_a_thread_carries_the_thread_as_context(
    shared_slack: SlackDriver, shared_slack_fake: FakeSlackAPI, provider: FakeOpenAI
) -> None:
    slack, fake = shared_slack, shared_slack_fake
    fresh_agent(slack, provider.base_url)
    parent, answer, noise, current = next_ts(), next_ts(), next_ts(), next_ts()
    fake.set_thread(
        "C0001",
        parent,
        [
            {"user": "UMEMBER", "text": "<@UBOT> name a colour", "ts": parent},
            {"user": "UBOT", "bot_id": "BBOT", "text": "Blue.", "ts": answer},
            {"user": "UOTHER", "bot_id": "BOTHER", "text": "another bot", "ts": noise},
            {"user": "UMEMBER", "text": "<@UBOT> and another?", "ts": current},
        ],
    )
    event = message_event(
        user="UMEMBER",
        text="<@UBOT> and another?",
        channel="C0001",
        ts=current,
        thread_ts=parent,
        event_type="app_mention",
    )
    slack.event(event)
    fake.wait_for(answered)
    thread, _text = thread_answer(fake)
    assert thread == parent
    (replies,) = fake.calls_to("conversations.replies")
    assert replies.params["ts"] == parent and int(replies.params["limit"]) <= 200
    (request,) = provider.chat_requests
    turns = [(m["role"], m["content"]) for m in request.json["messages"] if m["role"] != "system"]
    assert turns == [
        ("user", "name a colour"),
        ("assistant", "Blue."),
        ("user", "and another?"),
    ]


def test_direct_message_goes_to_the_default_agent(
    slack: SlackDriver, fake: FakeSlackAPI, provider: FakeOpenAI
) -> None:
    slack.create_agent(provider.base_url, channel=None)  # first agent becomes the default
    ts = next_ts()
    slack.event(
        message_event(
            user="UMEMBER", text="hello in private", channel="DUMEMBER", channel_type="im", ts=ts
        )
    )
    fake.wait_for(answered)
    thread, text = thread_answer(fake)
    assert thread == ts and text == REPLY
    assert thread_replies(fake)[0].channel == "DUMEMBER"


def test_bound_all_messages_channel_answers_plain_messages(
    shared_slack: SlackDriver, shared_slack_fake: FakeSlackAPI, provider: FakeOpenAI
) -> None:
    slack, fake = shared_slack, shared_slack_fake
    fresh_agent(slack, provider.base_url, channel="C0002", all_messages=True)
    fresh_agent(slack, provider.base_url, channel="C0003")
    slack.event(message_event(user="UMEMBER", text="no mention here", channel="C0003"))
    settle()
    assert not provider.chat_requests and not any_reply(fake)  # mentions only in C0003
    ts = next_ts()
    slack.event(message_event(user="UMEMBER", text="no mention here", channel="C0002", ts=ts))
    fake.wait_for(answered)
    thread, text = thread_answer(fake)
    assert thread == ts and text == REPLY


def test_bots_own_messages_edits_and_other_bots_are_never_answered(
    shared_slack: SlackDriver, shared_slack_fake: FakeSlackAPI, provider: FakeOpenAI
) -> None:
    slack, fake = shared_slack, shared_slack_fake
    fresh_agent(slack, provider.base_url, channel="C0002", all_messages=True)
    events = [
        message_event(user="UBOT", text="my own answer", channel="C0002", bot_id="BBOT"),
        message_event(user="UOTHER", text="another bot", channel="C0002", bot_id="BOTHER"),
        message_event(user="UMEMBER", text="edited", channel="C0002", subtype="message_changed"),
        message_event(user="UMEMBER", text="", channel="C0002", subtype="message_deleted"),
        message_event(user="UMEMBER", text="joined", channel="C0002", subtype="channel_join"),
    ]
    for event in events:
        ack, _ = slack.event(event)
        assert ack.status_code == 200
    settle()
    assert not provider.chat_requests
    assert not any_reply(fake)


def test_mention_delivered_as_two_events_is_answered_once(
    shared_slack: SlackDriver, shared_slack_fake: FakeSlackAPI, provider: FakeOpenAI
) -> None:
    slack, fake = shared_slack, shared_slack_fake
    fresh_agent(slack, provider.base_url, channel="C0002", all_messages=True)
    ts = next_ts()
    common = {"user": "UMEMBER", "text": "<@UBOT> once please", "channel": "C0002", "ts": ts}
    slack.event(message_event(**common, event_type="app_mention"))
    slack.event(message_event(**common))  # the same message as message.channels
    fake.wait_for(answered)
    settle()
    assert len(provider.chat_requests) == 1
    assert len(thread_replies(fake)) == 1


def test_retry_delivered_while_the_first_is_running_gets_one_answer(
    shared_slack: SlackDriver, shared_slack_fake: FakeSlackAPI, provider: FakeOpenAI
) -> None:
    slack, fake = shared_slack, shared_slack_fake
    fresh_agent(slack, provider.base_url)
    provider.delay = 0.3  # per streamed chunk: the first delivery is still streaming
    event = message_event(
        user="UMEMBER", text="<@UBOT> slow one", channel="C0001", event_type="app_mention"
    )
    started = time.monotonic()
    first, eid = slack.event(event)
    ack_seconds = time.monotonic() - started
    time.sleep(0.2)
    with ThreadPoolExecutor(4) as pool:
        retries = list(
            pool.map(lambda n: slack.event(event, event_id=eid, retry_num=n)[0], [1, 2, 2, 3])
        )
    assert first.status_code == 200 and all(r.status_code == 200 for r in retries)
    fake.wait_for(lambda f: bool(f.calls_to("chat.stopStream")), timeout=20)
    assert time.monotonic() - started > ack_seconds + 0.5  # the ack did not wait for the answer
    settle(1.0)
    assert len(provider.chat_requests) == 1
    assert len(fake.calls_to("chat.startStream")) == 1


def test_refused_streaming_falls_back_to_post_and_update(
    slack: SlackDriver, fake: FakeSlackAPI, provider: FakeOpenAI
) -> None:
    slack.create_agent(provider.base_url)
    fake.state.refuse_streaming = True
    provider.delay = 0.2  # per SSE event: the answer outlasts the window, so it streams
    ts = next_ts()
    slack.event(
        message_event(
            user="UMEMBER", text="<@UBOT> hi", channel="C0001", ts=ts, event_type="app_mention"
        )
    )
    fake.wait_for(lambda f: bool(f.calls_to("chat.postMessage")))
    fake.wait_for(lambda f: bool(f.calls_to("chat.update")), timeout=15)  # shown as it came
    fake.wait_for(lambda f: f.calls_to("chat.update")[-1].params["text"] == REPLY, timeout=15)
    settle(1.2)
    (post,) = fake.calls_to("chat.postMessage")
    assert post.params["thread_ts"] == ts
    assert post.params["text"] != REPLY  # the first words, posted before the rest came
    final = [post.params["text"]] + [c.params["text"] for c in fake.calls_to("chat.update")]
    assert final[-1] == REPLY
    assert len(fake.calls_to("chat.startStream")) == 1  # tried once, refused


def test_slack_429_on_post_message_is_retried_after_retry_after(
    shared_slack: SlackDriver, shared_slack_fake: FakeSlackAPI, provider: FakeOpenAI
) -> None:
    slack, fake = shared_slack, shared_slack_fake
    fresh_agent(slack, provider.base_url)
    fake.fail("chat.postMessage", status=429, retry_after=1)
    slack.event(
        message_event(user="UMEMBER", text="<@UBOT> hi", channel="C0001", event_type="app_mention")
    )
    fake.wait_for(lambda f: len(f.calls_to("chat.postMessage")) >= 2, timeout=15)
    first, second = fake.calls_to("chat.postMessage")
    assert second.at - first.at >= 1.0  # Retry-After honoured
    assert second.params == first.params  # the same post (the answer, whole), again
    settle(1.2)
    assert thread_answer(fake)[1] == REPLY
