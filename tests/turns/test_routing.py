"""Routing per the SPEC's "Messages" section, on the real database, and through the Core."""

from __future__ import annotations

import pytest

from bot.core import Core
from bot.services import Services
from bot.turns.routing import NO_AGENT_HINT, Route, route
from tests.fakes.fixtures import *  # noqa: F403
from tests.fakes.fixtures import TEST_KEY
from tests.fakes.providers import FakeOpenAI
from tests.kits.turnkit import World, talk


@pytest.fixture
def agents(world: World) -> dict[str, str]:
    """writer (bound to C1), coder (bound to C2 with --all-messages), helper (default)."""
    ids = {
        "writer": world.agent("writer", key_id=None),
        "coder": world.agent("coder", key_id=None),
        "helper": world.agent("helper", key_id=None, default=True),
    }
    world.bind(ids["writer"], "C1")
    world.bind(ids["coder"], "C2", all_messages=True)
    return ids


def decide(world: World, text: str, **kwargs: object) -> Route:
    with world.engine.connect() as conn:
        return route(conn, world.message(text, **kwargs))  # type: ignore[arg-type]


def answered_by(result: Route) -> tuple[str | None, str]:
    return (None if result.agent is None else result.agent.name, result.text)


@pytest.mark.usefixtures("agents")
@pytest.mark.parametrize(
    ("text", "kwargs", "expected"),
    [
        # A mention in a bound channel goes to the bound agent, mention stripped.
        ("<@UBOT> what is a monad?", {"channel": "C1"}, ("writer", "what is a monad?")),
        ("<@UBOT|byokbot> hi", {"channel": "C1"}, ("writer", "hi")),
        # `@byokbot <agent> …` and `@byokbot <agent>: …` go to that agent anywhere.
        ("<@UBOT> coder fix this", {"channel": "C9"}, ("coder", "fix this")),
        ("<@UBOT> coder: fix this", {"channel": "C1"}, ("coder", "fix this")),
        ("<@!4242> helper: hi", {"channel": "C9"}, ("helper", "hi")),  # Discord nickname form
        # DMs: the default agent, or a named one with the colon form.
        (
            "summarise this",
            {"is_direct": True, "mentions_bot": False},
            ("helper", "summarise this"),
        ),
        ("writer: a poem", {"is_direct": True, "mentions_bot": False}, ("writer", "a poem")),
        # A word that is not an agent name is just the start of the question.
        (
            "writer is a noun",
            {"is_direct": True, "mentions_bot": False},
            ("helper", "writer is a noun"),
        ),
        # --all-messages channel: every human message, or the named agent.
        ("any message", {"channel": "C2", "mentions_bot": False}, ("coder", "any message")),
        ("writer: a limerick", {"channel": "C2", "mentions_bot": False}, ("writer", "a limerick")),
    ],
)
def test_routes_to_the_right_agent(
    world: World, text: str, kwargs: dict[str, object], expected: tuple[str, str]
) -> None:
    assert answered_by(decide(world, text, **kwargs)) == expected


@pytest.mark.usefixtures("agents")
@pytest.mark.parametrize(
    ("text", "kwargs"),
    [
        ("just chatting", {"channel": "C1", "mentions_bot": False}),  # bound, not all-messages
        ("writer: hi", {"channel": "C1", "mentions_bot": False}),  # no mention outside DMs/all
        ("just chatting", {"channel": "C9", "mentions_bot": False}),  # unbound channel
        ("<@UBOT> hi", {"channel": "C2", "is_bot": True}),  # bots' own messages
        ("<@UBOT> hi", {"channel": "C1", "is_edit": True}),  # edits
        ("   ", {"channel": "C2", "mentions_bot": False}),
    ],
)
def test_ignores_what_is_not_for_the_bot(
    world: World, text: str, kwargs: dict[str, object]
) -> None:
    assert decide(world, text, **kwargs).ignored


def test_addressed_without_agent_gets_a_hint(world: World, agents: dict[str, str]) -> None:
    # The default agent answers DMs, not mentions in channels without a binding.
    result = decide(world, "<@UBOT> hello", channel="C9")
    assert result.agent is None and result.hint == NO_AGENT_HINT
    assert "/byok agent bind" in NO_AGENT_HINT
    empty = decide(world, "<@UBOT>", channel="C1")
    assert empty.agent is None and empty.hint is not None and "writer" in empty.hint


def test_dm_without_default_gets_a_hint(world: World) -> None:
    world.agent("writer", key_id=None)
    result = decide(world, "hello", is_direct=True, mentions_bot=False)
    assert result.hint == NO_AGENT_HINT


def test_console_routing(services: Services) -> None:
    world = World(services, workspace_id="console", platform="console")
    world.workspace()
    writer = world.agent("writer", key_id=None)
    assert decide(world, "hi there", channel="console").hint == NO_AGENT_HINT
    world.bind(writer, "console")  # `agent bind` in the console binds its one channel
    assert answered_by(decide(world, "hi there", channel="console")) == ("writer", "hi there")
    world.agent("helper", key_id=None, default=True)
    assert answered_by(decide(world, "hi there", channel="console")) == ("helper", "hi there")
    assert answered_by(decide(world, "@writer draft", channel="console")) == ("writer", "draft")
    assert answered_by(decide(world, "@writer: draft", channel="console")) == ("writer", "draft")
    unknown = decide(world, "@nobody draft", channel="console")
    assert unknown.agent is None and unknown.hint is not None and "nobody" in unknown.hint


def test_workspace_isolation(services: Services) -> None:
    mine = World(services, workspace_id="slack:TA")
    theirs = World(services, workspace_id="slack:TB")
    mine.workspace()
    theirs.workspace()
    secret_agent = theirs.agent("spy", key_id=None, default=True)
    theirs.bind(secret_agent, "C1", all_messages=True)
    # Same channel id, the other workspace's agent name, a DM: none reaches workspace B.
    assert decide(mine, "<@UBOT> spy: hello", channel="C1").agent is None
    assert decide(mine, "hello", channel="C1", mentions_bot=False).ignored
    assert decide(mine, "hello", is_direct=True, mentions_bot=False).agent is None
    assert answered_by(decide(theirs, "hello", channel="C1", mentions_bot=False)) == (
        "spy",
        "hello",
    )


async def test_core_hint_is_private_and_chatter_writes_nothing(
    services: Services, world: World, agents: dict[str, str], openai_fake: FakeOpenAI
) -> None:
    core = Core(services)
    chatter = await talk(core, world, "lunch anyone?", channel="C9", mentions_bot=False)
    assert chatter.replies == []
    assert world.scalar("SELECT count(*) FROM processed_events") == 0
    hint = await talk(core, world, "<@UBOT> hello", channel="C9")
    assert [(r.kind, r.private, r.text) for r in hint.replies] == [("send", True, NO_AGENT_HINT)]
    assert openai_fake.requests == []


async def test_other_workspace_key_is_never_used(
    services: Services, openai_fake: FakeOpenAI
) -> None:
    """An agent row pointing at another workspace's key id behaves as if it had no key."""
    mine = World(services, workspace_id="slack:TA")
    theirs = World(services, workspace_id="slack:TB")
    mine.workspace()
    theirs.workspace()
    their_key = theirs.key("shared", secret=TEST_KEY, base_url=openai_fake.base_url)
    mine.bind(mine.agent("writer", key_id=their_key), "C1")

    sink = await talk(Core(services), mine, "<@UBOT> hi", channel="C1")

    assert openai_fake.requests == []
    assert sink.last.private and "has no key" in sink.last.text
