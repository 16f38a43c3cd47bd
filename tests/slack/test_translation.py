"""Slack payload translation, admin verdicts, v0 signature checks and text splitting."""

from __future__ import annotations

import time

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.adapter import BOT_SCOPES, EVENTS_PATH, REDIRECT_PATH
from adapters.slack.admins import AdminVerdicts, verdict_from_user
from adapters.slack.plugin import SlackPlugin, slack_mode, what_is_missing
from adapters.slack.signature import signature_problem
from adapters.slack.text import MESSAGE_LIMIT, escape, split_text
from adapters.slack.translation import (
    command_request,
    history_from_replies,
    incoming_message,
    is_human_message,
    mentions,
    strip_mention,
    team_of,
)
from bot.boundary import Sender, Standing
from bot.config import Settings
from tests.fakes import slack_api
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_signing import sign
from tests.kits.helpers import REPO

SECRET = "signing-secret"


# -- signatures -------------------------------------------------------------------------
def test_signature_from_the_real_v0_scheme_is_accepted() -> None:
    body = b'{"type":"event_callback"}'
    headers = sign(SECRET, body)
    problem = signature_problem(
        secret=SECRET,
        body=body,
        timestamp=headers["X-Slack-Request-Timestamp"],
        signature=headers["X-Slack-Signature"],
        now=time.time(),
    )
    assert problem is None


@pytest.mark.parametrize(
    ("secret", "age", "tamper", "expected"),
    [
        ("other-secret", 0, False, "signature mismatch"),
        (SECRET, 301, False, "stale timestamp"),
        (SECRET, -301, False, "stale timestamp"),
        (SECRET, 0, True, "signature mismatch"),
    ],
)
def test_forged_stale_and_tampered_requests_are_refused(
    secret: str, age: int, tamper: bool, expected: str
) -> None:
    body = b"payload=%7B%7D"
    now = int(time.time())
    headers = sign(secret, body, timestamp=now - age)
    problem = signature_problem(
        secret=SECRET,
        body=body + (b"x" if tamper else b""),
        timestamp=headers["X-Slack-Request-Timestamp"],
        signature=headers["X-Slack-Signature"],
        now=now,
    )
    assert problem == expected


@pytest.mark.parametrize(
    ("timestamp", "signature"), [(None, "v0=abc"), ("123", None), ("", ""), ("soon", "v0=a")]
)
def test_missing_or_malformed_signature_headers_are_refused(
    timestamp: str | None, signature: str | None
) -> None:
    problem = signature_problem(
        secret=SECRET, body=b"{}", timestamp=timestamp, signature=signature, now=time.time()
    )
    assert problem is not None


# -- messages ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "event",
    [
        {"user": "UBOT", "text": "my own message"},
        {"user": "U1", "bot_id": "B9", "text": "another bot"},
        {"subtype": "bot_message", "bot_id": "B9", "text": "legacy bot"},
        {"subtype": "message_changed", "message": {"user": "U1", "text": "edited"}},
        {"subtype": "message_deleted", "previous_message": {"user": "U1"}},
        {"subtype": "channel_join", "user": "U1", "text": "joined"},
        {"text": "no user at all"},
    ],
)
def test_bots_edits_and_system_messages_are_not_human(event: dict[str, object]) -> None:
    assert not is_human_message(event, bot_user_id="UBOT")


@pytest.mark.parametrize("subtype", [None, "file_share", "thread_broadcast"])
def test_human_messages_are_recognised(subtype: str | None) -> None:
    event = {"user": "U1", "text": "hello", **({"subtype": subtype} if subtype else {})}
    assert is_human_message(event, bot_user_id="UBOT")


def test_mention_is_stripped_and_entities_unescaped() -> None:
    event = {
        "type": "app_mention",
        "user": "U1",
        "text": "<@UBOT|byokbot> writer: is 1 &lt; 2 &amp;&amp; 3 &gt; 2?",
        "channel": "C1",
        "ts": "10.5",
        "thread_ts": "9.1",
    }
    message = incoming_message(
        event, team_id="T1", event_id="Ev1", bot_user_id="UBOT", mentions_bot=True, history=None
    )
    assert message.text == "writer: is 1 < 2 && 3 > 2?"
    assert message.place.workspace_id == "slack:T1"
    assert message.place.thread_id == "9.1"  # reply in the existing thread
    assert message.event_id == "Ev1" and message.mentions_bot
    assert mentions(event["text"], "UBOT") and not mentions(event["text"], "UB")
    assert strip_mention("<@UOTHER> hi <@UBOT>", "UBOT") == "<@UOTHER> hi"


def test_top_level_message_starts_a_thread_under_itself_and_dm_is_direct() -> None:
    event = {"user": "U1", "text": "hi", "channel": "D42", "channel_type": "im", "ts": "77.1"}
    message = incoming_message(
        event, team_id="T1", event_id="Ev2", bot_user_id="UBOT", mentions_bot=False, history=None
    )
    assert message.place.thread_id == "77.1"
    assert message.place.is_direct


