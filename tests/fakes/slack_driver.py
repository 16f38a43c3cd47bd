"""Plays Slack's part against a running `byokbot serve`: signed events, commands, modals."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.fakes.slack_api import TEAM, FakeSlackAPI
from tests.fakes.slack_signing import (
    block_actions_body,
    command_body,
    event_body,
    next_id,
    sign,
    view_submission_body,
)

#: the signing secret the serve tests configure and sign their requests with
SIGNING_SECRET = "test-signing-secret"


def base_env(*, database_url: str, master_key: str, fake: FakeSlackAPI) -> dict[str, str]:
    """What `byokbot serve` needs in every Slack mode: database, master key, `fake`'s URL."""
    return {
        "BYOKBOT_DATABASE_URL": database_url,
        "BYOKBOT_MASTER_KEY": master_key,
        "BYOKBOT_SLACK_API_URL": fake.base_url,
        "BYOKBOT_LOG_LEVEL": "DEBUG",
        "BYOKBOT_ALLOW_PRIVATE_BASE_URLS": "true",
    }


def serve_env(
    *, database_url: str, master_key: str, fake: FakeSlackAPI, secret: str, **extra: str
) -> dict[str, str]:
    """Environment for `byokbot serve` in single-workspace HTTP mode against `fake`."""
    return {
        **base_env(database_url=database_url, master_key=master_key, fake=fake),
        "SLACK_BOT_TOKEN": fake.default_token,
        "SLACK_SIGNING_SECRET": secret,
        **extra,
    }


class SlackDriver:
    """Plays Slack's part: signed events, slash commands and modal submissions."""

    def __init__(
        self, url: str, *, secret: str, fake: FakeSlackAPI, log: Callable[[], str] | None = None
    ) -> None:
        self.url = url
        self.secret = secret
        self.fake = fake
        self.http = httpx.Client(timeout=10)
        self.log = log or (lambda: "")

    def close(self) -> None:
        """Close the HTTP client."""
        self.http.close()

    def post(
        self,
        body: bytes,
        *,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        secret: str | None = None,
        timestamp: int | None = None,
        signed: bool = True,
    ) -> httpx.Response:
        """POST `body` to /slack/events, signed with `secret` (default: the right one)."""
        sent = {"Content-Type": content_type}
        if signed:
            sent.update(sign(secret or self.secret, body, timestamp=timestamp))
        sent.update(headers or {})
        return self.http.post(self.url + "/slack/events", content=body, headers=sent)

    def event(
        self,
        event: dict[str, Any],
        *,
        team_id: str = TEAM,
        event_id: str | None = None,
        retry_num: int | None = None,
    ) -> tuple[httpx.Response, str]:
        """Deliver an Events API callback; returns the response and the event id."""
        body, eid = event_body(event, team_id=team_id, event_id=event_id)
        headers = {}
        if retry_num is not None:
            headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
        return self.post(body, headers=headers), eid

    def command(
        self, text: str, *, user: str, channel: str = "C0001", team_id: str = TEAM
    ) -> tuple[httpx.Response, str, str]:
        """Send `/byok text`; returns the ack, the response_url name and the trigger id."""
        name = next_id("cmd")
        trigger = next_id("trig")
        body = command_body(
            text=text,
            user=user,
            team_id=team_id,
            channel=channel,
            response_url=self.fake.response_url(name),
            trigger_id=trigger,
        )
        ack = self.post(body, content_type="application/x-www-form-urlencoded")
        return ack, name, trigger

    def command_replies(
        self,
        text: str,
        *,
        user: str,
        channel: str = "C0001",
        team_id: str = TEAM,
        timeout: float = 15.0,
    ) -> list[dict[str, Any]]:
        """Run a command and wait for its private reply; returns what the response_url got."""
        ack, name, _trigger = self.command(text, user=user, channel=channel, team_id=team_id)
        assert ack.status_code == 200, ack.text
        self.fake.wait_for(lambda f: bool(f.responses(name)), timeout=timeout)
        time.sleep(0.1)  # a second part, if any
        return self.fake.responses(name)

    def submit_form(
        self,
        *,
        user: str,
        private_metadata: str,
        secret: str,
        team_id: str = TEAM,
        callback_id: str = "byok_secret_form",
    ) -> httpx.Response:
        """Submit the key modal with `secret` typed in."""
        values = {"secret_block": {"secret_value": {"type": "plain_text_input", "value": secret}}}
        body = view_submission_body(
            user=user,
            team_id=team_id,
            callback_id=callback_id,
            private_metadata=private_metadata,
            values=values,
        )
        return self.post(body, content_type="application/x-www-form-urlencoded")

    def click(
        self,
        action_id: str,
        value: str,
        *,
        user: str,
        channel: str = "C0001",
        team_id: str = TEAM,
        trigger_id: str | None = None,
    ) -> tuple[httpx.Response, str, bytes]:
        """Press a Block Kit button; the ack, the response_url name and the signed body."""
        name = next_id("click")
        body = block_actions_body(
            user=user,
            team_id=team_id,
            action_id=action_id,
            value=value,
            channel=channel,
            response_url=self.fake.response_url(name),
            trigger_id=trigger_id,
        )
        return self.post(body, content_type="application/x-www-form-urlencoded"), name, body

    def admin(self, text: str, *, team_id: str = TEAM, user: str = "UADMIN") -> str:
        """Run a command as a workspace admin and return its (ephemeral) reply text."""
        replies = self.command_replies(text, user=user, team_id=team_id)
        assert all(r.get("response_type") == "ephemeral" for r in replies), replies
        return "\n".join(str(r.get("text", "")) for r in replies)

    def create_agent(
        self,
        provider_url: str,
        *,
        name: str = "writer",
        channel: str | None = "C0001",
        all_messages: bool = False,
        team_id: str = TEAM,
        user: str = "UADMIN",
    ) -> None:
        """key add + agent create (+ agent bind) through real slash commands."""
        key = f"{name}-key"
        reply = self.admin(
            f"key add openai {key} test-key --base-url {provider_url} --no-verify",
            team_id=team_id,
            user=user,
        )
        assert "stored" in reply, reply
        reply = self.admin(
            f"agent create {name} --key {key} --model gpt-4o-mini", team_id=team_id, user=user
        )
        assert "created" in reply, reply
        if channel is not None:
            flag = " --all-messages" if all_messages else ""
            reply = self.admin(f"agent bind {name} <#{channel}>{flag}", team_id=team_id, user=user)
            assert "bound" in reply, reply
