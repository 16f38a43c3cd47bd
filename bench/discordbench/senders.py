"""The simulated senders of `bench/discord.py`: mentions through a fake gateway, answers
watched on its REST API.

Closed loop, as people talk to a bot: each of N senders pushes a MESSAGE_CREATE that
mentions the bot in the bound channel (through `FakeDiscord.push`, i.e. the fake's
gateway connection to the target), waits until the target's reply to it shows the whole
answer, and sends its next message. A message counts as answered when the fake REST API
receives the call that makes its reply read `REPLY` in full: the final edit of a streamed
reply (`PATCH /channels/{id}/messages/{id}`), or a reply created whole (`POST
/channels/{id}/messages` with a `message_reference` to it). End to end is from just
before the push to the arrival of that call (both `time.monotonic()` in this process).
Only the fake's public names are used: `push`, the recorded `calls` and `messages`.
"""

from __future__ import annotations

import collections
import re
import threading
import time
from typing import Any

from tests.fakes.discord import Call, FakeDiscord
from tests.fakes.discord_gateway import BOT_ID, CHANNEL, GUILD, MEMBER, message, next_id

REPLY = "OK, done."  # two words: the fake provider streams it as two chunks
QUESTION = f"<@{BOT_ID}> benchmark question"
POLL_SECONDS = 0.001
STALL_SECONDS = 20.0  # no answer at all for this long: the round stops sending
_ID = re.compile(r"\d+")


def route_of(call: Call) -> str:
    """`METHOD /path` with ids as {id}: what a call counts as in the per-answer tally."""
    return f"{call.method} {_ID.sub('{id}', call.path.rstrip('/'))}"


class AnswerWatch:
    """Follows one fake Discord's recorded REST calls from now on: finished answers, routes."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.cursor = len(fake.calls)
        self.routes: collections.Counter[str] = collections.Counter()

    def poll(self) -> list[tuple[int, float]]:
        """(message id, arrival time) of each new call that finished the reply to a message."""
        new = self.fake.calls[self.cursor :]
        self.cursor += len(new)
        found = []
        for call in new:
            self.routes[route_of(call)] += 1
            body = call.body if isinstance(call.body, dict) else {}
            if body.get("content") != REPLY:
                continue
            parts = call.path.strip("/").split("/")
            if parts[:1] != ["channels"] or parts[2:3] != ["messages"]:
                continue
            if call.method == "POST" and len(parts) == 3:
                reference = body.get("message_reference") or {}
            elif call.method == "PATCH" and len(parts) == 4:
                reply = self.fake.messages.get(int(parts[3])) or {}
                reference = reply.get("message_reference") or {}
            else:
                continue
            if reference.get("message_id") is not None:
                found.append((int(reference["message_id"]), call.at))
        return found


def run_round(fake: FakeDiscord, *, senders: int, events: int) -> dict[str, Any]:
    """Send `events` mentions with `senders` closed-loop senders; return what was measured."""
    watch = AnswerWatch(fake)
    waiting: dict[int, threading.Event] = {}
    sent: dict[int, float] = {}
    done: dict[int, float] = {}
    todo = iter(range(events))
    todo_lock = threading.Lock()
    finished = threading.Event()
    stalled = threading.Event()

    def poller() -> None:
        progress = time.monotonic()
        while not finished.is_set():
            for message_id, at in watch.poll():
                if message_id in sent and message_id not in done:
                    done[message_id] = at
                    progress = time.monotonic()
                    answered = waiting.pop(message_id, None)
                    if answered is not None:
                        answered.set()
            if waiting and time.monotonic() - progress > STALL_SECONDS:
                stalled.set()
                for event in list(waiting.values()):
                    event.set()
            time.sleep(POLL_SECONDS)

    def sender() -> None:
        while not stalled.is_set():
            with todo_lock:
                if next(todo, None) is None:
                    return
            message_id = next_id()
            data = message(
                message_id=message_id,
                channel_id=CHANNEL,
                author_id=MEMBER,
                content=QUESTION,
                guild_id=GUILD,
                mentions=[BOT_ID],
            )
            answered = threading.Event()
            waiting[message_id] = answered
            sent[message_id] = time.monotonic()
            fake.push("MESSAGE_CREATE", data)
            answered.wait(STALL_SECONDS + 5)

    watcher = threading.Thread(target=poller, daemon=True)
    watcher.start()
    started = time.monotonic()
    threads = [threading.Thread(target=sender, daemon=True) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    time.sleep(0.2)  # a straggler's last call is tallied too
    finished.set()
    watcher.join()
    e2e = [(done[m] - sent[m]) * 1000 for m in done]
    last = max(done.values(), default=started)
    return {
        "sent": len(sent),
        "answered": len(done),
        "seconds": last - started,
        "e2e_ms": e2e,
        "routes": dict(watch.routes),
        "stalled": stalled.is_set(),
    }
