"""Multi-workspace install through Slack OAuth, against the real `byokbot serve`.

The install and redirect routes, `oauth.v2.access` on the fake Web API, the installation
store (token sealed in our database), isolation between two workspaces and uninstall.
"""

from __future__ import annotations

import re
import time
import urllib.parse
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.fakes import slack_api
from tests.fakes.providers import FakeOpenAI
from tests.fakes.slack_api import FakeSlackAPI, Team
from tests.fakes.slack_driver import SIGNING_SECRET, SlackDriver, base_env
from tests.fakes.slack_signing import message_event
from tests.kits.slack_replies import answered, thread_replies

CLIENT_ID = "1111.2222"
TEAM_ONE = Team(team_id="T0001", token="xoxb-team-one-oauth-token", name="One")
TEAM_TWO = Team(team_id="T0002", token="xoxb-team-two-oauth-token", bot_user_id="UBOT2", name="Two")


@pytest.fixture
def fake() -> Iterator[FakeSlackAPI]:
    with FakeSlackAPI(token="xoxb-unused-default") as api:
        yield api


@pytest.fixture
def env(database_url: str, master_key: str, fake: FakeSlackAPI) -> dict[str, str]:
    """Multi-workspace OAuth mode: a client id and secret, no single bot token."""
    return {
        **base_env(database_url=database_url, master_key=master_key, fake=fake),
        "SLACK_CLIENT_ID": CLIENT_ID,
        "SLACK_CLIENT_SECRET": "client-secret-value",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
    }


def install(slack: SlackDriver, fake: FakeSlackAPI, team: Team, code: str) -> httpx.Response:
    """Walk the browser through /slack/install and back to /slack/oauth_redirect."""
    page = httpx.get(slack.url + "/slack/install")
    assert page.status_code == 200
    link = re.search(r'href="(https://slack\.com/oauth/v2/authorize\?[^"]+)"', page.text)
    assert link is not None, page.text
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(link.group(1).replace("&amp;", "&")).query)
    assert query["client_id"] == [CLIENT_ID]
    assert "chat:write" in query["scope"][0] and "commands" in query["scope"][0]
    state = query["state"][0]
    cookie = page.headers["set-cookie"].split(";")[0]
    fake.add_oauth_code(code, team)
    return httpx.get(
        slack.url + "/slack/oauth_redirect",
        params={"code": code, "state": state},
        headers={"Cookie": cookie},
    )


def raw_rows(engine: Engine) -> bytes:
    out = b""
    with engine.connect() as conn:
        for row in conn.execute(text("SELECT * FROM slack_installations")):
            for value in row:
                out += value if isinstance(value, bytes) else str(value).encode()
    return out


def test_install_stores_a_sealed_installation_and_workspaces_stay_isolated(
    slack: SlackDriver, fake: FakeSlackAPI, provider: FakeOpenAI, engine: Engine
) -> None:
    done = install(slack, fake, TEAM_ONE, "code-one")
    assert done.status_code == 200, done.text
    (access,) = fake.calls_to("oauth.v2.access")
    assert access.params["code"] == "code-one"
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT workspace_id, bot_user_id FROM slack_installations"))
        assert rows.all() == [("slack:T0001", "UBOT")]
    assert TEAM_ONE.token.encode() not in raw_rows(engine)

    assert install(slack, fake, TEAM_TWO, "code-two").status_code == 200
    assert TEAM_TWO.token.encode() not in raw_rows(engine)

    slack.create_agent(provider.base_url, team_id="T0001")
    # Workspace two sees none of workspace one's keys or agents.
    listed = slack.admin("key list", team_id="T0002", user=slack_api.OTHER_ADMIN)
    assert "writer-key" not in listed
    assert "writer" not in slack.admin("agent list", team_id="T0002", user=slack_api.OTHER_ADMIN)

    before = len(fake.all_calls())
    slack.event(
        message_event(user="UMEMBER", text="<@UBOT> hi", channel="C0001", event_type="app_mention"),
        team_id="T0001",
    )
    fake.wait_for(answered)
    slack.event(
        message_event(
            user="UMEMBER2",
            text="<@UBOT2> hi",
            channel="C0001",
            event_type="app_mention",
            team="T0002",
        ),
        team_id="T0002",
    )
    fake.wait_for(lambda f: bool(f.calls_to("chat.postEphemeral")))
    assert len(provider.chat_requests) == 1  # workspace two has no agent: a hint, no call
    calls = fake.all_calls()[before:]
    tokens = {c.method: c.token for c in calls if c.method != "auth.test"}
    (reply,) = thread_replies(fake)  # posted whole or streamed, by workspace one's bot
    assert {c.token for c in calls if c.ts == reply.ts} == {TEAM_ONE.token}
    assert tokens["chat.postEphemeral"] == TEAM_TWO.token


def test_redirect_with_a_forged_state_installs_nothing(
    slack: SlackDriver, fake: FakeSlackAPI, engine: Engine
) -> None:
    fake.add_oauth_code("code-x", TEAM_ONE)
    response = httpx.get(
        slack.url + "/slack/oauth_redirect",
        params={"code": "code-x", "state": "forged-state"},
        headers={"Cookie": "slack-app-oauth-state=forged-state"},
    )
    assert response.status_code >= 400
    assert not fake.calls_to("oauth.v2.access")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM slack_installations")).scalar() == 0


def test_uninstall_and_token_revocation_delete_that_workspaces_tokens(
    slack: SlackDriver, fake: FakeSlackAPI, engine: Engine
) -> None:
    assert install(slack, fake, TEAM_ONE, "code-one").status_code == 200
    assert install(slack, fake, TEAM_TWO, "code-two").status_code == 200
    ack, _ = slack.event({"type": "app_uninstalled", "event_ts": "1.0"}, team_id="T0001")
    assert ack.status_code == 200
    revoked = {"type": "tokens_revoked", "tokens": {"oauth": ["UADMIN"], "bot": []}}
    slack.event(revoked, team_id="T0002")  # only a user token: the bot token stays
    time.sleep(0.5)
    with engine.connect() as conn:
        ids = conn.execute(text("SELECT workspace_id FROM slack_installations")).scalars().all()
    assert ids == ["slack:T0002"]
    revoked = {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["UBOT2"]}}
    slack.event(revoked, team_id="T0002")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            if not conn.execute(text("SELECT count(*) FROM slack_installations")).scalar():
                break
        time.sleep(0.1)
    else:
        raise AssertionError("tokens_revoked did not delete the installation")
    # An uninstalled workspace's events are not answered with any token.
    before = len(fake.all_calls())
    slack.event(
        message_event(user="UMEMBER", text="<@UBOT> hi", channel="C0001", event_type="app_mention"),
        team_id="T0001",
    )
    time.sleep(0.5)
    assert [c.method for c in fake.all_calls()[before:]] == []
