"""`byokbot shell` on a real pseudo-terminal: line editing, history, and no log lines."""

from __future__ import annotations

import contextlib
import os
import select
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.console.test_console_tty import Terminal
from tests.fakes.providers import FakeOpenAI
from tests.kits.helpers import byokbot_command, clean_env

SECRET = "sk-proj-TerminalSecretValue0123456789abcdefQR"
REPLY = "Zebras graze at dawn."
LEFT, UP, ENTER = "\x1b[D", "\x1b[A", "\r"
PROMPT = "byok> "
HELP_LINE = "Each agent remembers this session's conversation"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(valid_keys=[SECRET], reply=REPLY) as server:
        yield server


@pytest.fixture
def terminal(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Terminal]:
    extra: dict[str, str] = getattr(request, "param", {})  # e.g. a log level
    env = clean_env(
        {
            "BYOKBOT_DATABASE_URL": database_url,
            "BYOKBOT_MASTER_KEY_FILE": str(tmp_path / "master.key"),
            "BYOKBOT_ALLOW_PRIVATE_BASE_URLS": "true",
            "TERM": "xterm",
            **extra,
        }
    )
    term = Terminal([*byokbot_command(), "shell"], env=env, cwd=tmp_path)
    yield term
    if term.fd >= 0:
        with contextlib.suppress(OSError, AssertionError):
            term.close()


def keys(term: Terminal, sequence: str) -> None:
    """Type raw keys (escape sequences included), with no newline added."""
    os.write(term.fd, sequence.encode())


def after(term: Terminal, mark: int, needle: str, *, timeout: float = 60.0) -> int:
    """Wait until `needle` appears after `mark`; return the position just past it."""
    deadline = time.monotonic() + timeout
    while needle not in term.output[mark:]:
        left = deadline - time.monotonic()
        assert left > 0, f"timed out waiting for {needle!r}; got {term.output[mark:]!r}"
        ready, _, _ = select.select([term.fd], [], [], left)
        if ready:
            data = os.read(term.fd, 4096).decode("utf-8", errors="replace")
            assert data, f"terminal closed; got {term.output!r}"
            term.output += data
    return term.output.index(needle, mark) + len(needle)


def test_arrow_keys_edit_the_line_and_recall_the_last_one(
    terminal: Terminal, fake: FakeOpenAI
) -> None:
    terminal.read_until("byok> ")
    # "hep", Left, "l": the cursor moved back, so the line is "help" (run locally).
    keys(terminal, "hep" + LEFT + "l" + ENTER)
    mark = after(terminal, after(terminal, len(terminal.output), HELP_LINE), PROMPT)
    keys(terminal, UP + ENTER)  # Up brings "help" back
    mark = after(terminal, after(terminal, mark, HELP_LINE), PROMPT)

    terminal.type(f"/byok key add openai prod {SECRET} --base-url {fake.base_url}")
    mark = after(terminal, after(terminal, mark, "verified"), PROMPT)
    terminal.type("/byok agent create writer --key prod --model gpt-4o-mini")
    mark = after(terminal, after(terminal, mark, "agent writer created"), PROMPT)
    keys(terminal, "@writer tell me a jke" + LEFT + LEFT + "o" + ENTER)
    mark = after(terminal, after(terminal, mark, REPLY), PROMPT)
    keys(terminal, UP + ENTER)  # the message comes back
    mark = after(terminal, after(terminal, mark, REPLY), PROMPT)
    asked = [r.json["messages"][-1]["content"] for r in fake.chat_requests]
    assert asked == ["tell me a joke", "tell me a joke"]
    # Up thrice: the message (kept once), the agent line, then "help" — the key line
    # with its secret was never kept.
    keys(terminal, UP + UP + UP + ENTER)
    end = after(terminal, after(terminal, mark, HELP_LINE), PROMPT)
    assert SECRET not in terminal.output[mark:end]
    assert terminal.close() == 0
    terminal.fd = -1


# At DEBUG every provider request logs a line (httpx's "HTTP Request", quiet at INFO):
# lines logged mid-conversation must go to the file too, and nothing to the terminal.
@pytest.mark.parametrize("terminal", [{"BYOKBOT_LOG_LEVEL": "DEBUG"}], indirect=True)
def test_log_lines_go_to_the_log_file_not_the_terminal(
    terminal: Terminal, fake: FakeOpenAI, tmp_path: Path
) -> None:
    terminal.read_until("byok> ")
    assert "Logs go to ./data/byokbot.log" in terminal.output
    terminal.type(f"/byok key add openai prod {SECRET} --base-url {fake.base_url}")
    terminal.read_until("verified")
    terminal.type("/byok agent create writer --key prod --model gpt-4o-mini")
    terminal.read_until("agent writer created")
    terminal.type("@writer hello")
    after(terminal, after(terminal, 0, REPLY), PROMPT)
    assert terminal.close() == 0
    terminal.fd = -1
    shown = terminal.output
    for noise in ("DEBUG", "INFO", "WARNING", "httpx", "HTTP Request", "bot.app"):
        assert noise not in shown, shown
    log = (tmp_path / "data" / "byokbot.log").read_text(encoding="utf-8")
    assert "database ready" in log and "HTTP Request: POST" in log, log
    assert SECRET not in log


def test_serve_on_a_terminal_logs_to_the_file_from_the_start(
    database_url: str, tmp_path: Path
) -> None:
    env = clean_env(
        {
            "BYOKBOT_DATABASE_URL": database_url,
            "BYOKBOT_MASTER_KEY_FILE": str(tmp_path / "master.key"),
            "BYOKBOT_HTTP_HOST": "127.0.0.1",
            "BYOKBOT_HTTP_PORT": "0",
            "TERM": "xterm",
        }
    )
    term = Terminal([*byokbot_command(), "serve"], env=env, cwd=tmp_path)
    try:
        term.read_until("byok> ")
        assert "Logs go to ./data/byokbot.log" in term.output
    finally:
        assert term.close() == 0
    for noise in ("INFO", "WARNING", "database ready", "adapter console started", "stopped"):
        assert noise not in term.output, term.output
    log = (tmp_path / "data" / "byokbot.log").read_text(encoding="utf-8")
    assert "database ready" in log and "adapter console started" in log, log
