"""Fixtures every platform folder shares (tests/slack, tests/discord): `provider`, `serve`.

Import them into a platform's conftest.py, which defines `env` (the environment `serve`
runs `byokbot serve` with) and the platform's own fake and driver:

    from tests.kits.serve_fixtures import *  # noqa: F403

`usage_rows` (not a fixture) counts what the serve process has recorded so far.

`shared_slack` (with `shared_slack_fake`, `shared_slack_serve`, `shared_tmp`) is one Slack
`byokbot serve` for a whole module, on `module_database_url`: starting the process is what
costs a test its time, so a test that needs neither an empty database nor a process of its
own imports these by name. Each test's driver starts on a fake whose records are cleared
(`forget_slack_calls`, once the bot is quiet); the database is not emptied, so such a test
names its agents afresh.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from bot.vault.masterkey import generate_key
from tests.fakes.fixtures import _openai_server, openai_fake
from tests.fakes.providers import FakeOpenAI
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_driver import SIGNING_SECRET, SlackDriver, serve_env
from tests.kits.helpers import ServeProcess

# `provider` needs `openai_fake`, which needs the session server: pytest must see all three.
__all__ = ["_openai_server", "openai_fake", "provider", "serve"]


@pytest.fixture
def provider(request: pytest.FixtureRequest) -> FakeOpenAI:
    """The fake OpenAI the tests' agents answer with (`openai_fake`: reset around the test)."""
    server: FakeOpenAI = request.getfixturevalue("openai_fake")
    return server


@pytest.fixture
def serve(env: dict[str, str], tmp_path: Path) -> Iterator[ServeProcess]:
    """The real `byokbot serve` process with the platform's `env`, stopped after the test."""
    with ServeProcess(env=env, cwd=tmp_path) as process:
        yield process


def usage_rows(engine: Engine) -> int:
    """How many usage rows there are now (a fresh connection: no stale snapshot)."""
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM usage_events")).scalar_one())


@pytest.fixture(scope="module")
def shared_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared serve process's own TMPDIR (a test may check it stays empty)."""
    return tmp_path_factory.mktemp("private-tmp")


@pytest.fixture(scope="module")
def shared_slack_fake() -> Iterator[FakeSlackAPI]:
    """The module's fake Slack (its records are cleared before each test)."""
    with FakeSlackAPI() as api:
        yield api


@pytest.fixture(scope="module")
def shared_slack_serve(
    module_database_url: str,
    shared_slack_fake: FakeSlackAPI,
    shared_tmp: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServeProcess]:
    """The module's one Slack `byokbot serve`, with `shared_tmp` as its TMPDIR."""
    env = serve_env(
        database_url=module_database_url,
        master_key=generate_key(),
        fake=shared_slack_fake,
        secret=SIGNING_SECRET,
    )
    env["TMPDIR"] = str(shared_tmp)
    with ServeProcess(env=env, cwd=tmp_path_factory.mktemp("shared-serve")) as process:
        yield process


@pytest.fixture
def shared_slack(
    shared_slack_serve: ServeProcess, shared_slack_fake: FakeSlackAPI
) -> Iterator[SlackDriver]:
    """The driver on `shared_slack_serve`, its fake's records empty; the process outlives it."""
    forget_slack_calls(shared_slack_fake)
    driver = SlackDriver(
        shared_slack_serve.url,
        secret=SIGNING_SECRET,
        fake=shared_slack_fake,
        log=shared_slack_serve.log_text,
    )
    yield driver
    driver.close()
    assert shared_slack_serve.process.poll() is None, shared_slack_serve.log_text()


def forget_slack_calls(fake: FakeSlackAPI, *, quiet: float = 0.3) -> None:
    """Once no call came for `quiet` seconds, clear what the fake recorded and was told."""
    seen, quiet_since = -1, time.monotonic()
    while time.monotonic() - quiet_since < quiet:  # a late update of the last test's answer
        if len(fake.all_calls()) != seen:
            seen, quiet_since = len(fake.all_calls()), time.monotonic()
        time.sleep(0.05)
    fake.forget()
