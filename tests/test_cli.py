"""The `byokbot` command as a user runs it: subcommands, exit codes, one-line errors."""

from __future__ import annotations

import base64
import socket
import stat
import time
from pathlib import Path

from bot.vault.masterkey import generate_key
from tests.kits.helpers import run_byokbot


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_help_lists_every_command(tmp_path: Path) -> None:
    result = run_byokbot("--help", env={}, cwd=tmp_path)
    assert result.returncode == 0
    for command in ("serve", "shell", "migrate", "master-key"):
        assert command in result.stdout
    rotate = run_byokbot("master-key", "rotate", "--help", env={}, cwd=tmp_path)
    assert "--new-key-file" in rotate.stdout and "--new-key-env" in rotate.stdout
    version = run_byokbot("--version", env={}, cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.strip()


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    for args in ((), ("fly",), ("master-key",), ("master-key", "rotate")):
        result = run_byokbot(*args, env={}, cwd=tmp_path)
        assert result.returncode == 2
        assert "usage: byokbot" in result.stderr and "Traceback" not in result.stderr


def test_generate_prints_fresh_32_byte_keys(tmp_path: Path) -> None:
    keys = [
        run_byokbot("master-key", "generate", env={}, cwd=tmp_path).stdout.strip() for _ in "ab"
    ]
    assert keys[0] != keys[1]
    assert all(len(base64.b64decode(key, validate=True)) == 32 for key in keys)
    assert not (tmp_path / "data").exists()


def test_unreachable_database_retries_then_one_line(tmp_path: Path) -> None:
    port = _free_port()
    url = f"postgresql+psycopg://bot:hunter2@127.0.0.1:{port}/byok"
    started = time.monotonic()
    result = run_byokbot("serve", env={"BYOKBOT_DATABASE_URL": url}, cwd=tmp_path)
    elapsed = time.monotonic() - started
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert [f"attempt {n}/5" in result.stderr for n in range(1, 6)] == [True] * 5
    assert elapsed >= 7  # 0.5 + 1 + 2 + 4 seconds of backoff between the five attempts
    last = result.stderr.strip().splitlines()[-1]
    assert (
        last
        == f"byokbot: error: cannot reach the database at postgresql+psycopg://bot:***@127.0.0.1:{port}/byok"
    )
    assert "hunter2" not in result.stderr + result.stdout


def test_migrate_does_not_need_or_create_a_master_key(tmp_path: Path) -> None:
    result = run_byokbot("migrate", env={}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "byokbot.db").exists()
    assert not (tmp_path / "data" / "master.key").exists()


def test_shell_from_a_pipe_first_start_creates_the_key_file(tmp_path: Path) -> None:
    result = run_byokbot("shell", env={}, cwd=tmp_path, stdin="/byok help\n/byok key list\n")
    assert result.returncode == 0, result.stderr
    assert "/byok key add" in result.stdout
    assert "Traceback" not in result.stderr
    key_file = tmp_path / "data" / "master.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text().strip() not in result.stdout + result.stderr
    assert "created a new master key file" in result.stderr


def test_shell_refuses_a_wrong_key_for_an_existing_database(tmp_path: Path) -> None:
    first = run_byokbot("shell", env={"BYOKBOT_MASTER_KEY": generate_key()}, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    wrong = run_byokbot("shell", env={"BYOKBOT_MASTER_KEY": generate_key()}, cwd=tmp_path)
    assert wrong.returncode == 2
    assert wrong.stderr.strip().splitlines()[-1].startswith("byokbot: error: wrong master key")
    assert "Traceback" not in wrong.stderr


def test_missing_key_file_for_a_used_database_is_refused(tmp_path: Path) -> None:
    first = run_byokbot("shell", env={}, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    (tmp_path / "data" / "master.key").unlink()
    again = run_byokbot("shell", env={}, cwd=tmp_path)
    assert again.returncode == 2
    assert "no master key" in again.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "data" / "master.key").exists()  # never silently replaced
