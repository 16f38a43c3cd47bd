"""Slack's v0 request signing, and builders for the requests Slack sends a bot.

`sign()` computes `X-Slack-Signature` exactly as Slack does:
`v0=` + hex(HMAC-SHA256(signing secret, "v0:<timestamp>:<raw body>")).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
import urllib.parse
from typing import Any

_ids = itertools.count(1)


def sign(secret: str, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    """The two signature headers for `body` at `timestamp` (default: now)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + ts.encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": "v0=" + digest}


def next_id(prefix: str) -> str:
    """A process-unique id such as `Ev000042`."""
    return f"{prefix}{next(_ids):06d}"


def next_ts() -> str:
    """A fresh message timestamp."""
    n = next(_ids)
    return f"{1_800_000_000 + n}.{n:06d}"


def event_body(
    event: dict[str, Any], *, team_id: str, event_id: str | None = None, api_app_id: str = "A0001"
) -> tuple[bytes, str]:
    """An Events API envelope (JSON) around `event`; returns (body, event_id)."""
    eid = event_id or next_id("Ev")
    envelope = {
        "token": "legacy-verification-token",
        "team_id": team_id,
        "api_app_id": api_app_id,
        "event": event,
        "type": "event_callback",
        "event_id": eid,
        "event_time": int(time.time()),
        "authorizations": [
            {"team_id": team_id, "user_id": "UBOT", "is_bot": True, "enterprise_id": None}
        ],
    }
    return json.dumps(envelope).encode(), eid


def message_event(
    *,
    user: str,
    text: str,
    channel: str,
    channel_type: str = "channel",
    ts: str | None = None,
    thread_ts: str | None = None,
    event_type: str = "message",
    team: str = "T0001",
    **extra: Any,
) -> dict[str, Any]:
    """A `message` (or `app_mention`) event."""
    event: dict[str, Any] = {
        "type": event_type,
        "user": user,
        "text": text,
        "channel": channel,
        "ts": ts or next_ts(),
        "team": team,
        "event_ts": ts or next_ts(),
    }
    if event_type == "message":
        event["channel_type"] = channel_type
    if thread_ts is not None:
        event["thread_ts"] = thread_ts
    event.update(extra)
    return event


def command_body(
    *,
    text: str,
    user: str,
    team_id: str = "T0001",
    channel: str = "C0001",
    response_url: str,
    trigger_id: str | None = None,
    command: str = "/byok",
) -> bytes:
    """A slash-command POST body (form-encoded)."""
    fields = {
        "token": "legacy-verification-token",
        "team_id": team_id,
        "team_domain": "fake",
        "channel_id": channel,
        "channel_name": "directmessage" if channel.startswith("D") else "general",
        "user_id": user,
        "user_name": user.lower(),
        "command": command,
        "text": text,
        "api_app_id": "A0001",
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id or next_id("trig"),
    }
    return urllib.parse.urlencode(fields).encode()


def view_submission_body(
    *,
    user: str,
    team_id: str,
    callback_id: str,
    private_metadata: str,
    values: dict[str, dict[str, dict[str, Any]]],
) -> bytes:
    """An interactivity POST body (`payload=` JSON) for a modal submission."""
    payload = {
        "type": "view_submission",
        "team": {"id": team_id, "domain": "fake"},
        "user": {"id": user, "username": user.lower(), "team_id": team_id},
        "api_app_id": "A0001",
        "token": "legacy-verification-token",
        "trigger_id": next_id("trig"),
        "view": {
            "id": next_id("V"),
            "team_id": team_id,
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": private_metadata,
            "state": {"values": values},
            "hash": "h",
        },
        "response_urls": [],
        "is_enterprise_install": False,
    }
    return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()


def block_actions_body(
    *,
    user: str,
    team_id: str,
    action_id: str,
    value: str,
    channel: str,
    response_url: str,
    trigger_id: str | None = None,
) -> bytes:
    """An interactivity POST body (`payload=` JSON) for a click on a Block Kit button."""
    payload = {
        "type": "block_actions",
        "team": {"id": team_id, "domain": "fake"},
        "user": {"id": user, "username": user.lower(), "team_id": team_id},
        "api_app_id": "A0001",
        "token": "legacy-verification-token",
        "trigger_id": trigger_id or next_id("trig"),
        "container": {"type": "message", "channel_id": channel, "is_ephemeral": False},
        "channel": {"id": channel, "name": "general"},
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": next_id("B"),
                "value": value,
                "action_ts": next_ts(),
            }
        ],
        "is_enterprise_install": False,
    }
    return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
