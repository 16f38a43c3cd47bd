"""Fixtures of the Slack tests: the fake Web API, a real `byokbot serve` on it, a driver.

`fake` → `env` → `serve` → `slack` build on each other; a module that needs a different
Slack set-up (OAuth, Socket Mode) overrides only `fake` or `env`. `provider` (the fake
OpenAI, reset around each test) and `serve` come from tests/kits/serve_fixtures.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_driver import SIGNING_SECRET, SlackDriver, serve_env
from tests.kits.helpers import ServeProcess
from tests.kits.serve_fixtures import *  # noqa: F403  # provider, serve and what they need


@pytest.fixture
def fake() -> Iterator[FakeSlackAPI]:
    """The fake Slack Web API (one workspace, the default bot token)."""
    with FakeSlackAPI() as api:
        yield api


@pytest.fixture
def env(database_url: str, master_key: str, fake: FakeSlackAPI) -> dict[str, str]:
    """`byokbot serve`'s environment: single-workspace HTTP mode against `fake`."""
    return serve_env(
        database_url=database_url, master_key=master_key, fake=fake, secret=SIGNING_SECRET
    )


@pytest.fixture
def slack(serve: ServeProcess, fake: FakeSlackAPI) -> Iterator[SlackDriver]:
    """Plays Slack's part against `serve`: signed events, commands, modal submissions."""
    driver = SlackDriver(serve.url, secret=SIGNING_SECRET, fake=fake, log=serve.log_text)
    yield driver
    driver.close()
