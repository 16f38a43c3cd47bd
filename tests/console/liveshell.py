"""One real `byokbot shell` process fed line after line through a pipe, for many inputs.

Starting the shell costs far more CPU than answering a line, so a test (or a whole
Hypothesis run) feeds all its lines to one process. The console answers lines one at a
time and flushes each reply (adapters/console.py), so a sentinel command after a batch
delimits the batch's replies: `send` returns once the sentinel has answered. `close`
ends standard input and checks the shell ended as a piped run must: exit code 0, no
traceback. Every `send` also checks that nothing so far wrote a traceback or
"internal error".
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO

from tests.kits.helpers import byokbot_command, clean_env

SENTINEL = b"/byok help audit"
INTERNAL = b"internal error"


class LiveShell:
    """`byokbot shell` on piped stdin/stdout/stderr; `send` feeds lines, returns their replies."""

    def __init__(self, *, env: Mapping[str, str], cwd: Path, sentinel: bytes = SENTINEL) -> None:
        self.cwd = cwd
        self.env = dict(env)
        self.sentinel = sentinel
        self.sentinel_reply = b""
        self._proc: subprocess.Popen[bytes] | None = None
        self._out = bytearray()
        self._err = bytearray()
        self._changed = threading.Condition()
        self._readers: list[threading.Thread] = []
        #: (monotonic time, bytes read) of each read from the stdout pipe
        self.arrivals: list[tuple[float, bytes]] = []

    @property
    def stderr(self) -> str:
        """Everything the shell wrote to standard error so far (its log)."""
        with self._changed:
            return self._err.decode("utf-8", errors="replace")

    @property
    def stdout(self) -> str:
        """Everything the shell wrote to standard output so far."""
        with self._changed:
            return self._out.decode("utf-8", errors="replace")

    def start(self) -> LiveShell:
        """Start the shell and learn the sentinel's reply (sent twice: the reply repeats)."""
        self._proc = subprocess.Popen(
            [*byokbot_command(), "shell"],
            env=clean_env(self.env),
            cwd=self.cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert self._proc.stdout is not None and self._proc.stderr is not None
        for stream, buffer in ((self._proc.stdout, self._out), (self._proc.stderr, self._err)):
            reader = threading.Thread(target=self._pump, args=(stream, buffer), daemon=True)
            reader.start()
            self._readers.append(reader)
        self._write([self.sentinel, self.sentinel])

        def doubled() -> bool:
            half = len(self._out) // 2
            return bool(half) and self._out.endswith(b"\n") and self._out[:half] == self._out[half:]

        self._wait(doubled, timeout=60.0, what="the sentinel's replies")
        with self._changed:
            self.sentinel_reply = bytes(self._out[: len(self._out) // 2])
            del self._out[:]
        return self

    def send_bytes(self, *lines: bytes, timeout: float = 60.0) -> str:
        """Feed `lines` and the sentinel; return what the shell printed for `lines`.

        Waits until the output holds one more sentinel reply than `lines` asked for and
        ends with it, so every line before the sentinel has been read and answered.
        """
        with self._changed:
            start = len(self._out)
        expected = sum(line == self.sentinel for line in lines) + 1
        self._write([*lines, self.sentinel])
        reply = self.sentinel_reply

        def answered() -> bool:
            batch = self._out[start:]
            return batch.count(reply) >= expected and batch.endswith(reply)

        self._wait(answered, timeout=timeout, what=f"the replies to {len(lines)} line(s)")
        with self._changed:
            batch = bytes(self._out[start:])
        self.check()
        return batch[: -len(reply)].decode("utf-8", errors="replace")

    def send(self, *lines: str, timeout: float = 60.0) -> str:
        """`send_bytes` for text lines (UTF-8)."""
        return self.send_bytes(*(line.encode() for line in lines), timeout=timeout)

    def check(self) -> None:
        """The shell is still running and has written no traceback nor "internal error"."""
        with self._changed:
            out, err = bytes(self._out), bytes(self._err)
        assert b"Traceback" not in out + err, err.decode(errors="replace")
        assert INTERNAL not in out, out.decode(errors="replace")
        assert self.process.poll() is None, (
            f"the shell ended early:\n{err.decode(errors='replace')}"
        )

    @property
    def process(self) -> subprocess.Popen[bytes]:
        """The running process."""
        assert self._proc is not None, "not started"
        return self._proc

    def close(self, *, timeout: float = 60.0) -> None:
        """End standard input; the shell must end with 0 and no traceback."""
        proc = self.process
        if proc.stdin is not None and not proc.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError(f"the shell did not end at end of input:\n{self.stderr}") from None
        for reader in self._readers:
            reader.join(timeout=10)
        assert code == 0, self.stderr
        assert "Traceback" not in self.stdout + self.stderr, self.stderr

    def kill(self) -> None:
        """Stop the process whatever its state (after a failed test)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()

    def __enter__(self) -> LiveShell:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.kill()

    def _pump(self, stream: IO[bytes], buffer: bytearray) -> None:
        read = stream.read1  # type: ignore[attr-defined]
        while True:
            data = read(65536)
            with self._changed:
                if data:
                    buffer.extend(data)
                    if buffer is self._out:
                        self.arrivals.append((time.monotonic(), data))
                self._changed.notify_all()
            if not data:
                return

    def _write(self, lines: list[bytes]) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        try:
            stdin.write(b"".join(line + b"\n" for line in lines))
            stdin.flush()
        except BrokenPipeError:
            raise AssertionError(f"the shell stopped reading:\n{self.stderr}") from None

    def _wait(self, done: Callable[[], bool], *, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not done():
                if self.process.poll() is not None and not any(r.is_alive() for r in self._readers):
                    raise AssertionError(
                        f"the shell ended before {what}:\n{self._err.decode(errors='replace')}"
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"no end of {what} in {timeout:.0f} s; output so far:\n"
                        f"{self._out.decode(errors='replace')[-2000:]}\n"
                        f"log:\n{self._err.decode(errors='replace')[-2000:]}"
                    )
                self._changed.wait(min(left, 1.0))
