"""The console's input: one reader thread, and line editing with `readline` on a terminal.

`Reader` runs blocking reads off the event loop. `LineEditor` (the stdlib `readline`) is
used only when standard input and output are both terminals; a pipe is read one line at
a time as before, with no escape sequences and no prompt. Why `readline` and not
prompt_toolkit: it is in the standard library (no new dependency to lock and audit), it
is what `python` itself uses, and it works on Debian (GNU readline) and macOS (libedit)
alike; the console needs line editing and history, not completion menus or colours.

History lives in memory only: a history file would put messages on disk, and a line
that carries a secret (`key add … <secret>`, anything key-shaped) is not kept at all.
The terminal's settings are saved before the first read and put back at the end, so
leaving in the middle of a read (Ctrl-C) never leaves the terminal without echo.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import re
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any, TextIO, TypeVar

from bot.secrets_shape import looks_secret

T = TypeVar("T")

# A key command's line may hold its secret even when it has no recognisable shape.
_KEY_COMMAND = re.compile(r"^/?byok\s+key\s+(?:add|rotate)\b", re.I)


def kept_in_history(line: str) -> bool:
    """Whether Up-arrow may bring `line` back: not blank, and no secret in it."""
    text = line.strip()
    return bool(text) and not looks_secret(text) and _KEY_COMMAND.match(text) is None


class LineEditor:
    """Reads lines with `readline` editing (arrows, Ctrl-A/E, …) and in-memory history."""

    def __init__(self, readline: ModuleType, *, fd: int) -> None:
        self._readline = readline
        self._fd = fd
        self._saved: list[Any] | None = None
        with contextlib.suppress(ImportError, OSError):
            import termios

            self._saved = termios.tcgetattr(fd)
        readline.set_auto_history(False)  # we choose what is kept (no secrets)

    @classmethod
    def open(cls, stdin: TextIO, stdout: TextIO) -> LineEditor | None:
        """An editor for the process's own terminal, or None (a pipe, no readline)."""
        import sys

        # `input()` edits with readline only on the process's real stdin and stdout.
        if stdin is not sys.stdin or stdout is not sys.stdout:
            return None
        try:
            if not (stdin.isatty() and stdout.isatty()):
                return None
            fd = stdin.fileno()
            # Imported only here: on some systems importing it writes to the terminal.
            import readline
        except (ImportError, OSError, ValueError, AttributeError):
            return None
        return cls(readline, fd=fd)

    def read(self, prompt: str) -> str | None:
        """One edited line (blocking; run it off the event loop); None at end of input."""
        try:
            line = input(prompt)
        except EOFError:
            return None
        if kept_in_history(line):
            self._remember(line)
        return line

    def _remember(self, line: str) -> None:
        readline = self._readline
        length = readline.get_current_history_length()
        if length and readline.get_history_item(length) == line:
            return  # Up-arrow brings back distinct lines, like a shell
        readline.add_history(line)

    def restore(self) -> None:
        """Put the terminal's settings back as they were before the first read."""
        if self._saved is None:
            return
        with contextlib.suppress(ImportError, OSError):
            import termios

            termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)


class Reader:
    """Reads standard input on one daemon thread, on demand.

    On demand (not read-ahead) so a hidden secret prompt never races a pending line
    read; a daemon thread so a read blocked on a terminal never delays process exit.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[
            tuple[Callable[[], object], asyncio.Future[object], asyncio.AbstractEventLoop]
        ] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    async def call(self, fn: Callable[[], T]) -> T:
        """Run the blocking `fn` on the reader thread and await its result."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="console-stdin", daemon=True)
            self._thread.start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[object] = loop.create_future()
        self._jobs.put((fn, future, loop))
        return await future  # type: ignore[return-value]

    def _work(self) -> None:
        while True:
            fn, future, loop = self._jobs.get()
            try:
                result = fn()
            except BaseException as exc:  # handed to the awaiting coroutine
                loop.call_soon_threadsafe(_settle, future, None, exc)
            else:
                loop.call_soon_threadsafe(_settle, future, result, None)


def _settle(future: asyncio.Future[object], result: object, exc: BaseException | None) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
