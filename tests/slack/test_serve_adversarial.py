"""Attacks on the real `byokbot serve` over Slack: granted never-admins, malformed signed
bodies, replayed slash commands and form submissions, and fuzzed signed bodies.

Guarantees 3 and 4: a granted guest, external user or failed look-up is not an admin; a
signed but malformed body gets a 4xx (never a 5xx, never a logged body or traceback); a
request replayed with the same `trigger_id` acts once, across replicas too.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.fakes import slack_api
from tests.fakes.providers import FakeOpenAI
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_driver import SIGNING_SECRET, SlackDriver
from tests.fakes.slack_signing import command_body, next_id, sign, view_submission_body
from tests.kits.helpers import ServeProcess

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
CANARY = "CANARY9e7c-in-a-malformed-body"


def audit(engine: Engine, action: str) -> list[tuple[str, str]]:
    """(actor, outcome) of every audit row of `action`, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT actor_id, outcome FROM audit_events WHERE action = :a ORDER BY created_at"
            ),
            {"a": action},
        ).all()
    return [(str(actor), str(outcome)) for actor, outcome in rows]


# -- hole 2: a grant never beats the platform's negative verdict ---------------------------


def test_granted_guests_externals_and_failed_lookups_are_not_admins(
    slack: SlackDriver, fake: FakeSlackAPI, engine: Engine
) -> None:
    never = [
        slack_api.GUEST,
        slack_api.ULTRA_GUEST,
        slack_api.EXTERNAL_ADMIN,
        slack_api.EXTERNAL_MEMBER,
        slack_api.STRANGER,
        slack_api.FAILING,
    ]
    for user in [*never, slack_api.MEMBER]:
        assert "now a byokbot admin" in slack.admin(f"admins add <@{user}>", user=slack_api.OWNER)
    # The control: a granted full member is an admin.
    member = slack.command_replies("key list", user=slack_api.MEMBER)
    assert "Only byokbot admins" not in member[0]["text"]
    for user in never:
        replies = slack.command_replies("key list", user=user)
        assert [r["response_type"] for r in replies] == ["ephemeral"]
        assert "Only byokbot admins" in replies[0]["text"], user
    # Every refusal is audited (an admin's read-only key list is not).
    assert sorted(audit(engine, "key.list")) == sorted((user, "denied") for user in never)


def test_a_granted_member_whose_lookup_fails_is_refused(
    slack: SlackDriver, fake: FakeSlackAPI, engine: Engine
) -> None:
    assert "now a byokbot admin" in slack.admin(f"admins add <@{slack_api.MEMBER}>")
    fake.fail("users.info", error="internal_error")  # ok=false: Slack could not say
    replies = slack.command_replies("key list", user=slack_api.MEMBER)
    assert "Only byokbot admins" in replies[0]["text"]
    assert (slack_api.MEMBER, "denied") in audit(engine, "key.list")


# -- hole 10: signed malformed bodies get a 400, one line, no body -------------------------


def _payload(value: object) -> bytes:
    return urllib.parse.urlencode({"payload": json.dumps(value)}).encode()


def malformed_bodies() -> list[tuple[bytes, str]]:
    """Correctly signable bodies that are not Slack requests (each carries the canary)."""
    command_without_user = urllib.parse.urlencode(
        {"command": "/byok", "team_id": "T0001", "channel_id": "C1", "text": CANARY}
    )
    return [
        (f"{{not json {CANARY}".encode(), JSON),
        (json.dumps([CANARY, 1]).encode(), JSON),
        (json.dumps(CANARY).encode(), JSON),
        (b"42", JSON),
        (b"null", JSON),
        (json.dumps({"type": "event_callback", "event": CANARY}).encode(), JSON),
        (json.dumps({"type": "event_callback", "event": {"type": "message"}}).encode(), JSON),
        (json.dumps({"type": "event_callback", "authorizations": CANARY}).encode(), JSON),
        (json.dumps({"type": "block_actions", "enterprise": 5, "x": CANARY}).encode(), JSON),
        (json.dumps({"type": ["view_submission"], "x": CANARY}).encode(), JSON),
        (urllib.parse.urlencode({"payload": f"garbage {CANARY}"}).encode(), FORM),
        (urllib.parse.urlencode({"payload": json.dumps([CANARY])}).encode(), FORM),
        (
            urllib.parse.urlencode({"payload": json.dumps({"type": "view_submission"})}).encode(),
            FORM,
        ),
        (_payload({"type": "view_submission", "view": CANARY}), FORM),
        (command_without_user.encode(), FORM),
        (b"\xff\xfe" + CANARY.encode(), FORM),
    ]


