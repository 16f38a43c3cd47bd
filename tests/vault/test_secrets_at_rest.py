"""Guarantee 1 at rest: a planted key is in no database byte, no dump, no log line."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine

from bot.vault.keystore import open_vault
from tests.kits.helpers import run_byokbot
from tests.kits.logcapture import LogCapture
from tests.kits.secret_hunt import assert_absent, database_bytes
from tests.kits.seed import PLANTED, read_all, secret_for, seed_keys, settings_for

SHELL_SECRET = "sk-ant-api03-ShellPlanted0123456789abcdefghijklmnopqrstuvwxyzAB"
ROTATED_SECRET = "sk-proj-RotatedPlanted0123456789abcdefghijklmnopqrstuvwxyz"


def test_planted_keys_absent_from_database_and_debug_logs(
    engine: Engine, database_url: str, master_key: str, tmp_path: Path, log_capture: LogCapture
) -> None:
    settings = settings_for(database_url, master_key=master_key, key_file=tmp_path / "k")
    vault = open_vault(settings, engine)
    seed_keys(engine, vault, count=3)
    assert read_all(engine, vault)["key-002"] == secret_for(2)  # they are really there
    secrets = [secret_for(i) for i in range(3)] + [PLANTED, master_key]
    # Before any checkpoint: on SQLite the rows still sit in the -wal file too.
    assert_absent(database_bytes(database_url), secrets, where="the database")
    engine.dispose()
    assert_absent(database_bytes(database_url), secrets, where="the database after checkpoint")
    assert_absent(log_capture.text.encode(), secrets, where="the DEBUG logs")
    assert log_capture.records, "the capture saw nothing: the check above would prove nothing"


def test_planted_keys_through_the_shell(tmp_path: Path, database_url: str, master_key: str) -> None:
    """Add, list and rotate keys through the real console at DEBUG: nothing leaks anywhere."""
    env = {
        "BYOKBOT_DATABASE_URL": database_url,
        "BYOKBOT_MASTER_KEY": master_key,
        "BYOKBOT_LOG_LEVEL": "DEBUG",
    }
    lines = [
        f"/byok key add anthropic claude {SHELL_SECRET} --no-verify",
        "/byok key list",
        f"/byok key rotate claude {ROTATED_SECRET} --no-verify",
        "/byok key list",
        "/byok audit",
    ]
    result = run_byokbot("shell", env=env, cwd=tmp_path, stdin="\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr
    assert "sk-…" in result.stdout, "the key listing shows masked keys"
    assert "Traceback" not in result.stderr
    secrets = [SHELL_SECRET, ROTATED_SECRET, master_key]
    assert_absent((result.stdout + result.stderr).encode(), secrets, where="the shell output")
    assert_absent(database_bytes(database_url), secrets, where="the database")
