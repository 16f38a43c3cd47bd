"""Fixtures of the Discord tests: the fake Discord, a real `byokbot serve` on it, a driver.

`fake` → `env` → `serve` → `discord` build on each other, fresh for each test; a module
that needs another set-up overrides only the fixture that differs. `provider` (the fake
OpenAI, reset around each test) and `serve` come from tests/kits/serve_fixtures.py.

`shared_fake` → `shared_env` → `shared_serve` → `shared_discord` are the same, made once
per module on one database (`module_database_url`): starting `byokbot serve` is what costs
a test its time, so a test that needs neither an empty database nor a process of its own
(a restart, a signal, the gateway's first connections) uses these. `shared_discord`
clears what the fake recorded, once the bot is quiet, so such a test sees only its own
calls; it makes its own agent names (`fresh_agent`) because the database is not emptied.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import pytest

from bot.vault.masterkey import generate_key
from tests.fakes.discord import FakeDiscord
from tests.fakes.discord_driver import DiscordDriver, discord_env
from tests.fakes.discord_gateway import ADMIN
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


@pytest.fixture(scope="module")
def shared_fake() -> Iterator[FakeDiscord]:
    """The module's fake Discord (its records are cleared before each test)."""
    with FakeDiscord() as api:
        yield api


@pytest.fixture(scope="module")
def shared_env(module_database_url: str, shared_fake: FakeDiscord) -> dict[str, str]:
    """`shared_serve`'s environment: Discord only, against `shared_fake`."""
    return discord_env(
        database_url=module_database_url, master_key=generate_key(), fake=shared_fake
    )


@pytest.fixture(scope="module")
def shared_serve(
    shared_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServeProcess]:
    """The module's one `byokbot serve`, stopped after its last test."""
    with ServeProcess(env=shared_env, cwd=tmp_path_factory.mktemp("shared-serve")) as process:
        yield process


@pytest.fixture
def shared_discord(shared_serve: ServeProcess, shared_fake: FakeDiscord) -> Iterator[DiscordDriver]:
    """The driver on `shared_serve`, its fake's records empty; the process must outlive the test."""
    driver = DiscordDriver(shared_fake, log=shared_serve.log_text)
    driver.wait_ready()
    forget_calls(shared_fake)
    yield driver
    assert shared_serve.process.poll() is None, shared_serve.log_text()


def forget_calls(fake: FakeDiscord, *, quiet: float = 0.3) -> None:
    """Once no call came for `quiet` seconds, clear what the fake recorded and was told."""
    seen, quiet_since = -1, time.monotonic()
    while time.monotonic() - quiet_since < quiet:  # a late edit of the last test's answer
        if len(fake.calls) != seen:
            seen, quiet_since = len(fake.calls), time.monotonic()
        time.sleep(0.05)
    fake.forget()


_AGENTS = itertools.count(1)


def fresh_agent(
    discord: DiscordDriver, provider_url: str, *, bind: bool = True, all_messages: bool = False
) -> str:
    """`create_agent` under a name no earlier test used (binding replaces); returns it."""
    name = f"writer{next(_AGENTS)}"
    discord.create_agent(provider_url, name=name, bind=bind, all_messages=all_messages, user=ADMIN)
    return name
