"""Fuzzing the real `byokbot serve`: arbitrary correctly signed bodies to /slack/events.

Guarantee 4: whatever a signed body holds — any JSON, Slack-shaped envelopes with
values of the wrong types, form bodies, `payload=` interactions — the answer is never a
5xx, and the log never shows a traceback from the HTTP server.
"""

from __future__ import annotations

import json
import urllib.parse

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fakes import slack_api
from tests.fakes.slack_driver import SlackDriver

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
# The fields Slack's envelopes and bolt's context extraction read, with any value at all.
FIELDS = (
    "type",
    "team_id",
    "user_id",
    "channel_id",
    "trigger_id",
    "event_id",
    "enterprise_id",
    "enterprise",
    "team",
    "user",
    "channel",
    "event",
    "view",
    "actions",
    "authorizations",
    "response_url",
    "response_urls",
    "is_enterprise_install",
    "is_ext_shared_channel",
    "command",
    "text",
    "callback_id",
    "message",
    "container",
)
TYPES = st.sampled_from(
    [
        "event_callback",
        "url_verification",
        "view_submission",
        "view_closed",
        "block_actions",
        "shortcut",
        "message_action",
        "block_suggestion",
        "app_rate_limited",
    ]
)
EVENTS = st.fixed_dictionaries(
    {"type": st.sampled_from(["message", "app_mention", "app_uninstalled", "tokens_revoked"])},
    optional={
        name: JSON_VALUES | st.text(max_size=10)
        for name in ("user", "text", "channel", "channel_type", "ts", "thread_ts", "subtype")
    },
)
ENVELOPES = st.fixed_dictionaries(
    {"type": TYPES},
    optional={
        **{name: JSON_VALUES for name in FIELDS if name != "type"},
        "event": EVENTS | JSON_VALUES,
    },
)


def _form(fields: dict[str, str]) -> bytes:
    return urllib.parse.urlencode(fields).encode()


BODIES = st.one_of(
    JSON_VALUES.map(lambda v: (json.dumps(v).encode(), JSON)),
    ENVELOPES.map(lambda v: (json.dumps(v).encode(), JSON)),
    ENVELOPES.map(lambda v: (_form({"payload": json.dumps(v)}), FORM)),
    JSON_VALUES.map(lambda v: (_form({"payload": json.dumps(v)}), FORM)),
    st.text(max_size=60).map(lambda t: (_form({"payload": t}), FORM)),
    st.dictionaries(st.sampled_from(FIELDS), st.text(max_size=12), max_size=8).map(
        lambda d: (_form({**d, "command": "/byok"}), FORM)
    ),
    st.binary(max_size=80).map(lambda b: (b, FORM)),
    st.binary(max_size=80).map(lambda b: (b, JSON)),
)


def test_signed_arbitrary_bodies_never_get_a_5xx_nor_a_traceback(slack: SlackDriver) -> None:
    statuses: list[int] = []

    # One serve process for every example (a fresh one each would take minutes): the
    # server must come out of the whole run unharmed, and its log is read at the end.
    @settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(body=BODIES)
    def attack(body: tuple[bytes, str]) -> None:
        raw, ctype = body
        status = slack.post(raw, content_type=ctype).status_code
        statuses.append(status)
        assert status < 500, (raw, status)

    attack()
    assert len(statuses) >= 100
    # Still serving: a real command is answered.
    assert slack.command_replies("help", user=slack_api.MEMBER)
    log = slack.log()
    assert "Error handling request" not in log and "Traceback" not in log
