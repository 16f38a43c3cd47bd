"""Graceful stop of a real `byokbot serve`: SIGTERM in the middle of an answer.

The HTTP server stops listening at once (a load balancer moves new work elsewhere), the
answer in flight finishes (or, past the bound, is cut and settled), no reservation is
left behind (`budget_counters.reserved_pusd` 0, no `budget_leases` row) and the process
exits 0 within the bound.
"""

from __future__ import annotations

import signal
import socket
import time

from sqlalchemy import text
from sqlalchemy.engine import Engine

from bot.background import STOP_GRACE_SECONDS
from tests.fakes.providers import FakeOpenAI
from tests.fakes.server import Fault
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_driver import SlackDriver
from tests.fakes.slack_signing import message_event
from tests.kits.helpers import ServeProcess

REPLY = "one two three four five six seven eight nine ten"


def held(engine: Engine) -> tuple[int, int]:
    """(reserved pico-dollars over every counter, lease rows) right now."""
    with engine.connect() as conn:
        reserved = conn.execute(text("SELECT coalesce(sum(reserved_pusd), 0) FROM budget_counters"))
        leases = conn.execute(text("SELECT count(*) FROM budget_leases"))
        return int(reserved.scalar_one()), int(leases.scalar_one())


def statuses(engine: Engine) -> list[str]:
    """The status of every usage row."""
    with engine.connect() as conn:
        return [str(s) for s in conn.execute(text("SELECT status FROM usage_events")).scalars()]


def listening(port: int) -> bool:
    """True while something accepts TCP connections on the port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def start_answer(slack: SlackDriver, provider: FakeOpenAI, engine: Engine) -> None:
    """A bound agent under a workspace limit, and a mention whose answer is now streaming."""
    slack.create_agent(provider.base_url)
    assert "set to" in slack.admin("limit set workspace 5 --per day")
    slack.event(
        message_event(
            user="UMEMBER", text="<@UBOT> count", channel="C0001", event_type="app_mention"
        )
    )
    deadline = time.monotonic() + 15
    while not (provider.streams and provider.streams[0].text_chunks >= 2):
        assert time.monotonic() < deadline, "the answer never started streaming"
        time.sleep(0.02)
    assert held(engine)[1] == 1  # the call holds its reservation


def streamed_text(fake: FakeSlackAPI) -> str:
    """Everything the bot streamed or posted in the thread."""
    return "".join(
        str(c.params.get("markdown_text") or c.params.get("text") or "")
        for c in fake.all_calls()
        if c.method in ("chat.startStream", "chat.appendStream", "chat.stopStream")
    )


def test_sigterm_mid_answer_finishes_it_and_releases_the_reservation(
    slack: SlackDriver,
    fake: FakeSlackAPI,
    provider: FakeOpenAI,
    serve: ServeProcess,
    engine: Engine,
) -> None:
    provider.reply = REPLY
    provider.delay = 0.3  # ten chunks: about three seconds of answer
    start_answer(slack, provider, engine)
    started = time.monotonic()
    serve.process.send_signal(signal.SIGTERM)
    # New work is refused at once while the answer in flight goes on.
    while listening(serve.port):
        assert time.monotonic() - started < 2, "still listening after SIGTERM"
        time.sleep(0.02)
    assert serve.process.poll() is None, "exited without finishing the answer"
    assert serve.process.wait(timeout=STOP_GRACE_SECONDS + 10) == 0
    assert time.monotonic() - started < STOP_GRACE_SECONDS
    assert provider.streams[0].completed
    assert REPLY in streamed_text(fake)
    assert bool(fake.calls_to("chat.stopStream"))
    assert statuses(engine) == ["ok"]
    assert held(engine) == (0, 0)


def test_sigterm_past_the_bound_cuts_the_answer_and_settles_it(
    slack: SlackDriver,
    fake: FakeSlackAPI,
    provider: FakeOpenAI,
    serve: ServeProcess,
    engine: Engine,
) -> None:
    provider.reply = REPLY
    provider.script(Fault.hang(after=2, endpoint="chat"))  # two chunks, then it stalls
    start_answer(slack, provider, engine)
    started = time.monotonic()
    assert serve.stop(timeout=STOP_GRACE_SECONDS + 15) == 0
    took = time.monotonic() - started
    assert STOP_GRACE_SECONDS - 1 < took < STOP_GRACE_SECONDS + 10, took
    log = serve.log_text()
    assert "cancelled 1 task(s)" in log, log
    # Cut after the model had started: charged its reserved estimate, and nothing held.
    assert statuses(engine) == ["estimated"]
    assert held(engine) == (0, 0)
