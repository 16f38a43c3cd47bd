"""What the bot's replies in Slack threads finally say, read from the fake Slack's calls.

An answer reaches a thread either whole (`chat.postMessage`, later `chat.update`s) or
streamed (`chat.startStream`, `appendStream`s, `stopStream`); a test whose subject is not
how the answer was delivered asserts on these final texts and threads, whichever way it went.
Only calls Slack accepted count: a refused append shows nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.fakes.slack_api import FakeSlackAPI


@dataclass
class Reply:
    """One message the bot posted into a thread, as it reads in the end."""

    ts: str
    channel: str
    thread_ts: str
    text: str
    streamed: bool
    finished: bool  # posted whole, or its stream was stopped


def thread_replies(fake: FakeSlackAPI, *, thread_ts: str | None = None) -> list[Reply]:
    """Every accepted threaded reply (in `thread_ts`'s thread when given), in posting order."""
    replies: dict[str, Reply] = {}
    for call in fake.all_calls():
        if call.ts is None:
            continue
        params = call.params
        text = str(params.get("markdown_text") or params.get("text") or "")
        if call.method in ("chat.postMessage", "chat.startStream"):
            if not params.get("thread_ts"):
                continue  # a post into a channel, not a reply
            replies[call.ts] = Reply(
                ts=call.ts,
                channel=str(params.get("channel", "")),
                thread_ts=str(params["thread_ts"]),
                text=text,
                streamed=call.method == "chat.startStream",
                finished=call.method == "chat.postMessage",
            )
        elif call.ts in replies:
            reply = replies[call.ts]
            if call.method == "chat.update":
                reply.text = text
            elif call.method in ("chat.appendStream", "chat.stopStream"):
                reply.text += text
                reply.finished = reply.finished or call.method == "chat.stopStream"
    found = list(replies.values())
    return [r for r in found if thread_ts is None or r.thread_ts == thread_ts]


def reply_text(fake: FakeSlackAPI, *, thread_ts: str | None = None) -> str:
    """The text of the bot's threaded replies (in `thread_ts`'s thread), joined in order."""
    return "".join(r.text for r in thread_replies(fake, thread_ts=thread_ts))


def answered(fake: FakeSlackAPI, *, count: int = 1) -> bool:
    """True once `count` threaded replies are finished (posted whole or stream stopped)."""
    return sum(r.finished for r in thread_replies(fake)) >= count
