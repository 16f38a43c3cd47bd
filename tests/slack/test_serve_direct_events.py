"""Message events answered without bolt's dispatch keep bolt's authorization (HTTP, one token).

`adapters/slack/direct.py` authorizes as bolt's single-team authorization does: one
`auth.test`, kept once it succeeded. An event it could not authorize is left to bolt
(whose own authorization decides, as before); nothing is dropped on the way.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from tests.fakes.providers import FakeOpenAI
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_driver import SlackDriver
from tests.fakes.slack_signing import message_event, next_ts
from tests.kits.serve_fixtures import usage_rows
from tests.kits.slack_replies import answered


def mention(slack: SlackDriver, text: str) -> None:
    """Mention the bot in C0001."""
    slack.event(
        message_event(
            user="UMEMBER",
            text=f"<@UBOT> {text}",
            channel="C0001",
            ts=next_ts(),
            event_type="app_mention",
        )
    )


def test_a_refused_auth_test_is_tried_again_and_a_success_is_kept(
    slack: SlackDriver, fake: FakeSlackAPI, provider: FakeOpenAI, engine: Engine
) -> None:
    slack.create_agent(provider.base_url)  # bolt authorized the commands already
    before = len(fake.calls_to("auth.test"))
    fake.fail("auth.test", status=200, error="invalid_auth", times=1)

    mention(slack, "first")  # refused on the direct path: bolt answers it
    fake.wait_for(answered, timeout=20)
    assert len(fake.calls_to("auth.test")) == before + 1

    mention(slack, "second")  # tried again, and this time it works
    fake.wait_for(lambda f: answered(f, count=2), timeout=20)
    assert len(fake.calls_to("auth.test")) == before + 2

    mention(slack, "third")  # kept: no further auth.test
    fake.wait_for(lambda f: answered(f, count=3), timeout=20)
    assert len(fake.calls_to("auth.test")) == before + 2
    assert len(provider.chat_requests) == 3
    fake.wait_for(lambda _f: usage_rows(engine) == 3, timeout=20)
