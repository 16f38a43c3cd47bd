"""Fixtures of the Discord tests: the fake Discord, a real `byokbot serve` on it, a driver.

`fake` → `env` → `serve` → `discord` build on each other; a module that needs another
set-up overrides only the fixture that differs. `provider` (the fake OpenAI, reset
around each test) and `serve` come from tests/kits/serve_fixtures.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.discord import FakeDiscord
from tests.fakes.discord_driver import DiscordDriver, discord_env
from tests.kits.helpers import ServeProcess
from tests.kits.serve_fixtures import *  # noqa: F403  # provider, serve and what they need


@pytest.fixture
def fake() -> Iterator[FakeDiscord]:
    """The fake Discord: REST API and gateway, one guild the bot shares with the users."""
    with FakeDiscord() as api:
        yield api


@pytest.fixture
def env(database_url: str, master_key: str, fake: FakeDiscord) -> dict[str, str]:
    """`byokbot serve`'s environment: Discord only, against `fake`."""
    return discord_env(database_url=database_url, master_key=master_key, fake=fake)


@pytest.fixture
def discord(serve: ServeProcess, fake: FakeDiscord) -> DiscordDriver:
    """Plays Discord's part against `serve`, once the bot is connected and ready."""
    driver = DiscordDriver(fake, log=serve.log_text)
    driver.wait_ready()
    return driver
