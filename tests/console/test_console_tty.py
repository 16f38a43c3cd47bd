"""`byokbot shell` on a real pseudo-terminal: live streaming and a hidden secret prompt."""

from __future__ import annotations

import contextlib
import os
import pty
import select
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.providers import FakeOpenAI
from tests.kits.helpers import byokbot_command, clean_env

SECRET = "sk-proj-TtySecretValue0123456789abcdefQRS"
REPLY = "one two three four five six"


class Terminal:
    """A child process on a pty; everything it prints is kept with arrival times."""

    def __init__(self, argv: list[str], *, env: dict[str, str], cwd: Path) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child: become the program
            os.chdir(cwd)
            os.execve(argv[0], argv, env)
        self.pid, self.fd = pid, fd
        self.output = ""
        self.events: list[tuple[float, str]] = []

    def read_until(self, needle: str, *, timeout: float = 60.0, start: int = 0) -> str:
        deadline = time.monotonic() + timeout
        while needle not in self.output[start:]:
            left = deadline - time.monotonic()
            assert left > 0, f"timed out waiting for {needle!r}; got {self.output!r}"
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    data = os.read(self.fd, 4096).decode("utf-8", errors="replace")
                except OSError:
                    data = ""
                if not data:
                    raise AssertionError(f"terminal closed; got {self.output!r}")
                self.events.append((time.monotonic(), data))
                self.output += data
        return self.output

    def type(self, line: str) -> None:
        os.write(self.fd, (line + "\n").encode())

    def close(self) -> int:
        os.write(self.fd, b"\x04")  # Ctrl-D: end of input
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            try:
                if select.select([self.fd], [], [], 0.1)[0]:  # never block on a quiet child
                    os.read(self.fd, 4096)
            except OSError:
                pass
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        raise AssertionError("the shell did not exit at end of input")


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    # 0.25 s between streamed events: slow enough to see streaming on the terminal.
    with FakeOpenAI(valid_keys=[SECRET], reply=REPLY, delay=0.25) as server:
        yield server


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    env = clean_env(
        {
            "BYOKBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'tty.db'}",
            "BYOKBOT_MASTER_KEY_FILE": str(tmp_path / "master.key"),
            "BYOKBOT_ALLOW_PRIVATE_BASE_URLS": "true",
            "TERM": "dumb",
        }
    )
    term = Terminal([*byokbot_command(), "shell"], env=env, cwd=tmp_path)
    yield term
    if term.fd >= 0:
        with contextlib.suppress(OSError, AssertionError):
            term.close()


def test_hidden_secret_prompt_and_live_streaming(terminal: Terminal, fake: FakeOpenAI) -> None:
    terminal.read_until("byok> ")
    terminal.type(f"/byok key add openai openai-prod --base-url {fake.base_url}")
    terminal.read_until("(hidden): ")
    terminal.type(SECRET)
    terminal.read_until("verified")
    assert SECRET not in terminal.output  # the terminal did not echo it
    terminal.type("/byok agent create writer --key openai-prod --model gpt-4o-mini")
    terminal.read_until("agent writer created")
    terminal.read_until("byok> ")

    mark = len(terminal.events)
    terminal.type("count for me")
    terminal.read_until("six")
    # Ctrl-D only once the prompt is back: typed earlier, readline would never see it.
    terminal.read_until("byok> ", start=terminal.output.rindex("six"))
    pieces = [(t, d) for t, d in terminal.events[mark:] if any(w in d for w in REPLY.split())]
    first_word = next(t for t, d in pieces if "one" in d)
    last_word = next(t for t, d in pieces if "six" in d)
    # Words appeared as they were generated, not all at once at the end.
    assert last_word - first_word > 0.5, pieces
    assert terminal.close() == 0
    terminal.fd = -1


def test_serve_on_a_terminal_without_platforms_runs_the_console(tmp_path: Path) -> None:
    env = clean_env(
        {
            "BYOKBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
            "BYOKBOT_MASTER_KEY_FILE": str(tmp_path / "master.key"),
            "BYOKBOT_HTTP_HOST": "127.0.0.1",
            "BYOKBOT_HTTP_PORT": "0",
            "TERM": "dumb",
        }
    )
    term = Terminal([*byokbot_command(), "serve"], env=env, cwd=tmp_path)
    try:
        term.read_until("byok> ")
        assert "byokbot console" in term.output
        term.type("/byok agent list")
        term.read_until("No agents yet")
        term.read_until("byok> ", start=term.output.rindex("No agents yet"))
    finally:
        assert term.close() == 0
