"""Threaded answers against the fake Slack Web API: streaming, fallback, splitting, files, 429s."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator

import pytest

from adapters.slack.clients import make_client
from adapters.slack.sinks import MessageSink
from adapters.slack.streaming import APPEND_BUFFER, START_AFTER
from adapters.slack.text import MAX_CHARS_IN_MESSAGES, MESSAGE_LIMIT, escape
from bot.config import Settings
from tests.fakes.slack_api import FakeSlackAPI
from tests.kits.slack_replies import thread_replies

CHANNEL = "C0001"
THREAD = "1700000000.000001"
SLOW = 0.05  # seconds between chunks: a 20-chunk answer outlasts START_AFTER, so it streams
STREAM_METHODS = ("chat.startStream", "chat.appendStream", "chat.stopStream")


def sink_for(fake: FakeSlackAPI) -> MessageSink:
    settings = Settings(slack_api_url=fake.base_url)
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


async def test_answer_complete_within_the_window_is_one_post_in_the_thread(
    fake: FakeSlackAPI,
) -> None:
    text = "Quick **answer** <!channel> & done. " * 5
    sent = await sink_for(fake).stream(chunks_of(text, size=7))
    assert sent == text
    (post,) = fake.calls_to("chat.postMessage")
    assert post.params["channel"] == CHANNEL and post.params["thread_ts"] == THREAD
    # the same markdown a stream shows, mass mention defused; no escaping, no plain `text`
    assert post.params["markdown_text"] == text.replace("<!channel>", "<\u200b!channel>")
    assert "text" not in post.params
    assert not any(fake.calls_to(m) for m in (*STREAM_METHODS, "chat.update"))


async def test_slow_answer_streams_from_when_the_window_passes(fake: FakeSlackAPI) -> None:
    async def slow() -> AsyncIterator[str]:
        yield "First words, "
        await asyncio.sleep(START_AFTER + 0.7)  # the provider thinks
        yield "then the rest."

    started = time.time()
    sent = await sink_for(fake).stream(slow())
    assert sent == "First words, then the rest."
    assert not fake.calls_to("chat.postMessage")
    (start,) = fake.calls_to("chat.startStream")
    assert start.params["thread_ts"] == THREAD and start.params["markdown_text"] == "First words, "
    # shown once the window passed, without waiting for the provider's next chunk
    assert START_AFTER - 0.05 <= start.at - started < START_AFTER + 0.6
    assert stream_text(fake) == sent
    assert len(fake.calls_to("chat.stopStream")) == 1
    (reply,) = thread_replies(fake, thread_ts=THREAD)
    assert reply.streamed and reply.finished and reply.text == sent


async def test_quick_answer_too_long_to_wait_for_streams_at_once(fake: FakeSlackAPI) -> None:
    text = "word " * (APPEND_BUFFER // 2)  # 2.5 buffers, all at once
    sent = await sink_for(fake).stream(chunks_of(text, size=100))
    assert sent == text
    start = fake.calls_to("chat.startStream")[0]
    assert len(start.params["markdown_text"]) >= APPEND_BUFFER
    assert stream_text(fake) == text and not fake.calls_to("chat.postMessage")


async def test_refused_markdown_post_falls_back_to_plain_text(fake: FakeSlackAPI) -> None:
    fake.fail("chat.postMessage", error="invalid_arguments")
    text = "Plain <b> & simple."
    sent = await sink_for(fake).stream(chunks_of(text))
    assert sent == text
    refused, plain = fake.calls_to("chat.postMessage")
    assert refused.params["markdown_text"] == text
    assert plain.params["text"] == escape(text) and plain.params["thread_ts"] == THREAD


async def test_answer_streams_through_the_streaming_api_in_the_thread(fake: FakeSlackAPI) -> None:
    text = "Streaming works. " * 40
    sent = await sink_for(fake).stream(chunks_of(text, pause=SLOW))
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


@pytest.mark.parametrize("pause", [0.0, START_AFTER + 0.2], ids=["whole", "fallback"])
async def test_slack_429_on_post_message_is_retried(fake: FakeSlackAPI, pause: float) -> None:
    fake.state.refuse_streaming = True  # a slow answer falls back to chat.postMessage
    fake.fail("chat.postMessage", status=429, retry_after=0)
    sent = await sink_for(fake).stream(chunks_of("Retried after a 429.", size=10, pause=pause))
    assert sent == "Retried after a 429."
    assert len(fake.calls_to("chat.postMessage")) == 2
    (reply,) = thread_replies(fake, thread_ts=THREAD)
    assert reply.text == "Retried after a 429." and not reply.streamed


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
        await asyncio.sleep(START_AFTER + 0.2)  # streaming by now
        yield "and more "
        raise Boom

    with pytest.raises(Boom):
        await sink_for(fake).stream(failing())
    assert stream_text(fake) == "partial answer and more "
    assert len(fake.calls_to("chat.stopStream")) == 1


async def test_provider_failure_within_the_window_posts_what_came_and_propagates(
    fake: FakeSlackAPI,
) -> None:
    class Boom(Exception):
        pass

    async def failing() -> AsyncIterator[str]:
        yield "partial answer "
        raise Boom

    with pytest.raises(Boom):
        await sink_for(fake).stream(failing())
    (reply,) = thread_replies(fake, thread_ts=THREAD)
    assert reply.text == "partial answer " and not reply.streamed
    assert not fake.calls_to("chat.startStream")
