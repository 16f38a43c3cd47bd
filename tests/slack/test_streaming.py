"""Threaded answers against the fake Slack Web API: streaming, fallback, splitting, files, 429s."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator

import pytest

from adapters.slack.clients import make_client
from adapters.slack.sinks import MessageSink
from adapters.slack.text import MAX_CHARS_IN_MESSAGES, MESSAGE_LIMIT, escape
from bot.config import Settings
from tests.fakes.slack_api import FakeSlackAPI

CHANNEL = "C0001"
THREAD = "1700000000.000001"


def sink_for(fake: FakeSlackAPI) -> MessageSink:
    settings = Settings(slack_api_url=fake.base_url)  # type: ignore[call-arg]
    client = make_client(settings, token=fake.default_token)
    return MessageSink(
        client, team_id="T0001", channel_id=CHANNEL, thread_ts=THREAD, user_id="UMEMBER"
    )


async def chunks_of(text: str, *, size: int = 40, pause: float = 0.0) -> AsyncIterator[str]:
    for start in range(0, len(text), size):
        if pause:
            await asyncio.sleep(pause)
        yield text[start : start + size]


def stream_text(fake: FakeSlackAPI) -> str:
    """All text that went through the streaming API, in order."""
    parts = []
    for call in fake.all_calls():
        if call.method in ("chat.startStream", "chat.appendStream", "chat.stopStream"):
            parts.append(call.params.get("markdown_text") or "")
    return "".join(parts)


def final_message_texts(fake: FakeSlackAPI) -> list[str]:
    """The last text of every posted (non-streamed) message, in posting order."""
    latest: dict[str, str] = {}
    order: list[str] = []
    ts_counter = 0
    for call in fake.all_calls():
        if call.method == "chat.postMessage":
            ts_counter += 1
            key = f"m{ts_counter}"
            order.append(key)
            latest[key] = call.params["text"]
        elif call.method == "chat.update":
            latest[order[-1]] = call.params["text"]
    return [latest[key] for key in order]


async def test_answer_streams_through_the_streaming_api_in_the_thread(fake: FakeSlackAPI) -> None:
    text = "Streaming works. " * 40
    sent = await sink_for(fake).stream(chunks_of(text, pause=0.01))
    assert sent == text
    assert stream_text(fake) == text
    start = fake.calls_to("chat.startStream")[0].params
    assert start["thread_ts"] == THREAD and start["channel"] == CHANNEL
    assert start["recipient_user_id"] == "UMEMBER" and start["recipient_team_id"] == "T0001"
    assert len(fake.calls_to("chat.stopStream")) == 1
    assert not fake.calls_to("chat.postMessage") and not fake.calls_to("chat.update")


async def test_refused_streaming_falls_back_to_one_updated_message(fake: FakeSlackAPI) -> None:
    fake.state.refuse_streaming = True
    text = "Fallback <works> & updates. " * 30
    started = time.monotonic()
    sent = await sink_for(fake).stream(chunks_of(text, size=25, pause=0.1))
    elapsed = time.monotonic() - started
    assert sent == text
    posts = fake.calls_to("chat.postMessage")
    assert len(posts) == 1 and posts[0].params["thread_ts"] == THREAD
    assert final_message_texts(fake) == [escape(text)]
    updates = fake.calls_to("chat.update")
    # about once a second, plus the final one
    assert 1 <= len(updates) <= elapsed + 2
    gaps = [b.at - a.at for a, b in itertools.pairwise(updates)][:-1]
    assert all(gap >= 0.9 for gap in gaps)


async def test_stream_expiring_midway_continues_in_a_fallback_message(
    fake: FakeSlackAPI,
) -> None:
    fake.state.stream_expires_after = 2
    text = "".join(f"sentence {i}. " for i in range(400))
    sent = await sink_for(fake).stream(chunks_of(text, size=300, pause=0.01))
    assert sent == text
    appended = [
        c.params["markdown_text"]
        for c in fake.all_calls()
        if c.method in ("chat.startStream", "chat.appendStream")
    ][:-1]  # the last append was refused: its text must reappear in the fallback message
    shown_in_stream = "".join(appended)
    fallback = final_message_texts(fake)
    assert len(fallback) == 1
    assert shown_in_stream + fallback[0] == text  # nothing lost, nothing repeated (no escapes)


async def test_long_fallback_answer_is_split_into_messages(fake: FakeSlackAPI) -> None:
    fake.state.refuse_streaming = True
    text = "".join(f"line {i} of a long answer\n" for i in range(700))  # ~17k chars
    sent = await sink_for(fake).stream(chunks_of(text, size=500))
    assert sent == text
    messages = final_message_texts(fake)
    assert len(messages) >= 5
    assert all(len(m) <= MESSAGE_LIMIT for m in messages)
    assert "".join(messages) == text
    assert all(c.params["thread_ts"] == THREAD for c in fake.calls_to("chat.postMessage"))


async def test_long_streamed_answer_is_split_into_several_streams(fake: FakeSlackAPI) -> None:
    text = "".join(f"paragraph {i} with a few words in it.\n\n" for i in range(800))  # ~30k
    sent = await sink_for(fake).stream(chunks_of(text, size=700))
    assert sent == text
    assert stream_text(fake) == text
    assert len(fake.calls_to("chat.startStream")) >= 3
    assert len(fake.calls_to("chat.stopStream")) == len(fake.calls_to("chat.startStream"))


async def test_answer_past_slack_limits_ends_as_a_file(fake: FakeSlackAPI) -> None:
    text = "x" * 1000 + "".join(f"{i} " for i in range(12_000))
    assert len(text) > MAX_CHARS_IN_MESSAGES
    sent = await sink_for(fake).stream(chunks_of(text, size=2000))
    assert sent == text
    assert len(stream_text(fake)) <= MAX_CHARS_IN_MESSAGES
    assert text.startswith(stream_text(fake))
    complete = fake.calls_to("files.completeUploadExternal")
    assert len(complete) == 1 and complete[0].params["thread_ts"] == THREAD
    assert list(fake.state.uploads.values()) == [text.encode()]


async def test_slack_429_on_post_message_is_retried(fake: FakeSlackAPI) -> None:
    fake.state.refuse_streaming = True
    fake.fail("chat.postMessage", status=429, retry_after=0)
    sent = await sink_for(fake).stream(chunks_of("Retried after a 429."))
    assert sent == "Retried after a 429."
    assert len(fake.calls_to("chat.postMessage")) == 2
    assert final_message_texts(fake)[-1] == "Retried after a 429."


async def test_private_reply_is_ephemeral_in_the_thread(fake: FakeSlackAPI) -> None:
    await sink_for(fake).send("only you can see this", private=True)
    (call,) = fake.calls_to("chat.postEphemeral")
    assert call.params["user"] == "UMEMBER" and call.params["thread_ts"] == THREAD
    assert not fake.calls_to("chat.postMessage")


async def test_provider_failure_mid_stream_closes_the_stream_and_propagates(
    fake: FakeSlackAPI,
) -> None:
    class Boom(Exception):
        pass

    async def failing() -> AsyncIterator[str]:
        yield "partial answer "
        raise Boom

    with pytest.raises(Boom):
        await sink_for(fake).stream(failing())
    assert stream_text(fake) == "partial answer "
    assert len(fake.calls_to("chat.stopStream")) == 1
