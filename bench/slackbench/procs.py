"""Processes and /proc readings for `bench/slack.py`: fakes, baseline, database, CPU, RSS."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from tests.kits.helpers import clean_env

REPO = Path(__file__).resolve().parents[2]
SECRET = "bench-signing-secret"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TICK = os.sysconf("SC_CLK_TCK")


# -- /proc ------------------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` (all its threads), in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mib(pid: int) -> float:
    """VmRSS of `pid` in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class RssPeak(threading.Thread):
    """Samples VmRSS every 50 ms until stopped; `peak` is the largest seen."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = rss_mib(pid)
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(0.05):
            with contextlib.suppress(OSError):
                self.peak = max(self.peak, rss_mib(self.pid))

    def stop(self) -> float:
        """Stop sampling; return the peak in MiB."""
        self._stop_event.set()
        self.join()
        return self.peak


# -- processes --------------------------------------------------------------------------
def python_env() -> dict[str, str]:
    return clean_env({"PYTHONPATH": str(REPO)})


class Fakes:
    """The fakes process, driven by one JSON line per command."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.slackbench.fakes"],
            cwd=REPO,
            env=python_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.info = self._read()

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit("the fakes process ended")
        return cast(dict[str, Any], json.loads(line))

    def command(self, cmd: str, **args: Any) -> dict[str, Any]:
        """Send one command; return its reply."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"cmd": cmd, **args}) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        """Close stdin (the process ends) and wait."""
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


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


@contextlib.contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    """A fresh database URL: a SQLite file, or a uniquely named PostgreSQL database."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'bench.db'}"
        return
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(os.environ.get("BYOKBOT_TEST_POSTGRES_URL", PG_DEFAULT))
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"byok_bench_slack_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
