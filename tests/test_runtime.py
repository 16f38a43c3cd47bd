"""`byokbot serve` as a process: /healthz, /metrics, port 0, signals (outages: test_serve_ops)."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import time
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from bot import metrics
from bot.config import Settings
from bot.runtime import discover_plugins, select_plugins
from bot.vault.masterkey import generate_key
from tests.kits.helpers import ServeProcess, byokbot_command, clean_env

SLACK_TOKEN = "xoxb-4242-4242-PlantedServeToken"


def test_serve_health_metrics_and_graceful_stop(tmp_path: Path, database_url: str) -> None:
    master = generate_key()
    env = {
        "BYOKBOT_DATABASE_URL": database_url,
        "BYOKBOT_MASTER_KEY": master,
        "SLACK_BOT_TOKEN": SLACK_TOKEN,  # not enough to configure Slack; must never show
        "BYOKBOT_LOG_LEVEL": "DEBUG",
    }
    with ServeProcess(env=env, cwd=tmp_path) as server:
        assert server.port > 0
        health = httpx.get(f"{server.url}/healthz", timeout=10)
        assert health.status_code == 200
        assert health.json() == {"status": "ok", "adapters": [], "database": "ok"}
        scrape = httpx.get(f"{server.url}/metrics", timeout=10)
        assert scrape.status_code == 200
        assert scrape.headers["content-type"].startswith("text/plain")
        for family in ("messages", "commands", "provider_calls", "cost_usd"):
            assert f"# TYPE byokbot_{family}_total counter" in scrape.text
        assert httpx.get(f"{server.url}/nope", timeout=10).status_code == 404
        for body in (health.text, scrape.text):
            assert SLACK_TOKEN not in body and master not in body
        assert server.stop() == 0
    log = server.log_text()
    assert f"listening on http://127.0.0.1:{server.port}" in log
    assert re.search(r"bot\.runtime: stopped\s*$", log.strip())
    assert "Traceback" not in log
    assert SLACK_TOKEN not in log and master not in log


def test_sigint_stops_gracefully(tmp_path: Path, database_url: str) -> None:
    env = {"BYOKBOT_DATABASE_URL": database_url, "BYOKBOT_MASTER_KEY": generate_key()}
    with ServeProcess(env=env, cwd=tmp_path) as server:
        assert server.stop(sig=signal.SIGINT) == 0
    assert "stopped" in server.log_text() and "Traceback" not in server.log_text()


def test_two_servers_on_one_database(tmp_path: Path, database_url: str) -> None:
    """Replicas share a database: the second start must not trip over the first's vault."""
    env = {"BYOKBOT_DATABASE_URL": database_url, "BYOKBOT_MASTER_KEY": generate_key()}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        ServeProcess(env=env, cwd=tmp_path / "a") as one,
        ServeProcess(env=env, cwd=tmp_path / "b") as two,
    ):
        for server in (one, two):
            assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200


def test_plugins_are_found_through_entry_points() -> None:
    plugins = discover_plugins()
    assert {"console", "slack"} <= set(plugins)
    unset: dict[str, object] = dict.fromkeys(
        ("slack_bot_token", "slack_signing_secret", "slack_app_token", "slack_client_id"), None
    )
    quiet = Settings(_env_file=None, discord_bot_token=None, **unset)  # type: ignore[arg-type]
    assert select_plugins(plugins, quiet, interactive=False) == []
    assert [p.name for p in select_plugins(plugins, quiet, interactive=True)] == ["console"]
    slack = quiet.model_copy(update={"slack_bot_token": "xoxb-1", "slack_signing_secret": "s"})
    assert [p.name for p in select_plugins(plugins, slack, interactive=True)] == ["slack"]


@pytest.mark.parametrize(
    ("provider", "status", "label"),
    [("openai", "ok", 'provider="openai",status="ok"'),
     ("sk-proj-leak0123456789abcdefghij", "ok", 'provider="other",status="ok"'),
     ("anthropic", "Bearer xyz", 'provider="anthropic",status="other"')],
)  # fmt: skip
def test_metric_labels_come_from_closed_vocabularies(
    provider: str, status: str, label: str
) -> None:
    metrics.count_provider_call(provider=provider, status=status)
    metrics.add_cost(provider=provider, usd=Decimal("0.0042"))
    text = metrics.render().decode()
    assert label in text
    assert "sk-proj-leak" not in text and "Bearer" not in text


def _read_until(fd: int, marker: bytes, *, timeout: float = 30.0) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        if time.monotonic() > deadline:
            raise AssertionError(f"{marker!r} never appeared in {seen[-2000:]!r}")
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                seen += os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                break
    return seen


def test_serve_on_a_terminal_opens_the_console_and_ends_with_it(
    tmp_path: Path, database_url: str
) -> None:
    env = {
        "BYOKBOT_DATABASE_URL": database_url,
        "BYOKBOT_MASTER_KEY": generate_key(),
        "BYOKBOT_HTTP_HOST": "127.0.0.1",
        "BYOKBOT_HTTP_PORT": "0",
        "TERM": "dumb",
    }
    primary, secondary = pty.openpty()
    with (tmp_path / "serve.log").open("wb") as log:
        proc = subprocess.Popen(
            [*byokbot_command(), "serve"],
            stdin=secondary, stdout=secondary, stderr=log,
            env=clean_env(env), cwd=tmp_path,
        )  # fmt: skip
    os.close(secondary)
    try:
        _read_until(primary, b"byok> ")
        os.write(primary, b"/byok help\n")
        shown = _read_until(primary, b"/byok audit")
        assert b"/byok key add" in shown
        # readline reads Ctrl-D as end of input only at an empty prompt: wait for it
        # (it may have come in the same read as the end of the help).
        if b"byok> " not in shown.split(b"/byok audit", 1)[1]:
            _read_until(primary, b"byok> ")
        os.write(primary, b"\x04")  # end of input on the terminal
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(primary)
    # On a terminal the log goes to ./data/byokbot.log, never between the prompts.
    log_text = (tmp_path / "data" / "byokbot.log").read_text()
    assert "adapter console started" in log_text and "stopped" in log_text
    assert "Traceback" not in log_text
