"""Run the real `byokbot` command as a subprocess with a clean environment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

REPO = Path(__file__).resolve().parents[2]
PASSTHROUGH = ("PATH", "HOME", "TMPDIR", "SYSTEMROOT")


def byokbot_command() -> list[str]:
    """The installed console script, or `python -m bot.cli` when it is not installed."""
    script = Path(sys.executable).with_name("byokbot")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "bot.cli"]


NETGUARD = str(Path(__file__).resolve().parents[1] / "netguard")


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Only PATH/HOME-like variables plus `extra`: no BYOKBOT_*, SLACK_* or keys leak in."""
    env = {name: os.environ[name] for name in PASSTHROUGH if name in os.environ}
    # No PYTHONDONTWRITEBYTECODE: each start would compile our ~180 modules from source again
    # (tests/run-suites compiles them once before the shards; __pycache__ is git-ignored).
    env.update({"LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1"})
    if extra:
        env.update(extra)
    # Every process a test starts stays on this machine (tests/netguard/sitecustomize.py).
    env["PYTHONPATH"] = os.pathsep.join(p for p in (NETGUARD, env.get("PYTHONPATH", "")) if p)
    return env


def run_byokbot(
    *args: str,
    env: Mapping[str, str],
    cwd: Path,
    stdin: str | None = None,
    timeout: float = 60.0,
) -> subprocess.CompletedProcess[str]:
    """Run `byokbot ARGS` to completion in `cwd` (so no stray `.env` is read)."""
    return subprocess.run(
        [*byokbot_command(), *args],
        env=clean_env(env),
        cwd=cwd,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class ServeProcess:
    """`byokbot serve` on 127.0.0.1 and a free port, learnt through `--port-file`."""

    def __init__(self, *, env: Mapping[str, str], cwd: Path, startup_timeout: float = 30.0):
        self.cwd = cwd
        self.port_file = cwd / "serve.port"
        self.log_file = cwd / "serve.log"
        self._env = {"BYOKBOT_HTTP_HOST": "127.0.0.1", "BYOKBOT_HTTP_PORT": "0", **env}
        self._startup_timeout = startup_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """Base URL of the running server."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def process(self) -> subprocess.Popen[bytes]:
        """The running process."""
        assert self._proc is not None, "not started"
        return self._proc

    def log_text(self) -> str:
        """Everything the process wrote to stdout and stderr so far."""
        return self.log_file.read_text(encoding="utf-8", errors="replace")

    def start(self) -> ServeProcess:
        """Start and wait until the port file appears (or fail with the log)."""
        self.port_file.unlink(missing_ok=True)
        with self.log_file.open("wb") as log:
            self._proc = subprocess.Popen(
                [*byokbot_command(), "serve", "--port-file", str(self.port_file)],
                env=clean_env(self._env),
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            if self.port_file.exists() and self.port_file.read_text().strip():
                self.port = int(self.port_file.read_text())
                return self
            if self._proc.poll() is not None:
                raise AssertionError(
                    f"serve exited with {self._proc.returncode}:\n{self.log_text()}"
                )
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"serve did not start in time:\n{self.log_text()}")

    def stop(self, *, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Signal the process and wait for it; kill it if it hangs. Returns the exit code."""
        proc = self.process
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise AssertionError(f"serve ignored signal {sig}:\n{self.log_text()}") from None
        return proc.returncode

    def __enter__(self) -> ServeProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self.stop()
