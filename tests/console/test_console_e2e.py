"""`byokbot shell` as a subprocess, driven through a pipe, against a fake provider."""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bot.commands.grammar import tokenize
from tests.console.liveshell import LiveShell
from tests.fakes.providers import FakeOpenAI
from tests.kits.helpers import run_byokbot

SECRET = "sk-proj-E2eSecretValue0123456789abcdefXYZ"
WRONG = "sk-proj-WrongWrongWrong0000000000000000"
REPLY = "Zebras graze at dawn."


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(valid_keys=[SECRET], reply=REPLY) as server:
        yield server


@pytest.fixture
def shell(fake: FakeOpenAI, database_url: str, tmp_path: Path) -> Iterator[ShellRunner]:
    fake.reset()
    yield ShellRunner(database_url, tmp_path)


@pytest.fixture
def live(shell: ShellRunner) -> Iterator[LiveShell]:
    """One long-running shell on the test's database; its clean end is checked after the test."""
    with LiveShell(env=shell.env, cwd=shell.cwd) as runner:
        yield runner


class ShellRunner:
    """Runs `byokbot shell` with piped stdin on one database, run after run."""

    def __init__(self, database_url: str, cwd: Path) -> None:
        self.cwd = cwd
        self.env = {
            "BYOKBOT_DATABASE_URL": database_url,
            "BYOKBOT_MASTER_KEY_FILE": str(cwd / "master.key"),
            "BYOKBOT_ALLOW_PRIVATE_BASE_URLS": "true",
            "USER": "tester",
        }

    def __call__(self, *lines: str) -> subprocess.CompletedProcess[str]:
        result = run_byokbot(
            "shell", env=self.env, cwd=self.cwd, stdin="\n".join(lines) + "\n", timeout=120
        )
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stdout + result.stderr, result.stderr
        return result


def register(shell: ShellRunner, fake: FakeOpenAI) -> None:
    out = shell(f"/byok key add openai openai-prod --base-url {fake.base_url}", SECRET).stdout
    assert "stored" in out and "verified" in out


def register_live(shell: LiveShell, fake: FakeOpenAI) -> None:
    out = shell.send(f"/byok key add openai openai-prod --base-url {fake.base_url}", SECRET)
    assert "stored" in out and "verified" in out


def test_keys_register_verify_list_and_reject(shell: ShellRunner, fake: FakeOpenAI) -> None:
    result = shell(
        # No secret on the line: the next line is read as the secret, never echoed.
        f"/byok key add openai openai-prod --base-url {fake.base_url}",
        SECRET,
        f"byok key add openai wrong {WRONG} --base-url {fake.base_url}",
        "/byok key test openai-prod",
        "/byok key list",
    )
    out = result.stdout
    assert SECRET not in out + result.stderr and WRONG not in out + result.stderr
    lines = out.splitlines()
    assert "stored" in lines[0] and "verified" in lines[0]
    assert "rejected" in lines[1] and "not stored" in lines[1]
    assert "works" in lines[2]
    listing = "\n".join(lines[3:])
    assert "openai-prod" in listing and "sk-…" in listing and "wrong" not in listing
    # Verification really went to the provider, with the key in a header only.
    models = [r for r in fake.requests if r.path.endswith("/models")]
    assert [r.headers["authorization"] for r in models] == [
        f"Bearer {SECRET}",
        f"Bearer {WRONG}",
        f"Bearer {SECRET}",
    ]
    assert all(SECRET not in r.raw_url for r in fake.requests)


def test_agent_talk_usage_budget_and_revoke(live: LiveShell, fake: FakeOpenAI) -> None:
    # One process for the whole story; `/new` between the steps stands for the separate
    # sessions they once ran in (no step sees another's conversation).
    register_live(live, fake)
    talk = live.send(
        "/byok agent create writer --key openai-prod --model gpt-4o-mini --show-cost",
        "/byok agent bind writer",
        "Write a haiku about zebras",
        "@writer and one about lions",
        "/byok usage",
    )
    assert talk.count(REPLY) == 2
    assert "writer · gpt-4o-mini · 19 tokens · $0.000006" in talk
    # Two calls at 12 input x $0.15 + 7 output x $0.60 per MTok, exactly.
    assert "$0.000012" in talk.split("Usage", 1)[1]
    assert len(fake.chat_requests) == 2
    assert fake.chat_requests[1].json["messages"][-1]["content"] == "and one about lions"

    live.send("/new")
    budget = live.send(
        "/byok limit set writer 0.0001 --per day",
        "Another haiku please",
    ).splitlines()
    refusal = next(line for line in budget if line.startswith("Over budget"))
    assert re.fullmatch(
        r"Over budget: writer's daily limit has \$0\.0000\d+ left of \$0\.0001, and this call"
        r" could cost up to \$0\.000\d+: ~\d+ prompt tokens \+ 1,024 max output tokens at"
        r" gpt-4o-mini's price\. Send a shorter message, lower the agent's --max-tokens, or ask"
        r" an admin to raise the limit\. It resets at 00:00 UTC \(in \d+ (h|min)\)\.",
        refusal,
    ), refusal
    assert len(fake.chat_requests) == 2

    live.send("/new")
    revoked = live.send(
        "/byok limit clear writer", "/byok key revoke openai-prod", "Are you there?"
    ).splitlines()
    assert revoked[-1] == (
        "Agent writer's key openai-prod was revoked; an admin must set another with "
        "/byok agent set writer --key …"
    )
    assert len(fake.chat_requests) == 2


