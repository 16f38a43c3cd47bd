"""`/byok` through the real `byokbot serve`: fast acks, private replies, admins, the key modal."""

from __future__ import annotations

import json
import time

from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.fakes import slack_api
from tests.fakes.providers import FakeOpenAI
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_driver import SlackDriver

# An inline key the fake provider accepts; it must never show up anywhere but the provider.
KEY = "test-key"


def nothing_in_channel(fake: FakeSlackAPI) -> bool:
    return not fake.calls_to("chat.postMessage") and not fake.calls_to("chat.startStream")


def test_admin_command_is_acked_at_once_and_answered_privately(
    slack: SlackDriver,
    fake: FakeSlackAPI,
    provider: FakeOpenAI,
) -> None:
    started = time.monotonic()
    ack, name, _trigger = slack.command(
        f"key add openai main {KEY} --base-url {provider.base_url}", user=slack_api.ADMIN
    )
    ack_seconds = time.monotonic() - started
    assert ack.status_code == 200 and ack.content == b""  # an empty ack shows nothing
    assert ack_seconds < 2.5  # Slack gives up after 3 s
    fake.wait_for(lambda f: bool(f.responses(name)))
    (reply,) = fake.responses(name)
    assert reply["response_type"] == "ephemeral"
    assert "stored" in reply["text"] and KEY not in reply["text"]
    assert nothing_in_channel(fake)


def test_non_admins_are_refused_privately_and_audited(
    slack: SlackDriver, fake: FakeSlackAPI, engine: Engine
) -> None:
    refused = [
        slack_api.MEMBER,
        slack_api.GUEST,
        slack_api.ULTRA_GUEST,
        slack_api.EXTERNAL_ADMIN,
        slack_api.STRANGER,
        slack_api.FAILING,
    ]
    for user in refused:
        replies = slack.command_replies("agent list", user=user)
        assert [r["response_type"] for r in replies] == ["ephemeral"]
        assert "admin" in replies[0]["text"].lower()
    owner = slack.command_replies("agent list", user=slack_api.OWNER)
    assert "admin" not in owner[0]["text"].lower()
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT actor_id, outcome FROM audit_events WHERE workspace_id = 'slack:T0001'")
        ).all()
    denied = {actor for actor, outcome in rows if outcome == "denied"}
    assert denied == set(refused)
    assert nothing_in_channel(fake)


def test_key_commands_are_never_answered_in_channel(
    slack: SlackDriver,
    fake: FakeSlackAPI,
    provider: FakeOpenAI,
) -> None:
    commands = [
        f"key add openai main {KEY} --base-url {provider.base_url}",
        "key list",
        "key test main",
        f"key rotate main {KEY}",
        "key revoke main",
        "key add openai",  # malformed
    ]
    for command in commands:
        for user in (slack_api.ADMIN, slack_api.MEMBER):
            replies = slack.command_replies(command, user=user)
            assert replies and all(r["response_type"] == "ephemeral" for r in replies)
            assert all(KEY not in r["text"] for r in replies)
    assert all(r.get("response_type") != "in_channel" for r in fake.responses())
    assert nothing_in_channel(fake)
    assert KEY not in slack.log()


def test_key_add_without_secret_opens_a_modal_and_its_submission_stores_the_key(
    slack: SlackDriver,
    fake: FakeSlackAPI,
    provider: FakeOpenAI,
    engine: Engine,
) -> None:
    ack, name, trigger = slack.command(
        f"key add openai modal-key --base-url {provider.base_url}", user=slack_api.ADMIN
    )
    assert ack.status_code == 200
    fake.wait_for(lambda f: bool(f.calls_to("views.open")))
    (opened,) = fake.calls_to("views.open")
    assert opened.params["trigger_id"] == trigger
    view = opened.params["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert view["type"] == "modal" and view["callback_id"] == "byok_secret_form"

    submitted = slack.submit_form(
        user=slack_api.ADMIN, private_metadata=view["private_metadata"], secret=KEY
    )
    assert submitted.status_code == 200 and submitted.content == b""  # closes the modal
    fake.wait_for(lambda f: bool(f.responses(name)))
    (reply,) = fake.responses(name)
    assert reply["response_type"] == "ephemeral" and "stored" in reply["text"]
    assert [r.headers.get("authorization") for r in provider.requests] == [f"Bearer {KEY}"]
    listed = slack.admin("key list")
    assert "modal-key" in listed and KEY not in listed
    for call in fake.all_calls():
        assert KEY not in json.dumps(call.params)
    assert KEY not in slack.log()
    with engine.connect() as conn:
        names = conn.execute(text("SELECT name FROM provider_keys")).scalars().all()
    assert names == ["modal-key"]


def test_modal_submission_from_a_non_admin_stores_nothing(
    slack: SlackDriver,
    fake: FakeSlackAPI,
    provider: FakeOpenAI,
    engine: Engine,
) -> None:
    metadata = json.dumps(
        {
            "action": "add",
            "key_name": "sneaky",
            "provider": "openai",
            "base_url": provider.base_url,
            "verify": True,
            "channel_id": "C0001",
            "response_url": fake.response_url("sneaky"),
        }
    )
    response = slack.submit_form(user=slack_api.GUEST, private_metadata=metadata, secret=KEY)
    assert response.status_code == 200
    fake.wait_for(lambda f: bool(f.responses("sneaky")))
    (reply,) = fake.responses("sneaky")
    assert reply["response_type"] == "ephemeral" and "admin" in reply["text"].lower()
    assert not provider.requests
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM provider_keys")).scalar() == 0


def test_empty_or_stale_modal_is_answered_with_a_field_error(
    slack: SlackDriver, fake: FakeSlackAPI
) -> None:
    metadata = json.dumps({"action": "add", "key_name": "k", "channel_id": "C0001"})
    empty = slack.submit_form(user=slack_api.ADMIN, private_metadata=metadata, secret="  ")
    assert empty.status_code == 200
    assert empty.json()["response_action"] == "errors"
    stale = slack.submit_form(user=slack_api.ADMIN, private_metadata="not json", secret=KEY)
    assert stale.json()["response_action"] == "errors"
    assert KEY not in stale.text
