"""`byokbot shell` from a pipe: session memory per agent, `/new`, local help, live streaming."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.console.liveshell import LiveShell
from tests.fakes.providers import FakeOpenAI
from tests.kits.helpers import run_byokbot

SECRET = "sk-proj-SessionSecretValue0123456789abcdefXYZ"
REPLY = "one two three four five six"
HELP_LINE = "Each agent remembers this session's conversation"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(valid_keys=[SECRET], reply=REPLY) as server:
        yield server


class Shell:
    """`byokbot shell` runs on one database, with piped standard input."""

    def __init__(self, database_url: str, cwd: Path) -> None:
        self.cwd = cwd
        self.env = {
            "BYOKBOT_DATABASE_URL": database_url,
            "BYOKBOT_MASTER_KEY_FILE": str(cwd / "master.key"),
            "BYOKBOT_ALLOW_PRIVATE_BASE_URLS": "true",
        }

    def __call__(self, *lines: str) -> str:
        result = run_byokbot(
            "shell", env=self.env, cwd=self.cwd, stdin="\n".join(lines) + "\n", timeout=120
        )
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stdout + result.stderr, result.stderr
        return result.stdout


def set_up(shell: LiveShell, fake: FakeOpenAI) -> None:
    """A key, agents `claude` (the default) and `writer`: commands, so no conversation yet."""
    out = shell.send(
        f"/byok key add openai prod {SECRET} --base-url {fake.base_url}",
        "/byok agent create claude --key prod --model gpt-4o-mini",
        "/byok agent create writer --key prod --model gpt-4o-mini",
        "/byok agent default claude",
    )
    assert "agent claude created" in out and "agent writer created" in out, out
    fake.reset()


@pytest.fixture
def shell(database_url: str, tmp_path: Path) -> Shell:
    return Shell(database_url, tmp_path)


@pytest.fixture
def live(shell: Shell, fake: FakeOpenAI) -> Iterator[LiveShell]:
    """One session (one process) set up with `set_up`; its clean end is checked after the test."""
    with LiveShell(env=shell.env, cwd=shell.cwd) as runner:
        set_up(runner, fake)
        yield runner


def sent(fake: FakeOpenAI, index: int) -> list[tuple[str, str]]:
    """(role, content) of every message the provider got in chat request `index`."""
    messages = fake.chat_requests[index].json["messages"]
    return [(m["role"], m["content"]) for m in messages if m["role"] != "system"]


def test_each_agent_remembers_its_conversation_of_the_session(
    live: LiveShell, shell: Shell, fake: FakeOpenAI
) -> None:
    live.send(
        "@claude my name is Ada",
        "@claude what is my name?",
        "@writer who am I?",
        "and the default agent is claude",
    )
    assert len(fake.chat_requests) == 4
    assert sent(fake, 0) == [("user", "my name is Ada")]
    first = [("user", "my name is Ada"), ("assistant", REPLY)]
    assert sent(fake, 1) == [*first, ("user", "what is my name?")]
    assert sent(fake, 2) == [("user", "who am I?")]  # another agent, another conversation
    assert sent(fake, 3) == [
        *first,
        ("user", "what is my name?"),
        ("assistant", REPLY),
        ("user", "and the default agent is claude"),
    ]
    # In memory only: the next session (another process) starts with nothing.
    shell("@claude what is my name?")
    assert sent(fake, 4) == [("user", "what is my name?")]


def test_new_starts_a_fresh_conversation(live: LiveShell, fake: FakeOpenAI) -> None:
    out = live.send("@claude my name is Ada", "@writer remember 42", "/new", "@claude my name?")
    assert "Started a new conversation" in out
    assert len(fake.chat_requests) == 3
    assert sent(fake, 2) == [("user", "my name?")]
    # The same session: writer forgot 42 at /new above; /NEW makes it forget it again.
    live.send("@writer remember 42", "/NEW", "@writer what was it?")
    assert sent(fake, 3) == [("user", "remember 42")]
    assert sent(fake, 4) == [("user", "what was it?")]


def test_help_is_local_and_never_reaches_a_model(
    live: LiveShell, fake: FakeOpenAI, engine: Engine
) -> None:
    out = live.send("help", "/help", "?", "  Help  ")
    assert out.count(HELP_LINE) == 4, out
    assert out.count("/byok key add") == 4, out  # the commands' help follows
    assert fake.chat_requests == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM usage_events")).scalar_one() == 0
    # A line that only starts with "help" is a message like any other.
    live.send("help me write a haiku")
    assert sent(fake, 0) == [("user", "help me write a haiku")]


def test_a_pipe_gets_the_answer_as_it_is_streamed(live: LiveShell, fake: FakeOpenAI) -> None:
    fake.delay = 0.3  # between streamed words: about 1.5 s for the whole answer
    mark = len(live.arrivals)
    output = live.send("count for me", timeout=60)
    assert REPLY in output, output
    arrivals: list[tuple[float, str]] = []
    got = b""
    for when, data in live.arrivals[mark:]:
        got += data
        arrivals.append((when, got.decode(errors="replace")))
    first = next(t for t, seen in arrivals if "one" in seen)
    last = next(t for t, seen in arrivals if "six" in seen)
    # The first word reached the pipe while the provider was still streaming.
    assert last - first > 0.8, arrivals