def test_secret_prompt_at_end_of_input_is_cancelled(shell: ShellRunner, fake: FakeOpenAI) -> None:
    result = shell(f"/byok key add openai late --base-url {fake.base_url}")
    assert "cancelled" in result.stdout
    assert "No keys" in shell("/byok key list").stdout
    assert fake.requests == []


def test_no_agent_hint_and_blank_lines(shell: ShellRunner) -> None:
    out = shell("", "   ", "hello?").stdout.splitlines()
    # A fresh workspace has no key yet: the hint says how to add one (see test_hints.py).
    assert len(out) == 1 and "/byok key add" in out[0]


# --- every generated command line gets a reply, never a traceback --------------------

SENTINEL = "/byok help audit"
_WORDS = st.sampled_from(
    [
        "key",
        "agent",
        "limit",
        "usage",
        "digest",
        "admins",
        "audit",
        "help",
        "add",
        "list",
        "show",
        "set",
        "create",
        "delete",
        "bind",
        "unbind",
        "default",
        "clear",
        "revoke",
        "test",
        "rotate",
        "export",
        "now",
        "off",
        "at",
        "channel",
        "remove",
        "openai",
        "anthropic",
        "gemini",
        "writer",
        "--model",
        "--key",
        "--prompt",
        "--per",
        "day",
        "month",
        "--since",
        "7d",
        "--by",
        "model",
        "--all-messages",
        "--max-tokens",
        "-1",
        "0",
        "1e309",
        "NaN",
        "--temperature",
        "3",
        "--base-url",
        "http://127.0.0.1:1",
        "#general",
        "<#C123|general>",
        "<#42>",
        "<@U1>",
        "<@!42>",
        "@someone",
        "25:99",
        "Mars/Olympus",
        "'unclosed",
        '"quoted words"',
        "\\",
        "--",
        "—",
        "ÿ",
        "🦓",
        "''",
        "=",
        "--show-cost",
        "--no-verify",
        "workspace",
        "1.5",
    ]
)
_LINES = st.lists(
    st.one_of(
        st.lists(_WORDS, min_size=0, max_size=7).map(" ".join),
        st.text(
            alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")),
            max_size=40,
        ),
    ),
    min_size=1,
    max_size=6,
)


def _opens_secret_form(command: str) -> bool:
    try:
        words = tokenize(command)
    except Exception:
        return False
    return len(words) >= 2 and words[0] == "key" and words[1] in ("add", "rotate")


@pytest.fixture(scope="module")
def fuzz_shell(fake: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveShell]:
    """One shell that every generated example feeds (a process per example cost the time).

    Each example's lines must be read and answered with the shell still up and no traceback
    (`LiveShell.send` checks); its clean end at end of input is checked after the module.
    """
    cwd = tmp_path_factory.mktemp("fuzz")
    env = ShellRunner(f"sqlite:///{cwd / 'fuzz.db'}", cwd).env
    with LiveShell(env=env, cwd=cwd, sentinel=SENTINEL.encode()) as runner:
        # An agent and a key exist, so generated lines reach deeper than "not found".
        runner.send(
            f"/byok key add openai writer {SECRET} --base-url {fake.base_url}",
            "/byok agent create writer --key writer --model gpt-4o-mini",
        )
        yield runner


@pytest.fixture(scope="module")
def sentinel_reply(fuzz_shell: LiveShell) -> str:
    reply = fuzz_shell.send(SENTINEL)
    assert reply.strip()
    assert reply.encode() == fuzz_shell.sentinel_reply
    return reply


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(commands=_LINES)
def test_every_command_line_gets_a_reply(
    fuzz_shell: LiveShell, sentinel_reply: str, commands: list[str]
) -> None:
    commands = [c.strip() for c in commands]
    assume(all(c and "\r" not in c for c in commands))
    # A form without a secret reads the next line; those are exercised above instead.
    assume(not any(_opens_secret_form(c) for c in commands))
    lines: list[str] = []
    for command in commands:
        lines += [f"/byok {command}", SENTINEL]
    # `send` adds a last sentinel and returns the output before its reply.
    out = fuzz_shell.send(*lines)
    chunks = out.split(sentinel_reply)
    assert chunks[-1] == "", f"unterminated output for {shlex.join(commands)!r}: {out!r}"
    assert len(chunks) == len(commands) + 1, out
    for command, reply in zip(commands, chunks, strict=False):
        assert reply.strip(), f"no reply to /byok {command!r}"