def test_team_is_found_in_every_payload_shape() -> None:
    assert team_of({"team_id": "T1"}) == "T1"
    assert team_of({"team": {"id": "T2"}}) == "T2"
    assert team_of({"user": {"id": "U", "team_id": "T3"}}) == "T3"
    assert team_of({"event": {"team": "T4"}}) == "T4"
    assert team_of({"enterprise": {"id": "E5"}}) == "E5"
    assert team_of({}) is None


def test_command_request_carries_the_verdict_and_never_shows_the_text() -> None:
    request = command_request(
        {"user_id": "U1", "user_name": "ann", "channel_id": "D9", "text": " key add x sk-1 "},
        team_id="T1",
        is_admin=True,
    )
    assert request.sender.is_platform_admin and request.place.is_direct
    assert request.text == "key add x sk-1"
    assert "sk-1" not in repr(request)


def test_thread_history_roles_order_and_bound() -> None:
    messages = [
        {"user": "U1", "text": "<@UBOT> first question", "ts": "1.0"},
        {"bot_id": "BBOT", "user": "UBOT", "text": "first answer", "ts": "2.0"},
        {"bot_id": "BOTHER", "user": "UOTHER", "text": "noise from another bot", "ts": "3.0"},
        {"subtype": "channel_join", "user": "U2", "text": "joined", "ts": "4.0"},
        {"user": "U2", "text": "a &amp; b", "ts": "5.0"},
        {"user": "U1", "text": "the current message", "ts": "6.0"},
        {"user": "U1", "text": "later", "ts": "7.0"},
    ]
    turns = history_from_replies(
        messages, current_ts="6.0", bot_user_id="UBOT", bot_id="BBOT", limit=50
    )
    assert [(t.role, t.text) for t in turns] == [
        ("user", "first question"),
        ("assistant", "first answer"),
        ("user", "a & b"),
    ]
    bounded = history_from_replies(
        messages, current_ts="6.0", bot_user_id="UBOT", bot_id="BBOT", limit=2
    )
    assert [t.text for t in bounded] == ["first answer", "a & b"]


# -- admin verdicts -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("user_id", "expected"),
    [
        (slack_api.ADMIN, True),
        (slack_api.OWNER, True),
        (slack_api.MEMBER, False),
        (slack_api.GUEST, False),  # an admin flag on a guest account does not count
        (slack_api.ULTRA_GUEST, False),
        (slack_api.EXTERNAL_ADMIN, False),  # admin of another team (Slack Connect)
        (slack_api.STRANGER, False),
        (slack_api.FAILING, False),  # failed look-up denies
        (slack_api.BOT_USER, False),
        ("UNKNOWN", False),
    ],
)
async def test_admin_verdict_through_users_info(user_id: str, expected: bool) -> None:
    with FakeSlackAPI() as fake:
        client = AsyncWebClient(token=fake.default_token, base_url=fake.base_url)
        verdicts = AdminVerdicts()
        assert await verdicts.is_admin(client, team_id="T0001", user_id=user_id) is expected


async def test_admin_verdict_is_cached_briefly_and_failures_are_not() -> None:
    now = [0.0]
    with FakeSlackAPI() as fake:
        client = AsyncWebClient(token=fake.default_token, base_url=fake.base_url)
        verdicts = AdminVerdicts(ttl=60, clock=lambda: now[0])
        for _ in range(3):
            assert await verdicts.is_admin(client, team_id="T0001", user_id=slack_api.ADMIN)
        assert len(fake.calls_to("users.info")) == 1
        now[0] = 61.0
        fake.state.users[slack_api.ADMIN]["is_admin"] = False  # demoted meanwhile
        assert not await verdicts.is_admin(client, team_id="T0001", user_id=slack_api.ADMIN)
        for _ in range(2):
            assert not await verdicts.is_admin(client, team_id="T0001", user_id="UFAILING")
        assert len(fake.calls_to("users.info")) == 4


async def test_unreachable_slack_denies_admin() -> None:
    client = AsyncWebClient(token="xoxb-x", base_url="http://127.0.0.1:9/api/", timeout=2)
    assert not await AdminVerdicts().is_admin(client, team_id="T0001", user_id="UADMIN")


def test_enterprise_member_of_the_team_may_be_admin() -> None:
    user = {
        "is_admin": True,
        "team_id": "THOME",
        "enterprise_user": {"enterprise_id": "E1", "teams": ["T1", "THOME"]},
    }
    assert verdict_from_user(user, team_id="T1", enterprise_id="E1")
    assert not verdict_from_user(user, team_id="T1", enterprise_id="E2")
    assert not verdict_from_user(user, team_id="T1", enterprise_id=None)


