"""The console adapter: `byokbot shell` (and `serve` on a terminal) on stdin/stdout.

One command or message per line. A line starting with `/byok ` or `byok ` is a command;
`@<agent> …` goes to that agent; any other non-empty line to the default agent. Replies
go to standard output — streamed piece by piece on a terminal, whole lines in a pipe.
`key add` without a secret asks for it with a hidden prompt on a terminal, or takes the
next input line (never echoed) from a pipe. The local user is the console workspace's
admin. Input is normalised (`bot.safetext`): bytes that are not UTF-8 become U+FFFD and
a message's stray control characters are dropped (a command holding one gets the
grammar's clear line), so hostile input gets an answer, never a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import io
import logging
import os
import sys
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from adapters.console_files import local_file, split_files
from adapters.console_input import LineEditor, Reader
from adapters.console_memory import Exchange, SessionMemory
from adapters.poster import Poster
from bot.approvals import console_hint
from bot.boundary import CommandRequest, IncomingMessage, Place, SecretForm, Sender
from bot.config import Settings
from bot.core import Core
from bot.logging_setup import log_to_file
from bot.safetext import clean, encodable
from bot.services import Services

if TYPE_CHECKING:  # aiohttp is the web server's, and a shell start never needs it
    from aiohttp import web

logger = logging.getLogger(__name__)

WORKSPACE_ID = "console"
CHANNEL_ID = "console"
USER_ID = "console-user"
PROMPT = "byok> "
BANNER = (
    "byokbot console: `help` shows the help, `/byok …` runs a command, any other line "
    "talks to an agent; Ctrl-D quits."
)
# Answered here, never sent to a model: the console's own help and its `/new`.
HELP_WORDS = frozenset({"help", "/help", "?"})
NEW_WORD = "/new"
CONSOLE_HELP = (
    "In this console: `@<agent> …` talks to that agent, any other line to the default agent.\n"
    "Each agent remembers this session's conversation (in memory only, never on disk); "
    "`/new` starts a fresh one for every agent.\n"
    "`help`, `/help` or `?` shows this help; Up and Down recall earlier lines on a terminal; "
    "Ctrl-D quits."
)
_COMMAND_PREFIXES = ("/byok", "byok")
# Relative to the working directory, like the default database and master key (./data/…).
FILES_DIR = Path("data", "digests")


def command_text(line: str) -> str | None:
    """The command after `/byok`/`byok` (`""` for the bare word), or None for a message."""
    for prefix in _COMMAND_PREFIXES:
        if line == prefix:
            return ""
        if line.startswith(prefix) and line[len(prefix)].isspace():
            return line[len(prefix) :].strip()
    return None


class ConsoleSink:
    """Replies for one console line."""

    def __init__(self, console: ConsoleAdapter, *, exchange: Exchange | None = None) -> None:
        self.console = console
        self.exchange = exchange

    async def send(self, text: str, *, private: bool = False) -> None:
        """Print a whole reply (private or not: only the local user sees the console)."""
        self.console.write(text)

    async def stream(self, chunks: AsyncIterator[str]) -> str:
        """Print each piece as it arrives (terminal or pipe); remember a finished answer."""
        parts: list[str] = []
        try:
            async for chunk in chunks:
                parts.append(chunk)
                self.console.out.write(clean(chunk))
                self.console.out.flush()
        finally:
            if parts or self.console.stdout_tty:
                self.console.write("")
        text = "".join(parts)
        if self.exchange is not None:  # only a stream that ended normally is remembered
            self.exchange.answered(text)
        return text

    async def send_file(
        self, *, filename: str, content: bytes, title: str = "", private: bool = False
    ) -> None:
        """Print the file between marker lines (a console has nowhere else to put it)."""
        body = content.decode("utf-8", errors="replace").rstrip("\n")
        self.console.write(f"--- {filename} ---\n{body}\n--- end of {filename} ---")

    async def send_refusal(self, text: str, *, request_id: str) -> None:
        """Print the refusal with its request id and how an admin approves it (no buttons)."""
        self.console.write(f"{text}\n{console_hint(request_id)}")

    async def open_secret_form(self, form: SecretForm) -> None:
        """Ask for the secret without echo, then finish the command with it."""
        secret = await self.console.read_secret(f"Secret for key {form.key_name} (hidden): ")
        if secret is None or not secret.strip():
            self.console.write(f"key {form.action} cancelled: no secret was given.")
            return
        await self.console.core.submit_secret(
            form,
            secret.strip(),
            place=self.console.place,
            sender=self.console.sender,
            sink=self,
        )


class ConsolePoster(Poster[str]):
    """Posts to "channels" by printing `[#channel] text`; an attached file goes to disk.

    A console has no buttons: an approval request's text already names its commands.
    """

    def __init__(self, console: ConsoleAdapter, *, files_dir: Path = FILES_DIR) -> None:
        self.console = console
        self.files_dir = files_dir

    async def _open(self, workspace_id: str, channel_id: str) -> str:
        if channel_id.startswith("@"):  # a direct message to a member
            return f"[to {channel_id}]"
        return f"[#{channel_id.lstrip('#')}]"

    def _pieces(self, text: str) -> list[str]:
        return [text]  # whole: `write` cleans it, and a terminal has no length limit

    async def _send_text(self, target: str, piece: str) -> None:
        self.console.write(f"{target} {piece}")

    async def _send_request(self, target: str, text: str, request_id: str) -> None:
        await self._send_text(target, text)

    async def _send_file(self, target: str, name: str, content: bytes) -> None:
        """Write the attached file (the digest's chart) and print its path."""
        # Only the base name: the file lands in files_dir whatever the name says.
        path = self.files_dir / (Path(name).name or "attachment")
        try:
            await asyncio.to_thread(_write_file, path, content)
        except OSError as exc:
            logger.warning("could not write %s: %s", path, type(exc).__name__)
            self.console.write(f"[file {path.name} could not be saved in {self.files_dir}]")
            return
        self.console.write(f"[file: {_shown_path(path)}]")


class ConsoleAdapter:
    """The console platform: reads lines, hands them to the core, prints replies."""

    name = "console"

    def __init__(
        self,
        core: Core,
        services: Services,
        *,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
    ) -> None:
        self.core = core
        self.services = services
        self.inp = stdin if stdin is not None else sys.stdin
        self.out = stdout if stdout is not None else sys.stdout
        _replace_undecodable(self.inp)
        _replace_undecodable(self.out)
        self.stdin_tty = _isatty(self.inp)
        self.stdout_tty = _isatty(self.out)
        user = os.environ.get("USER") or os.environ.get("USERNAME") or "console"
        self.sender = Sender(user_id=USER_ID, display_name=user, is_platform_admin=True)
        self.place = Place(
            workspace_id=WORKSPACE_ID,
            platform="console",
            channel_id=CHANNEL_ID,
            workspace_name="console",
        )
        self._reader = Reader()
        self._poster = ConsolePoster(self)
        self.memory = SessionMemory()
        self._editor: LineEditor | None = None
        self._task: asyncio.Task[int] | None = None

    def routes(self) -> Sequence[web.RouteDef]:
        """The console serves no HTTP routes."""
        return []

    def poster(self) -> ConsolePoster:
        """Channel posts (alerts, digests) are printed."""
        return self._poster

    async def start(self) -> None:
        """Run the read loop in the background (for `serve`)."""
        self._task = asyncio.ensure_future(self.run())

    async def stop(self) -> None:
        """Stop the read loop."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def write(self, text: str) -> None:
        """Print one reply and flush (a pipe reader sees each reply as it is made)."""
        self.out.write(clean(text) + "\n")
        self.out.flush()

    async def read_line(self) -> str | None:
        """The next input line without its newline; None at end of input."""
        editor = self._editor
        if editor is not None:  # readline prints the prompt and edits the line
            edited = await self._reader.call(lambda: editor.read(PROMPT))
            return None if edited is None else encodable(edited)
        if self.stdin_tty and self.stdout_tty:
            self.out.write(PROMPT)
            self.out.flush()
        raw = await self._reader.call(self.inp.readline)
        return None if raw == "" else encodable(raw.rstrip("\r\n"))

    async def read_secret(self, prompt: str) -> str | None:
        """A secret: a hidden prompt on a terminal, else the next line (never echoed)."""
        if self.stdin_tty:
            try:
                return encodable(await self._reader.call(lambda: getpass.getpass(prompt)))
            except (EOFError, KeyboardInterrupt):
                return None
        return await self.read_line()

    async def run(self) -> int:
        """Handle lines until end of input; return the exit code."""
        if self.stdin_tty and self.stdout_tty:
            self._take_terminal()
        try:
            while True:
                try:
                    line = await self.read_line()
                except KeyboardInterrupt:
                    line = None
                if line is None:
                    if self.stdin_tty and self.stdout_tty:
                        self.write("")
                    return 0
                await self.handle_line(line)
        finally:
            if self._editor is not None:
                self._editor.restore()

    def _take_terminal(self) -> None:
        """Line editing on, log lines off the screen (into a file), and say so."""
        self._editor = LineEditor.open(self.inp, self.out)
        self.write(BANNER)
        try:
            path = log_to_file()
        except OSError as exc:  # an unwritable ./data: logs stay on the terminal
            logger.warning("cannot write the log file: %s", type(exc).__name__)
            return
        self.write(f"Logs go to {_shown_path(path)}.")

    async def handle_line(self, line: str) -> None:
        """One line: a command, a message, or (when blank) nothing."""
        text = line.strip()
        if not text:
            return
        if text.lower() in HELP_WORDS:  # local: never a model, never a usage row
            await self.show_help()
            return
        if text.lower() == NEW_WORD:
            self.memory.forget()
            self.write("Started a new conversation: every agent has forgotten this session.")
            return
        sink = ConsoleSink(self)
        command = command_text(text)
        if command is not None:
            request = CommandRequest(place=self.place, sender=self.sender, text=command)
            await self.core.handle_command(request, sink)
            return
        text = clean(text).strip()
        if not text:  # nothing but control characters
            return
        text, paths = split_files(text)  # `@agent --file PATH … text`
        exchange = Exchange(self.memory, text)
        message = IncomingMessage(
            place=self.place,
            sender=self.sender,
            text=text,
            event_id=f"console-{uuid.uuid4().hex}",
            mentions_bot=True,
            agent_history=exchange.history,
            files=tuple(local_file(path) for path in paths),
        )
        await self.core.handle_message(message, ConsoleSink(self, exchange=exchange))

    async def show_help(self) -> None:
        """The console's own help, then the commands' (`/byok help`): nothing reaches a model."""
        self.write(CONSOLE_HELP)
        request = CommandRequest(place=self.place, sender=self.sender, text="help")
        await self.core.handle_command(request, ConsoleSink(self))


def _write_file(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(content)
    temporary.replace(path)  # a reader never sees half a file


def _shown_path(path: Path) -> str:
    # Relative paths as `./data/…`, the way the README and the SPEC name them.
    return str(path) if path.is_absolute() else f"./{path.as_posix()}"


def _replace_undecodable(stream: TextIO) -> None:
    # A UTF-8 locale reads stdin strictly: one byte that is not UTF-8 (`\xff`) would end
    # the console with UnicodeDecodeError. "replace" turns it into U+FFFD instead; on
    # stdout it keeps an unencodable character in model output from ending it either.
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        with contextlib.suppress(ValueError, OSError, io.UnsupportedOperation):
            reconfigure(errors="replace")


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class ConsolePlugin:
    """The `console` entry point: local use when no chat platform is configured."""

    name = "console"

    def is_configured(self, settings: Settings, *, interactive: bool) -> bool:
        """Only on a terminal and only when no chat platform has credentials."""
        return interactive and not (settings.slack_configured or settings.discord_configured)

    def create(self, core: Core, services: Services) -> ConsoleAdapter:
        """A console adapter on this process's stdin/stdout."""
        return ConsoleAdapter(core, services)


plugin = ConsolePlugin()
