"""Three Slack HTTP replicas on one database (SPEC "Running it": several replicas).

Three real `byokbot serve` processes in multi-workspace (OAuth) mode share one database;
the test plays the load balancer, sending each request to the next replica in turn.
The OAuth install starts on one replica and finishes on another; slash commands, the
key form (a modal opened by one replica, submitted to another) and mentions work
whichever replica gets them; an event or a slash command delivered to all three (the
same event id or trigger id) is acted on once; a budget holds against calls reserved
on three replicas at once.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.fakes import slack_api
from tests.fakes.providers import FakeOpenAI
from tests.fakes.slack_api import FakeSlackAPI, Team
from tests.fakes.slack_driver import SIGNING_SECRET, SlackDriver, base_env
from tests.fakes.slack_signing import command_body, event_body, message_event, next_id
from tests.kits.helpers import ServeProcess

CLIENT_ID = "1111.2222"
TEAM = Team(team_id="T0001", token="xoxb-replicas-oauth-token", name="One")
KEY = "test-key"  # a key the fake provider accepts: the form verifies it
REPLICAS = 3


@pytest.fixture
def fake() -> Iterator[FakeSlackAPI]:
    """The fake Slack Web API, no default bot token: the install provides it."""
    with FakeSlackAPI(token="xoxb-unused-default") as api:
        yield api


@pytest.fixture
def replicas(
    tmp_path: Path, database_url: str, master_key: str, fake: FakeSlackAPI
) -> Iterator[list[SlackDriver]]:
    """Three `serve` processes on one database, one driver for each."""
    env = {
        **base_env(database_url=database_url, master_key=master_key, fake=fake),
        "SLACK_CLIENT_ID": CLIENT_ID,
        "SLACK_CLIENT_SECRET": "client-secret-value",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
    }
    with ExitStack() as stack:
        drivers = []
        for n in range(REPLICAS):
            cwd = tmp_path / f"replica{n}"
            cwd.mkdir()
            server = stack.enter_context(ServeProcess(env=env, cwd=cwd))
            driver = SlackDriver(server.url, secret=SIGNING_SECRET, fake=fake, log=server.log_text)
            stack.callback(driver.close)
            drivers.append(driver)
        yield drivers


def install_across(start: SlackDriver, finish: SlackDriver, fake: FakeSlackAPI) -> httpx.Response:
    """The browser gets the install page from `start`; Slack redirects it to `finish`."""
    page = httpx.get(start.url + "/slack/install")
    assert page.status_code == 200
    link = re.search(r'href="(https://slack\.com/oauth/v2/authorize\?[^"]+)"', page.text)
    assert link is not None, page.text
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(link.group(1).replace("&amp;", "&")).query)
    cookie = page.headers["set-cookie"].split(";")[0]
    fake.add_oauth_code("code-one", TEAM)
    return httpx.get(
        finish.url + "/slack/oauth_redirect",
        params={"code": "code-one", "state": query["state"][0]},
        headers={"Cookie": cookie},
    )


def provider_calls(engine: Engine) -> tuple[int, int]:
    """(usage rows that reached the provider, refused rows)."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT status FROM usage_events")).scalars().all()
    return sum(1 for s in rows if s != "refused"), sum(1 for s in rows if s == "refused")


def test_three_replicas_act_once_and_hold_the_budget_whichever_gets_a_request(
    replicas: list[SlackDriver], fake: FakeSlackAPI, provider: FakeOpenAI, engine: Engine
) -> None:
    turn = itertools.cycle(replicas)
    # OAuth: the install page from one replica, Slack's redirect back to another.
    done = install_across(next(turn), next(turn), fake)
    assert done.status_code == 200, done.text
    assert len(fake.calls_to("oauth.v2.access")) == 1

    # Slash commands and the key form, each step on the next replica.
    ack, name, _trigger = next(turn).command(
        f"key add openai k --base-url {provider.base_url}", user=slack_api.ADMIN
    )
    assert ack.status_code == 200
    fake.wait_for(lambda f: bool(f.calls_to("views.open")))
    view = fake.calls_to("views.open")[0].params["view"]
    view = json.loads(view) if isinstance(view, str) else view
    submitted = next(turn).submit_form(
        user=slack_api.ADMIN, private_metadata=view["private_metadata"], secret=KEY
    )
    assert submitted.status_code == 200
    fake.wait_for(lambda f: bool(f.responses(name)))
    stored = fake.responses(name)[0]["text"]
    assert "stored" in stored and "not" not in stored, stored
    assert "created" in next(turn).admin("agent create writer --key k --model gpt-4o-mini")
    assert "bound" in next(turn).admin("agent bind writer <#C0001>")

    # A mention to each replica: each answered once.
    for driver in replicas:
        before = len(provider.chat_requests)
        driver.event(
            message_event(
                user="UMEMBER", text="<@UBOT> hi", channel="C0001", event_type="app_mention"
            )
        )
        deadline = time.monotonic() + 15
        while len(provider.chat_requests) == before:
            assert time.monotonic() < deadline, driver.log()
            time.sleep(0.05)
    # The same event (one event id) delivered to all three: one answer.
    event = message_event(
        user="UMEMBER", text="<@UBOT> once", channel="C0001", event_type="app_mention"
    )
    body, _eid = event_body(event, team_id=TEAM.team_id)
    for driver in replicas:
        assert driver.post(body).status_code == 200
    # The same slash command (one trigger id) delivered to all three: one reply.
    reply_to = next_id("cmd")
    command = command_body(
        text="agent list",
        user=slack_api.ADMIN,
        team_id=TEAM.team_id,
        response_url=fake.response_url(reply_to),
        trigger_id=next_id("trig"),
    )
    for driver in replicas:
        sent = driver.post(command, content_type="application/x-www-form-urlencoded")
        assert sent.status_code == 200
    fake.wait_for(lambda f: bool(f.responses(reply_to)))
    time.sleep(1.5)  # time for a second answer that must not come
    assert len(provider.chat_requests) == REPLICAS + 1
    assert len(fake.responses(reply_to)) == 1

    # A budget for two calls' worst case (1,024 output tokens of gpt-4o-mini, about
    # $0.0006 each) against six calls reserved on three replicas at once.
    assert "set to" in next(turn).admin("limit set workspace 0.0015 --per day")
    provider.delay = 0.2  # answers overlap: every reservation is taken while others hold
    before_calls, before_refused = provider_calls(engine)
    senders = [
        threading.Thread(
            target=driver.event,
            args=(
                message_event(
                    user="UMEMBER",
                    text=f"<@UBOT> race {n}",
                    channel="C0001",
                    event_type="app_mention",
                ),
            ),
        )
        for n, driver in zip(range(6), itertools.cycle(replicas), strict=False)
    ]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    deadline = time.monotonic() + 30
    while sum(provider_calls(engine)) < before_calls + before_refused + 6:
        assert time.monotonic() < deadline, provider_calls(engine)
        time.sleep(0.1)
    calls, refused = provider_calls(engine)
    assert 1 <= calls - before_calls <= 2 and refused - before_refused >= 4
    with engine.connect() as conn:
        spent, limit = conn.execute(
            text(
                "SELECT c.spent_pusd + c.reserved_pusd, b.limit_pusd FROM budget_counters c "
                "JOIN budgets b ON b.id = c.budget_id"
            )
        ).one()
    assert spent <= limit
