"""No matching agent: a private hint that fits the workspace's state, and did-you-mean."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.core import Core
from bot.services import Services
from bot.turns.routing import NO_AGENT_HINT, NO_KEY_HINT, Route, no_agent_yet_hint, route
from tests.console.test_console_e2e import ShellRunner
from tests.fakes.fixtures import *  # noqa: F403
from tests.fakes.fixtures import TEST_KEY
from tests.fakes.providers import FakeOpenAI
from tests.kits.turnkit import World, talk

SECRET = "sk-proj-HintSecretValue0123456789abcdefXYZ"


def decide(world: World, text: str, **kwargs: object) -> Route:
    with world.engine.connect() as conn:
        return route(conn, world.message(text, **kwargs))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"channel": "C1"},  # a mention in a channel
        {"is_direct": True, "mentions_bot": False},  # a direct message
    ],
)
def test_each_state_has_its_hint(world: World, kwargs: dict[str, object]) -> None:
    world.workspace()
    text = "<@UBOT> hello" if kwargs.get("mentions_bot", True) else "hello"
    assert decide(world, text, **kwargs).hint == NO_KEY_HINT
    assert "/byok key add" in NO_KEY_HINT and "bind" not in NO_KEY_HINT
    # A revoked key cannot carry an agent: still "add a key".
    world.key("old", secret=TEST_KEY, base_url="https://api.openai.com/v1", status="revoked")
    assert decide(world, text, **kwargs).hint == NO_KEY_HINT
    key_id = world.key("prod", secret=TEST_KEY, base_url="https://api.openai.com/v1")
    hint = decide(world, text, **kwargs).hint
    assert hint == no_agent_yet_hint("prod")
    assert hint is not None and "/byok agent create <name> --key prod" in hint
    world.agent("writer", key_id=key_id)
    assert decide(world, text, **kwargs).hint == NO_AGENT_HINT
    assert "/byok agent bind" in NO_AGENT_HINT and "/byok agent default" in NO_AGENT_HINT


def test_another_workspace_does_not_count(services: Services) -> None:
    mine, theirs = (
        World(services, workspace_id="slack:TA"),
        World(services, workspace_id="slack:TB"),
    )
    mine.workspace()
    theirs.workspace()
    key_id = theirs.key("prod", secret=TEST_KEY, base_url="https://api.openai.com/v1")
    theirs.agent("spy", key_id=key_id)
    assert decide(mine, "<@UBOT> hi", channel="C1").hint == NO_KEY_HINT


async def test_the_hint_is_private_and_costs_nothing(
    services: Services, world: World, openai_fake: FakeOpenAI
) -> None:
    world.workspace()
    sink = await talk(Core(services), world, "<@UBOT> hello", channel="C9")
    assert [(r.kind, r.private, r.text) for r in sink.replies] == [("send", True, NO_KEY_HINT)]
    assert openai_fake.requests == []


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(valid_keys=[SECRET], reply="Zebras graze at dawn.") as server:
        yield server


def test_console_walks_through_the_states(
    fake: FakeOpenAI, database_url: str, tmp_path: Path
) -> None:
    shell = ShellRunner(database_url, tmp_path)
    lines = shell(
        "hello",
        f"/byok key add openai prod {SECRET} --base-url {fake.base_url}",
        "hello",
        "/byok agent create claude --key prod --model gpt-4o-mini",
        "/byok agent create critic --key prod --model gpt-4o",
        "/byok agent delete claude",  # the default goes with it
        "hello",
        "@critc hi",
        "@nobody hi",
    ).stdout.splitlines()
    assert lines[0] == NO_KEY_HINT
    assert lines[2] == no_agent_yet_hint("prod")
    assert lines[6] == NO_AGENT_HINT
    assert lines[7] == (
        "There is no agent named 'critc' here; did you mean `@critic`?"
        " `/byok agent list` shows the agents."
    )
    assert lines[8] == "There is no agent named 'nobody' here; `/byok agent list` shows the agents."
    assert fake.chat_requests == []
