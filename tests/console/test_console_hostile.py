"""`byokbot shell` fed hostile bytes through a pipe: never "internal error", never a trace.

Bytes that are not UTF-8 (`\\xff\\xfe`, an encoded lone surrogate), control characters
and a 1 MB line get an answer or a clear line, and the shell ends cleanly (SPEC
Guarantee 11). Hypothesis then throws arbitrary byte lines at it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.console.liveshell import SENTINEL, LiveShell
from tests.fakes.fixtures import _openai_server, openai_fake
from tests.fakes.providers import FakeOpenAI

__all__ = ["_openai_server", "openai_fake"]

REPLY = "Zebras graze at dawn."


def shell_env(database_url: str, cwd: Path) -> dict[str, str]:
    """The environment of a shell on `database_url` with its master key in `cwd`."""
    return {
        "BYOKBOT_DATABASE_URL": database_url,
        "BYOKBOT_MASTER_KEY_FILE": str(cwd / "master.key"),
        "BYOKBOT_ALLOW_PRIVATE_BASE_URLS": "true",
        "USER": "tester",
    }


@pytest.fixture
def provider(openai_fake: FakeOpenAI) -> FakeOpenAI:
    openai_fake.reply = REPLY
    return openai_fake


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return shell_env(database_url, tmp_path)


@contextmanager
def writer_shell(env: dict[str, str], cwd: Path, provider: FakeOpenAI) -> Iterator[LiveShell]:
    """One shell whose workspace has a key and a default agent, `writer`.

    On leaving, end of input must end it with 0 and no traceback.
    """
    with LiveShell(env=env, cwd=cwd) as runner:
        out = runner.send(
            f"/byok key add openai writer test-key --base-url {provider.base_url}",
            "/byok agent create writer --key writer --model gpt-4o-mini",
            "/byok agent default writer",
        )
        assert "stored" in out and "writer" in out, out
        provider.reset()
        provider.reply = REPLY
        yield runner


@pytest.fixture
def shell(env: dict[str, str], tmp_path: Path, provider: FakeOpenAI) -> Iterator[LiveShell]:
    """`writer_shell` for the whole test (all Hypothesis examples feed the same process)."""
    with writer_shell(env, tmp_path, provider) as runner:
        yield runner


def sent(provider: FakeOpenAI) -> list[str]:
    """The current message of each chat request the provider got."""
    return [r.json["messages"][-1]["content"] for r in provider.chat_requests]


def test_invalid_utf8_controls_and_a_1mb_line_get_answers(
    shell: LiveShell, provider: FakeOpenAI
) -> None:
    big = b"a" * 1_000_000
    out = shell.send_bytes(
        b"\xff\xfe",
        b"@writer caf\xc3 \xed\xa0\x80 ok",  # a truncated sequence, an encoded surrogate
        b"\x00\x07\x1b[2J hi\x08 there",
        big,
    )
    assert out.count(REPLY) == 4, out
    assert sent(provider) == [
        "\ufffd\ufffd",
        "caf\ufffd \ufffd\ufffd\ufffd ok",
        "[2J hi there",
        big.decode(),
    ]


def test_invalid_utf8_under_a_strict_utf8_locale_gets_an_answer(
    env: dict[str, str], tmp_path: Path, provider: FakeOpenAI
) -> None:
    # A real UTF-8 locale decodes stdin strictly (C.UTF-8 uses surrogate escapes instead).
    env["PYTHONIOENCODING"] = "utf-8:strict"
    with writer_shell(env, tmp_path, provider) as shell:
        out = shell.send_bytes(b"caf\xc3 ok", b"/byok agent show writer")
    assert out.count(REPLY) == 1 and "agent writer" in out, out
    assert sent(provider) == ["caf\ufffd ok"]


def test_hostile_bytes_in_commands_get_a_clear_line(shell: LiveShell) -> None:
    out = shell.send_bytes(
        b'/byok agent set writer --prompt "x\xff\xfey"',
        b"/byok agent show writer",
        b'/byok agent set writer --prompt "a\x00b"',  # NUL: PostgreSQL text cannot hold it
        b"/byok agent show wr\xed\xa0\x80iter",
        b"/byok " + b"x" * 1_000_000,
    )
    lines = out.splitlines()
    assert "prompt: x\ufffd\ufffdy" in out, out
    assert "the command contains control characters" in out, out
    assert "agent names use letters, digits" in out, out
    assert "the command is too long" in out, out  # a clear line, nothing echoed whole
    assert all(len(line) < 2_000 for line in lines)


_PREFIXES = st.sampled_from([b"", b"/byok ", b"byok agent show ", b"@writer ", b"@"])
_BODIES = st.binary(max_size=80).map(lambda raw: raw.replace(b"\n", b" ").replace(b"\r", b" "))
_LINES = st.lists(st.tuples(_PREFIXES, _BODIES).map(b"".join), min_size=1, max_size=5)


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(lines=_LINES)
def test_arbitrary_byte_lines_never_crash_the_shell(shell: LiveShell, lines: list[bytes]) -> None:
    # Every example feeds the same process (starting one per example is what cost the time):
    # each example's lines must be read and answered with the shell still up, no traceback
    # and no "internal error" (`send_bytes` checks); its end at end of input is checked last.
    fed: list[bytes] = []
    for line in lines:
        fed += [line, SENTINEL]
    out = shell.send_bytes(*fed)
    # The shell read every line to the end: each sentinel got its reply.
    assert out.count("/byok audit") >= len(lines), out
