"""`byokbot shell` fed hostile bytes through a pipe: never "internal error", never a trace.

Bytes that are not UTF-8 (`\\xff\\xfe`, an encoded lone surrogate), control characters
and a 1 MB line get an answer or a clear line, and the shell ends cleanly (SPEC
Guarantee 11). Hypothesis then throws arbitrary byte lines at it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fakes.fixtures import _openai_server, openai_fake
from tests.fakes.providers import FakeOpenAI
from tests.kits.helpers import byokbot_command, clean_env

__all__ = ["_openai_server", "openai_fake"]

REPLY = "Zebras graze at dawn."
INTERNAL = "internal error"
SENTINEL = b"/byok help audit"


class BytesShell:
    """Runs `byokbot shell` on one database with raw bytes on standard input."""

    def __init__(self, database_url: str, cwd: Path) -> None:
        self.cwd = cwd
        self.env = clean_env(
            {
                "BYOKBOT_DATABASE_URL": database_url,
                "BYOKBOT_MASTER_KEY_FILE": str(cwd / "master.key"),
                "BYOKBOT_ALLOW_PRIVATE_BASE_URLS": "true",
                "USER": "tester",
            }
        )

    def __call__(self, *lines: bytes) -> str:
        """Feed `lines`; return standard output, after checking the run ended cleanly."""
        result = subprocess.run(
            [*byokbot_command(), "shell"],
            env=self.env,
            cwd=self.cwd,
            input=b"\n".join(lines) + b"\n",
            capture_output=True,
            timeout=120,
            check=False,
        )
        out = result.stdout.decode("utf-8", errors="replace")
        err = result.stderr.decode("utf-8", errors="replace")
        assert result.returncode == 0, err
        assert "Traceback" not in out + err, err
        assert INTERNAL not in out, out
        return out


@pytest.fixture
def provider(openai_fake: FakeOpenAI) -> FakeOpenAI:
    openai_fake.reply = REPLY
    return openai_fake


@pytest.fixture
def shell(database_url: str, tmp_path: Path, provider: FakeOpenAI) -> BytesShell:
    """A shell whose workspace has a key and a default agent, `writer`."""
    runner = BytesShell(database_url, tmp_path)
    out = runner(
        f"/byok key add openai writer test-key --base-url {provider.base_url}".encode(),
        b"/byok agent create writer --key writer --model gpt-4o-mini",
        b"/byok agent default writer",
    )
    assert "stored" in out and "writer" in out, out
    provider.reset()
    provider.reply = REPLY
    return runner


def sent(provider: FakeOpenAI) -> list[str]:
    """The current message of each chat request the provider got."""
    return [r.json["messages"][-1]["content"] for r in provider.chat_requests]


def test_invalid_utf8_controls_and_a_1mb_line_get_answers(
    shell: BytesShell, provider: FakeOpenAI
) -> None:
    big = b"a" * 1_000_000
    out = shell(
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
    shell: BytesShell, provider: FakeOpenAI
) -> None:
    # A real UTF-8 locale decodes stdin strictly (C.UTF-8 uses surrogate escapes instead).
    shell.env["PYTHONIOENCODING"] = "utf-8:strict"
    out = shell(b"caf\xc3 ok", b"/byok agent show writer")
    assert out.count(REPLY) == 1 and "agent writer" in out, out
    assert sent(provider) == ["caf\ufffd ok"]


def test_hostile_bytes_in_commands_get_a_clear_line(shell: BytesShell) -> None:
    out = shell(
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
def test_arbitrary_byte_lines_never_crash_the_shell(shell: BytesShell, lines: list[bytes]) -> None:
    fed: list[bytes] = []
    for line in lines:
        fed += [line, SENTINEL]
    out = shell(*fed)
    # The shell read every line to the end: each sentinel got its reply.
    assert out.count("/byok audit") >= len(lines), out
