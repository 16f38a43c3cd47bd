"""Processes and /proc readings for `bench/slack.py`: fakes, baseline, database, CPU, RSS."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.benchkit.procs import Controlled, RssPeak, cpu_seconds, python_env, rss_mib
from bench.benchkit.procs import database as _database

REPO = Path(__file__).resolve().parents[2]
SECRET = "bench-signing-secret"


# -- processes --------------------------------------------------------------------------


class Fakes(Controlled):
    """The fakes process (`bench.slackbench.fakes`), driven by one JSON line per command."""

    def __init__(self) -> None:
        super().__init__("bench.slackbench.fakes")


class FakeAt:
    """Where the fake Slack (in the fakes process) listens, as `serve_env` reads it."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.default_token = token


@dataclass
class Target:
    """One process under measurement."""

    name: str
    pid: int
    url: str
    idle_rss: float = 0.0


def start_baseline(fakes: Fakes, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start the bare aiohttp app; returns it and its URL once its port file is written."""
    port_file = workdir / "baseline.port"
    env = python_env() | {
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_BOT_TOKEN": fakes.info["token"],
        "SLACK_API_URL": fakes.info["slack"],
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.slackbench.baseline", "--port-file", str(port_file)],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=(workdir / "baseline.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while not port_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit((workdir / "baseline.log").read_text())
        time.sleep(0.05)
    return proc, f"http://127.0.0.1:{int(port_file.read_text())}"


def database(kind: str, workdir: Path) -> contextlib.AbstractContextManager[str]:
    """A fresh database for the Slack bench (bench.benchkit.procs.database)."""
    return _database(kind, workdir, prefix="byok_bench_slack")


__all__ = ["RssPeak", "cpu_seconds", "database", "python_env", "rss_mib"]
