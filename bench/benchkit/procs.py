"""Processes and /proc readings for the outside-in benches: CPU, RSS, children, databases."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from tests.kits.helpers import clean_env

REPO = Path(__file__).resolve().parents[2]
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TICK = os.sysconf("SC_CLK_TCK")


# -- /proc ------------------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` (all its threads), in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def own_cpu_seconds() -> float:
    """This process's user + system CPU seconds."""
    times = os.times()
    return times.user + times.system


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


def pct(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# -- processes --------------------------------------------------------------------------
def python_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A clean environment (tests' netguard included) that imports from the repository."""
    return clean_env({"PYTHONPATH": str(REPO), **(extra or {})})


@dataclass
class Target:
    """One process under measurement."""

    name: str
    pid: int
    idle_rss: float = 0.0


class Controlled:
    """A child `python -m module` driven by one JSON line per command, one JSON reply each;
    its first line (read at start) is `info`. It ends when its stdin closes."""

    def __init__(self, module: str, *, env: Mapping[str, str] | None = None) -> None:
        self.module = module
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module],
            cwd=REPO,
            env=python_env(env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.info = self._read()

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"the child process {self.module} ended")
        reply = cast(dict[str, Any], json.loads(line))
        if "error" in reply:
            raise SystemExit(f"{self.module}: {reply['error']}")
        return reply

    def command(self, cmd: str, **args: Any) -> dict[str, Any]:
        """Send one command; return its reply."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"cmd": cmd, **args}) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        """Close stdin (the process ends) and wait."""
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def wait_until(
    check: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.05
) -> None:
    """Poll `check()` until it is true; SystemExit naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(interval)


@contextlib.contextmanager
def database(kind: str, workdir: Path, *, prefix: str = "byok_bench") -> Iterator[str]:
    """A fresh database URL: a SQLite file, or a uniquely named PostgreSQL database
    (at BYOKBOT_TEST_POSTGRES_URL's server) dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'bench.db'}"
        return
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(os.environ.get("BYOKBOT_TEST_POSTGRES_URL", PG_DEFAULT))
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
