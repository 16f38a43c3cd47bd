"""Ask an admin on Slack through the real `byokbot serve`: signed `block_actions` clicks.

A budget refusal carries an **Ask an admin** button; pressing it posts the request to the
digest channel with **Approve** / **Deny**; only an admin's click decides (audited either
way), a replayed click acts once, and the approval lets the member's next call through once.
"""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.fakes.providers import FakeOpenAI
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_driver import SlackDriver
from tests.fakes.slack_signing import message_event, next_ts
from tests.kits.slack_replies import answered

REPLY = "An answer paid for by an allowance."


def _blocks(call: Any) -> list[dict[str, Any]]:
    raw = call.params.get("blocks")
    return json.loads(raw) if isinstance(raw, str) else list(raw or [])


def _buttons(call: Any) -> list[tuple[str, str]]:
    return [
        (element["action_id"], element["value"])
        for block in _blocks(call)
        if block.get("type") == "actions"
        for element in block["elements"]
    ]


def _mention(slack: SlackDriver) -> None:
    event = message_event(
        user="UMEMBER",
        text="<@UBOT> a long essay",
        channel="C0001",
        ts=next_ts(),
        event_type="app_mention",
    )
    slack.event(event)


def _response_text(fake: FakeSlackAPI, name: str) -> str:
    fake.wait_for(lambda f: bool(f.responses(name)))
    return "\n".join(str(r.get("text", "")) for r in fake.responses(name))


def test_ask_approve_deny_through_signed_clicks(
    slack: SlackDriver, fake: FakeSlackAPI, provider: FakeOpenAI, engine: Engine
) -> None:
    provider.reply = REPLY
    slack.create_agent(provider.base_url)
    assert "#" in slack.admin("digest channel <#CDIGEST>")
    assert "limit" in slack.admin("limit set writer 0.0001 --per day").lower()

    _mention(slack)
    fake.wait_for(lambda f: any(_buttons(c) for c in f.calls_to("chat.postEphemeral")))
    refusal = next(c for c in fake.calls_to("chat.postEphemeral") if _buttons(c))
    ((action, request_id),) = _buttons(refusal)
    assert action == "byok_ask" and refusal.params["user"] == "UMEMBER"
    assert "a long essay" not in json.dumps(refusal.params)
    assert not provider.chat_requests

    ack, asked, _ = slack.click("byok_ask", request_id, user="UMEMBER")
    assert ack.status_code == 200
    assert f"Asked the admins (request {request_id})" in _response_text(fake, asked)
    posted = [c for c in fake.calls_to("chat.postMessage") if c.params.get("channel") == "CDIGEST"]
    (post,) = posted
    assert _buttons(post) == [("byok_approve", request_id), ("byok_deny", request_id)]
    assert "<@UMEMBER>" in post.params["text"] and "agent writer" in post.params["text"]
    assert "a long essay" not in json.dumps(post.params)

    _, member_try, _ = slack.click("byok_approve", request_id, user="UMEMBER", channel="CDIGEST")
    assert "Only byokbot admins" in _response_text(fake, member_try)

    ack, approved, body = slack.click("byok_approve", request_id, user="UADMIN", channel="CDIGEST")
    assert f"Approved request {request_id}" in _response_text(fake, approved)
    fake.wait_for(
        lambda f: any(c.params.get("channel") == "UMEMBER" for c in f.calls_to("chat.postMessage"))
    )
    (told,) = [c for c in fake.calls_to("chat.postMessage") if c.params.get("channel") == "UMEMBER"]
    assert "Send your message again." in told.params["text"]

    # The same signed click again (Slack retries, or a replica): acknowledged, not acted on.
    assert slack.post(body, content_type="application/x-www-form-urlencoded").status_code == 200
    _, denied, _ = slack.click("byok_deny", request_id, user="UADMIN", channel="CDIGEST")
    assert "already approved" in _response_text(fake, denied)
    time.sleep(0.5)
    assert len(fake.responses(approved)) == 1

    _mention(slack)  # the allowance lets this call through, once
    fake.wait_for(answered)
    assert len(provider.chat_requests) == 1

    with engine.connect() as conn:
        audit = conn.execute(
            text(
                "SELECT actor_id, action, outcome FROM audit_events"
                " WHERE action LIKE 'approval.%' ORDER BY id"
            )
        ).all()
        state = conn.execute(text("SELECT state FROM approval_requests")).scalar_one()
    assert [tuple(row) for row in audit] == [
        ("UMEMBER", "approval.ask", "ok"),
        ("UMEMBER", "approval.approve", "denied"),
        ("UADMIN", "approval.approve", "ok"),
        ("UADMIN", "approval.deny", "error"),
    ]
    assert state == "used"
