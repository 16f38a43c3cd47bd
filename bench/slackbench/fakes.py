"""The fakes process of `bench/slack.py`: fake Slack Web API + zero-latency fake OpenAI.

    python -m bench.slackbench.fakes

Both fakes from `tests/fakes/` serve on 127.0.0.1 in this one process. The fake Slack also
notes, per thread, when the answer was finished: the `chat.stopStream` of a stream started
in that thread, or a `chat.postMessage` into it (the baseline's answer, or byokbot's
fallback). Control is one JSON command per stdin line, one JSON reply per stdout line;
the process ends when stdin closes. Commands:

- `{"cmd": "setup", "url": ..., "secret": ...}`: key add + agent create + bind (through
  real signed slash commands, `tests.fakes.slack_driver.SlackDriver`) on that serve;
- `{"cmd": "mark"}`: forget answers and recorded calls (a round starts); replies with
  this process's CPU seconds;
- `{"cmd": "count"}`: `{"answered": n}`;
- `{"cmd": "report"}`: answer times by thread, Web API calls by method, provider calls,
  and this process's CPU seconds.
"""

from __future__ import annotations

import collections
import json
import os
import sys
import threading
import time
from typing import Any

from tests.fakes.providers import FakeOpenAI
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_driver import SlackDriver

REPLY = "OK, done."


class AnswerClock(FakeSlackAPI):
    """The fake Slack Web API, also noting when each thread's answer was finished."""

    def __init__(self) -> None:
        super().__init__()
        self._answers_lock = threading.Lock()
        self.done: dict[str, float] = {}  # thread ts -> time.time() the answer finished
        self._streams: dict[str, str] = {}  # stream message ts -> thread ts

    def handle(
        self, method: str, params: dict[str, Any], token: str | None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Answer as the fake does; note finished answers."""
        status, body, headers = super().handle(method, params, token)
        if status == 200 and body.get("ok"):
            now = time.time()
            with self._answers_lock:
                if method == "chat.startStream":
                    self._streams[str(body["ts"])] = str(params.get("thread_ts", ""))
                elif method == "chat.stopStream":
                    thread = self._streams.pop(str(params.get("ts", "")), None)
                    if thread:
                        self.done[thread] = now
                elif method == "chat.postMessage" and params.get("thread_ts"):
                    self.done[str(params["thread_ts"])] = now
        return status, body, headers

    def mark(self) -> None:
        """Forget answers and recorded calls."""
        with self._answers_lock:
            self.done.clear()
            self._streams.clear()
        with self._lock:
            self.state.calls.clear()


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def main() -> int:
    """Serve the fakes and answer control commands until stdin closes."""
    slack = AnswerClock()
    slack.start()
    try:
        with FakeOpenAI(reply=REPLY) as provider:
            serve_commands(slack, provider)
    finally:
        slack.stop()
    return 0


def serve_commands(slack: AnswerClock, provider: FakeOpenAI) -> None:
    """Answer control commands from stdin until it closes."""
    out = sys.stdout

    def reply(message: dict[str, Any]) -> None:
        out.write(json.dumps(message) + "\n")
        out.flush()

    reply(
        {
            "slack": slack.base_url,
            "token": slack.default_token,
            "provider": provider.base_url,
            "pid": os.getpid(),
        }
    )
    for line in sys.stdin:
        command = json.loads(line)
        name = command.get("cmd")
        if name == "setup":
            driver = SlackDriver(command["url"], secret=command["secret"], fake=slack)
            try:
                driver.create_agent(provider.base_url)
            finally:
                driver.close()
            reply({"ok": True})
        elif name == "mark":
            slack.mark()
            provider.reset()
            reply({"cpu": _cpu_seconds()})
        elif name == "count":
            reply({"answered": len(slack.done)})
        elif name == "report":
            calls = collections.Counter(call.method for call in slack.all_calls())
            reply(
                {
                    "done": dict(slack.done),
                    "calls": dict(calls),
                    "provider_calls": len(provider.chat_requests),
                    "cpu": _cpu_seconds(),
                }
            )
        else:
            reply({"error": f"unknown command {name!r}"})


if __name__ == "__main__":
    raise SystemExit(main())