@pytest.mark.parametrize(
    ("user_id", "expected"),
    [
        (slack_api.ADMIN, Standing.PLATFORM_ADMIN),
        (slack_api.MEMBER, Standing.MEMBER),  # a grant may make a full member an admin
        (slack_api.GUEST, Standing.NEVER),
        (slack_api.ULTRA_GUEST, Standing.NEVER),
        (slack_api.EXTERNAL_ADMIN, Standing.NEVER),
        (slack_api.EXTERNAL_MEMBER, Standing.NEVER),
        (slack_api.STRANGER, Standing.NEVER),
        (slack_api.FAILING, Standing.NEVER),
        (slack_api.BOT_USER, Standing.NEVER),
        ("", Standing.NEVER),
    ],
)
async def test_standing_is_never_for_guests_externals_and_failed_lookups(
    user_id: str, expected: Standing
) -> None:
    with FakeSlackAPI() as fake:
        client = AsyncWebClient(token=fake.default_token, base_url=fake.base_url)
        standing = await AdminVerdicts().standing(client, team_id="T0001", user_id=user_id)
        assert standing is expected


def test_the_negative_verdict_wins_in_the_sender() -> None:
    guest = Sender.with_standing(Standing.NEVER, user_id="U1")
    assert guest.standing is Standing.NEVER and not guest.is_platform_admin
    assert Sender("U1", is_platform_admin=True, never_admin=True).standing is Standing.NEVER
    assert Sender("U1", is_platform_admin=True).standing is Standing.PLATFORM_ADMIN
    assert Sender("U1").standing is Standing.MEMBER


# -- text --------------------------------------------------------------------------------
def test_split_keeps_every_character_and_respects_the_limit() -> None:
    text = ("word " * 300 + "\n") * 20
    pieces = split_text(text)
    assert "".join(pieces) == text
    assert all(len(p) <= MESSAGE_LIMIT for p in pieces) and len(pieces) > 1
    hard = "x" * (MESSAGE_LIMIT * 2 + 5)
    assert [len(p) for p in split_text(hard)] == [MESSAGE_LIMIT, MESSAGE_LIMIT, 5]
    assert split_text("") == [""]


def test_model_output_cannot_ping_the_channel() -> None:
    assert escape("<!channel> & <@U1>") == "&lt;!channel&gt; &amp; &lt;@U1&gt;"


# -- manifest ----------------------------------------------------------------------------
def test_manifest_asks_for_what_the_adapter_uses() -> None:
    manifest = (REPO / "slack-manifest.yml").read_text()
    scopes_block = manifest.split("    bot:\n", 1)[1].split("settings:", 1)[0]
    scopes = {line.strip()[2:] for line in scopes_block.splitlines() if line.strip()}
    assert scopes == set(BOT_SCOPES)
    events_block = manifest.split("bot_events:\n", 1)[1].split("interactivity:", 1)[0]
    events = {line.strip()[2:] for line in events_block.splitlines() if line.strip()}
    assert events == {
        "app_mention",
        "message.channels",
        "message.groups",
        "message.im",
        "app_uninstalled",
        "tokens_revoked",
    }
    assert manifest.count(f"url: https://byokbot.example.com{EVENTS_PATH}") == 3
    assert f"https://byokbot.example.com{REDIRECT_PATH}" in manifest
    assert "command: /byok" in manifest and "should_escape: true" in manifest


# -- modes -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("variables", "mode", "missing"),
    [
        (
            {"slack_bot_token": "xoxb-secret-1", "slack_signing_secret": "sig-secret-x"},
            (False, False, True),
            None,
        ),
        (
            {"slack_bot_token": "xoxb-secret-1", "slack_app_token": "xapp-secret-1"},
            (False, True, False),
            None,
        ),
        (
            {
                "slack_client_id": "1111.2222",
                "slack_client_secret": "client-secret-x",
                "slack_signing_secret": "sig-secret-x",
            },
            (True, False, True),
            None,
        ),
        ({"slack_bot_token": "xoxb-secret-1"}, None, "SLACK_SIGNING_SECRET"),
        ({"slack_app_token": "xapp-secret-1"}, None, "SLACK_BOT_TOKEN"),
        (
            {"slack_client_id": "1111.2222", "slack_signing_secret": "sig-secret-x"},
            None,
            "SLACK_CLIENT_SECRET",
        ),
        ({"slack_signing_secret": "sig-secret-x"}, None, "SLACK_BOT_TOKEN"),
    ],
)
def test_mode_follows_the_credentials_and_gaps_are_named(
    variables: dict[str, str], mode: tuple[bool, bool, bool] | None, missing: str | None
) -> None:
    settings = Settings(**variables)  # type: ignore[arg-type]
    found = slack_mode(settings)
    assert (None if found is None else (found.oauth, found.socket, found.http)) == mode
    assert SlackPlugin().is_configured(settings, interactive=False) is (mode is not None)
    if missing is not None:
        error = what_is_missing(settings)
        assert error.setting == missing and missing in str(error)
        for value in variables.values():
            assert value not in str(error)  # never echo a credential
