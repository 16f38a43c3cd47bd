"""Privacy: after a conversation, no message text, answer or key in the database or logs."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from bot.boundary import CommandRequest
from bot.core import Core
from bot.services import Services
from tests.fakes.providers import FakeOpenAI
from tests.kits.helpers import run_byokbot
from tests.kits.logcapture import LogCapture
from tests.kits.turnkit import RecordingSink, World

SECRET = "sk-proj-PrivacyKey7f3Qa0123456789abcdefghij"
LEAKED = "sk-ant-api03-LeakedInChat0123456789abcdefXYZ"
QUESTION = "Quokka marmalade plan for project Nightjar"
ANSWER = "Axolotl lemonade verdict on Nightjar"
NEEDLES = (SECRET, LEAKED, "Quokka marmalade", "Axolotl lemonade", "Nightjar")


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(valid_keys=[SECRET], reply=ANSWER) as server:
        yield server


def conversation(fake: FakeOpenAI) -> str:
    return "\n".join(
        [
            f"/byok key add openai openai-prod --base-url {fake.base_url}",
            SECRET,
            "/byok agent create writer --key openai-prod --model gpt-4o-mini --prompt 'Be brief.'",
            QUESTION,
            f"@writer {QUESTION} again",
            f"is this one safe? {LEAKED}",
            "/byok key rotate openai-prod " + SECRET,
            "/byok usage export",
            "/byok audit",
            "",
        ]
    )


def shell(url: str, cwd: Path, fake: FakeOpenAI) -> subprocess.CompletedProcess[str]:
    env = {
        "BYOKBOT_DATABASE_URL": url,
        "BYOKBOT_MASTER_KEY_FILE": str(cwd / "master.key"),
        "BYOKBOT_ALLOW_PRIVATE_BASE_URLS": "true",
        "BYOKBOT_LOG_LEVEL": "DEBUG",
    }
    result = run_byokbot("shell", env=env, cwd=cwd, stdin=conversation(fake), timeout=120)
    assert result.returncode == 0, result.stderr
    # The conversation really happened: two answers, one refusal of the leaked key.
    assert result.stdout.count(ANSWER) == 2
    assert "revoke it at the provider" in result.stdout
    assert len(fake.chat_requests) >= 2
    return result


def assert_absent(blob: bytes | str, where: str) -> None:
    data = blob.encode() if isinstance(blob, str) else blob
    for needle in NEEDLES:
        assert needle.encode() not in data, f"{needle!r} found in {where}"


def test_sqlite_file_and_debug_logs_hold_no_content(
    sqlite_url: str, tmp_path: Path, fake: FakeOpenAI
) -> None:
    fake.reset()
    result = shell(sqlite_url, tmp_path, fake)
    assert_absent(result.stderr, "the DEBUG log")
    assert "DEBUG" in result.stderr  # the log really was at DEBUG
    db = Path(make_url(sqlite_url).database or "")
    files = [p for p in db.parent.iterdir() if p.name.startswith(db.name)]
    assert db in files
    for path in files:  # the database, its -wal and -shm
        assert_absent(path.read_bytes(), path.name)
    # Sanity: the file is not vacuous — it holds the metadata it should.
    assert b"openai-prod" in db.read_bytes() + b"".join(p.read_bytes() for p in files)


def test_pg_dump_holds_no_content(pg_url: str, tmp_path: Path, fake: FakeOpenAI) -> None:
    fake.reset()
    result = shell(pg_url, tmp_path, fake)
    assert_absent(result.stderr, "the DEBUG log")
    libpq = make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)
    dump = subprocess.run(
        ["pg_dump", "--no-owner", libpq], capture_output=True, check=True, timeout=60
    ).stdout
    assert b"usage_events" in dump and b"openai-prod" in dump
    assert_absent(dump, "pg_dump")


async def test_every_logger_at_debug_sees_no_content(
    services: Services, fake: FakeOpenAI, log_capture: LogCapture
) -> None:
    """In process, before any redaction: nothing secret or private was ever logged."""
    fake.reset()
    world = World(services, workspace_id="console", platform="console")
    core = Core(services)
    place = world.message("x", channel="console").place
    sender = world.message("x").sender
    sender = type(sender)(user_id="admin", display_name="Admin", is_platform_admin=True)
    for command in (
        f"key add openai openai-prod {SECRET} --base-url {fake.base_url}",
        "agent create writer --key openai-prod --model gpt-4o-mini --show-cost",
    ):
        sink = RecordingSink()
        await core.handle_command(CommandRequest(place=place, sender=sender, text=command), sink)
        assert sink.texts and "error" not in sink.texts[0].lower(), sink.texts
    for text in (QUESTION, f"@writer {QUESTION}", f"look {LEAKED}"):
        sink = RecordingSink()
        message = world.message(text, channel="console")
        await core.handle_message(message, sink)
        assert sink.replies
    assert len(fake.chat_requests) == 2
    assert log_capture.records, "nothing was captured at all"
    assert_absent(log_capture.text, "the captured log records")