def test_signed_malformed_bodies_get_400_without_a_trace_or_the_body_in_the_log(
    slack: SlackDriver, fake: FakeSlackAPI
) -> None:
    for body, ctype in malformed_bodies():
        response = slack.post(body, content_type=ctype)
        assert response.status_code == 400, (body, response.status_code)
        assert CANARY not in response.text
    time.sleep(0.5)
    log = slack.log()
    assert log.count("rejected a malformed signed request") == len(malformed_bodies())
    assert "Traceback" not in log and "Error handling request" not in log
    assert CANARY not in log
    assert not fake.responses()
    # The server is still fine: a real command works.
    assert "Only byokbot admins" not in slack.admin("key list")


# -- hole 11: a replayed trigger_id acts once -----------------------------------------------


def _key_add_body(fake: FakeSlackAPI, provider: FakeOpenAI, name: str) -> bytes:
    return command_body(
        text=f"key add openai {name} test-key --base-url {provider.base_url} --no-verify",
        user=slack_api.ADMIN,
        response_url=fake.response_url(name),
        trigger_id=next_id("trig"),
    )


def test_a_replayed_slash_command_is_acked_but_runs_once(
    slack: SlackDriver, fake: FakeSlackAPI, provider: FakeOpenAI, engine: Engine
) -> None:
    body = _key_add_body(fake, provider, "replayed")
    first = slack.post(body, content_type=FORM)
    assert first.status_code == 200
    fake.wait_for(lambda f: bool(f.responses("replayed")))
    # The attacker's replay: the very same body, freshly signed inside the 5-minute window.
    replay = slack.post(body, content_type=FORM, timestamp=int(time.time()) - 60)
    assert replay.status_code == 200
    time.sleep(1.5)
    replies = fake.responses("replayed")
    assert len(replies) == 1 and "stored" in replies[0]["text"], replies
    assert audit(engine, "key.add") == [(slack_api.ADMIN, "ok")]
    assert "replayed request ignored" in slack.log()


def test_a_replayed_modal_submission_acts_once(
    slack: SlackDriver, fake: FakeSlackAPI, provider: FakeOpenAI, engine: Engine
) -> None:
    metadata = json.dumps(
        {
            "action": "add",
            "key_name": "modal-once",
            "provider": "openai",
            "base_url": provider.base_url,
            "verify": False,
            "channel_id": "C0001",
            "response_url": fake.response_url("modal-once"),
        }
    )
    values = {"secret_block": {"secret_value": {"type": "plain_text_input", "value": "k"}}}
    body = view_submission_body(
        user=slack_api.ADMIN,
        team_id=slack_api.TEAM,
        callback_id="byok_secret_form",
        private_metadata=metadata,
        values=values,
    )
    assert slack.post(body, content_type=FORM).status_code == 200
    fake.wait_for(lambda f: bool(f.responses("modal-once")))
    replay = slack.post(body, content_type=FORM, timestamp=int(time.time()) - 30)
    assert replay.status_code == 200
    time.sleep(1.5)
    replies = fake.responses("modal-once")
    assert len(replies) == 1 and "stored" in replies[0]["text"], replies
    assert audit(engine, "key.add") == [(slack_api.ADMIN, "ok")]


def test_two_replicas_receiving_one_trigger_id_run_it_once(
    serve: ServeProcess,
    env: dict[str, str],
    tmp_path: Path,
    fake: FakeSlackAPI,
    provider: FakeOpenAI,
    engine: Engine,
) -> None:
    second_dir = tmp_path / "replica-2"
    second_dir.mkdir()
    with ServeProcess(env=env, cwd=second_dir) as second:
        body = _key_add_body(fake, provider, "twice")
        statuses: list[int] = []

        def deliver(url: str) -> None:
            headers = {"Content-Type": FORM, **sign(SIGNING_SECRET, body)}
            statuses.append(
                httpx.post(url + "/slack/events", content=body, headers=headers).status_code
            )

        threads = [threading.Thread(target=deliver, args=(u,)) for u in (serve.url, second.url)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert statuses == [200, 200]
        fake.wait_for(lambda f: bool(f.responses("twice")))
        time.sleep(1.5)
    replies = fake.responses("twice")
    assert len(replies) == 1 and "stored" in replies[0]["text"], replies
    assert audit(engine, "key.add") == [(slack_api.ADMIN, "ok")]
