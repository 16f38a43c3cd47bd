"""Socket Mode through the real `byokbot serve`: no public URL, events over a WebSocket.

`SLACK_APP_TOKEN` + `SLACK_BOT_TOKEN` and no signing secret: the bot asks the fake Web API
for a socket URL (`apps.connections.open`), connects to the fake Socket Mode server and
answers slash commands and mentions pushed through it, acknowledging each envelope.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.fakes import slack_api
from tests.fakes.providers import FakeOpenAI
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_driver import base_env
from tests.fakes.slack_signing import event_body, message_event, next_id, next_ts
from tests.fakes.slack_socket import FakeSocketMode
from tests.kits.helpers import ServeProcess
from tests.kits.slack_replies import answered, thread_replies


@pytest.fixture
def socket() -> Iterator[FakeSocketMode]:
    with FakeSocketMode() as server:
        yield server


@pytest.fixture
def fake(socket: FakeSocketMode) -> Iterator[FakeSlackAPI]:
    with FakeSlackAPI() as api:
        api.state.socket_url = socket.url
        yield api


@pytest.fixture
def env(database_url: str, master_key: str, fake: FakeSlackAPI) -> dict[str, str]:
    """Socket Mode: an app token and a bot token, no signing secret."""
    return {
        **base_env(database_url=database_url, master_key=master_key, fake=fake),
        "SLACK_APP_TOKEN": fake.state.app_token,
        "SLACK_BOT_TOKEN": fake.default_token,
    }


def command(socket: FakeSocketMode, fake: FakeSlackAPI, text: str) -> dict[str, object]:
    """Push `/byok text` from an admin; wait for the ack and the private reply."""
    name = next_id("sock")
    payload = {
        "team_id": "T0001",
        "channel_id": "C0001",
        "user_id": slack_api.ADMIN,
        "user_name": "admin",
        "command": "/byok",
        "text": text,
        "response_url": fake.response_url(name),
        "trigger_id": next_id("trig"),
        "api_app_id": "A0001",
    }
    envelope = socket.send("slash_commands", payload, accepts_response=True)
    fake.wait_for(lambda _f: socket.acked(envelope))
    fake.wait_for(lambda f: bool(f.responses(name)))
    (reply,) = fake.responses(name)
    return reply


def test_socket_mode_answers_commands_and_mentions(
    serve: ServeProcess, socket: FakeSocketMode, fake: FakeSlackAPI, provider: FakeOpenAI
) -> None:
    socket.wait_connected()
    (opened,) = fake.calls_to("apps.connections.open")
    assert opened.token == fake.state.app_token

    reply = command(socket, fake, f"key add openai k test-key --base-url {provider.base_url}")
    assert reply["response_type"] == "ephemeral" and "stored" in str(reply["text"])
    assert "created" in str(
        command(socket, fake, "agent create w --key k --model gpt-4o-mini")["text"]
    )
    assert "bound" in str(command(socket, fake, "agent bind w <#C0001|general>")["text"])

    ts = next_ts()
    body, _eid = event_body(
        message_event(
            user="UMEMBER",
            text="<@UBOT> over the socket",
            channel="C0001",
            ts=ts,
            event_type="app_mention",
        ),
        team_id="T0001",
    )
    envelope = socket.send("events_api", json.loads(body))
    fake.wait_for(lambda _f: socket.acked(envelope))
    fake.wait_for(answered)
    (answer,) = thread_replies(fake)
    assert answer.thread_ts == ts
    assert len(provider.chat_requests) == 1

    # No signing secret: nothing is served over HTTP for Slack.
    assert httpx.post(serve.url + "/slack/events", content=b"{}").status_code == 404
    time.sleep(0.2)
    log = serve.log_text()
    assert "over the socket" not in log and "test-key" not in log
    assert serve.stop() == 0
