"""Guarantee 4 at the process boundary: bad signatures are refused and their bodies never logged.

The serve process runs at DEBUG so that anything slack-bolt or slack_sdk would log about
a request (they log bodies by default) would land in the log we grep.
"""

from __future__ import annotations

import time
import urllib.parse

from tests.fakes import slack_api
from tests.fakes.providers import FakeOpenAI
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_driver import SIGNING_SECRET, SlackDriver
from tests.fakes.slack_signing import command_body, event_body, message_event, sign
from tests.kits.slack_replies import answered

CANARY = "CANARY4b1d-planted-in-the-body"


def forged_bodies(fake: FakeSlackAPI) -> list[tuple[bytes, str]]:
    """A key command, a mention and a modal submission, each carrying the canary."""
    command = command_body(
        text=f"key add openai stolen {CANARY}",
        user=slack_api.ADMIN,
        response_url=fake.response_url("forged"),
    )
    mention, _ = event_body(
        message_event(
            user="UMEMBER", text=f"<@UBOT> {CANARY}", channel="C0001", event_type="app_mention"
        ),
        team_id="T0001",
    )
    payload = urllib.parse.urlencode({"payload": f'{{"type":"view_submission","x":"{CANARY}"}}'})
    return [
        (command, "application/x-www-form-urlencoded"),
        (mention, "application/json"),
        (payload.encode(), "application/x-www-form-urlencoded"),
    ]


def test_forged_missing_and_stale_signatures_get_401_and_bodies_are_not_logged(
    slack: SlackDriver, fake: FakeSlackAPI
) -> None:
    now = int(time.time())
    for body, ctype in forged_bodies(fake):
        attempts = [
            slack.post(body, content_type=ctype, secret="not-the-signing-secret"),
            slack.post(body, content_type=ctype, signed=False),
            slack.post(body, content_type=ctype, timestamp=now - 301),  # right secret, stale
            slack.post(body, content_type=ctype, timestamp=now + 400),  # from the future
            slack.post(
                body,
                content_type=ctype,
                headers={"X-Slack-Signature": "v0=" + "0" * 64},
            ),
        ]
        assert [r.status_code for r in attempts] == [401] * len(attempts)
        assert all(CANARY not in r.text for r in attempts)
    time.sleep(0.5)
    log = slack.log()
    assert "rejected a request to /slack/events" in log  # the refusal itself is logged
    assert CANARY not in log
    assert "DEBUG" in log  # the process really ran at DEBUG
    assert not fake.responses() and not fake.all_calls()


def test_a_tampered_body_with_a_replayed_signature_is_refused(
    slack: SlackDriver, fake: FakeSlackAPI
) -> None:
    body, ctype = forged_bodies(fake)[0]
    headers = sign(SIGNING_SECRET, body)
    tampered = body.replace(b"stolen", b"stolem")
    response = slack.post(tampered, content_type=ctype, signed=False, headers=headers)
    assert response.status_code == 401
    assert CANARY not in slack.log()


def test_signed_requests_never_log_keys_or_message_content(
    slack: SlackDriver,
    fake: FakeSlackAPI,
    provider: FakeOpenAI,
) -> None:
    provider.reply = "ANSWER-CANARY-from-the-model"
    slack.create_agent(provider.base_url)
    ack, _ = slack.event(
        message_event(
            user="UMEMBER",
            text="<@UBOT> PROMPT-CANARY please",
            channel="C0001",
            event_type="app_mention",
        )
    )
    assert ack.status_code == 200
    fake.wait_for(answered)
    time.sleep(0.3)
    log = slack.log()
    planted = ("PROMPT-CANARY", "ANSWER-CANARY", "test-key", fake.default_token, SIGNING_SECRET)
    for secret in planted:
        assert secret not in log, secret


def test_url_verification_challenge_is_answered_only_when_signed(slack: SlackDriver) -> None:
    body = b'{"type":"url_verification","challenge":"chal-123","token":"t"}'
    assert slack.post(body).json() == {"challenge": "chal-123"}
    assert slack.post(body, secret="wrong").status_code == 401
