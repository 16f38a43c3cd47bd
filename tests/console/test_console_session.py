"""`byokbot shell` from a pipe: session memory per agent, `/new`, local help, live streaming."""

from __future__ import annotations

import os
import select
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.fakes.providers import FakeOpenAI
from tests.kits.helpers import byokbot_command, clean_env, run_byokbot

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

    def set_up(self, fake: FakeOpenAI) -> None:
        """A key, agents `claude` (the default) and `writer`, in a process of their own."""
        out = self(
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


def sent(fake: FakeOpenAI, index: int) -> list[tuple[str, str]]:
    """(role, content) of every message the provider got in chat request `index`."""
    messages = fake.chat_requests[index].json["messages"]
    return [(m["role"], m["content"]) for m in messages if m["role"] != "system"]


def test_each_agent_remembers_its_conversation_of_the_session(
    shell: Shell, fake: FakeOpenAI
) -> None:
    shell.set_up(fake)
    shell(
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
    # In memory only: the next session starts with nothing.
    shell("@claude what is my name?")
    assert sent(fake, 4) == [("user", "what is my name?")]


def test_new_starts_a_fresh_conversation(shell: Shell, fake: FakeOpenAI) -> None:
    shell.set_up(fake)
    out = shell("@claude my name is Ada", "@writer remember 42", "/new", "@claude my name?")
    assert "Started a new conversation" in out
    assert len(fake.chat_requests) == 3
    assert sent(fake, 2) == [("user", "my name?")]
    out = shell("@writer remember 42", "/NEW", "@writer what was it?")
    assert sent(fake, 4) == [("user", "what was it?")]


def test_help_is_local_and_never_reaches_a_model(
    shell: Shell, fake: FakeOpenAI, engine: Engine
) -> None:
    shell.set_up(fake)
    out = shell("help", "/help", "?", "  Help  ")
    assert out.count(HELP_LINE) == 4, out
    assert out.count("/byok key add") == 4, out  # the commands' help follows
    assert fake.chat_requests == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM usage_events")).scalar_one() == 0
    # A line that only starts with "help" is a message like any other.
    shell("help me write a haiku")
    assert sent(fake, 0) == [("user", "help me write a haiku")]


def test_a_pipe_gets_the_answer_as_it_is_streamed(
    database_url: str, tmp_path: Path, fake: FakeOpenAI
) -> None:
    shell = Shell(database_url, tmp_path)
    shell.set_up(fake)
    fake.delay = 0.3  # between streamed words: about 1.5 s for the whole answer
    proc = subprocess.Popen(
        [*byokbot_command(), "shell"],
        env=clean_env(shell.env),
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(b"count for me\n")
    proc.stdin.close()
    output, arrivals = b"", []
    deadline = time.monotonic() + 60
    fd = proc.stdout.fileno()
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if not ready:
            continue
        data = os.read(fd, 4096)
        if not data:
            break
        output += data
        arrivals.append((time.monotonic(), output.decode(errors="replace")))
    assert proc.wait(timeout=30) == 0
    assert REPLY in output.decode(), output
    first = next(t for t, seen in arrivals if "one" in seen)
    last = next(t for t, seen in arrivals if "six" in seen)
    # The first word reached the pipe while the provider was still streaming.
    assert last - first > 0.8, arrivals
