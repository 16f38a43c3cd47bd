"""The one table of `/byok` commands, declared where each command lives.

Each command module puts `@command("key add <provider> <name> [<secret>] …", KeyAdd, …)`
on its handler, with its typed value (whose `build` is its parser) beside it. The
grammar, the help, the dispatcher, the nearest-syntax errors and the Discord tree all
read this table; the option sets and argument counts come from the syntax line itself.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from bot.commands.base import Command
from bot.commands.fields import Field

if TYPE_CHECKING:
    from bot.commands.context import CommandContext

PREFIX = "/byok"
# The modules that declare commands, in the help's order.
MODULES = (
    "help", "me", "keys", "keystate", "catalog", "agents", "roster", "bindings", "limits",
    "approvals", "reports", "digest", "admins", "audit",
)  # fmt: skip
# Each group's title where a platform shows groups (Discord's subcommand groups).
GROUP_TITLES: dict[str, str] = {
    "key": "Provider keys",
    "agent": "Agents",
    "limit": "Spending limits",
    "digest": "The daily digest",
    "admins": "Granted admins",
}
# Words people type for the groups; mapped silently rather than refused.
ALIASES: dict[str, str] = {"keys": "key", "agents": "agent", "limits": "limit", "admin": "admins"}

Handler = Callable[["CommandContext", Any], Awaitable[None]]
H = TypeVar("H", bound=Handler)
_MARK = "__byok_command__"
_ELEMENT = re.compile(r"\[[^\]]*\]|<[^>]*>|\S+")
_PATH_WORD = re.compile(r"[a-z]+")


@dataclass(frozen=True, slots=True)
class Spec:
    """One command: syntax line, summary, typed value, handler, and its form's fields."""

    path: tuple[str, ...]
    syntax: str  # without the "/byok " prefix
    summary: str
    value: type[Command]
    handler: Handler
    example: str  # a line the grammar accepts, also expressible in every form
    flags: frozenset[str] = frozenset()
    values: frozenset[str] = frozenset()
    min_args: int = 0
    max_args: int = 0
    details: str = ""
    brief: str = ""  # the description where a platform lists commands (≤ 100 characters)
    fields: tuple[Field, ...] = ()
    asks_for: str | None = None  # without this field, a private form asks for it
    fold_into: tuple[str, ...] = ()  # shown in a form as a switch of this command
    fold_switch: str = ""

    @property
    def name(self) -> str:
        """The command words joined: "key add"."""
        return " ".join(self.path)

    @property
    def syntax_line(self) -> str:
        """`usage: /byok key add …`, the line shown under a malformed command."""
        return f"usage: {PREFIX} {self.syntax}"

    @property
    def described(self) -> str:
        """The platform-list description: `brief`, else the summary capitalised."""
        return self.brief or self.summary[:1].upper() + self.summary[1:]


@dataclass(frozen=True, slots=True)
class Shape:
    """What a syntax line says: path words, flags, value options, argument counts."""

    path: tuple[str, ...]
    flags: frozenset[str]
    values: frozenset[str]
    min_args: int
    max_args: int


def shape(syntax: str) -> Shape:
    """Read a syntax line: `[...]` is optional, `--x VALUE` an option, `--x` a flag."""
    elements = _ELEMENT.findall(syntax)
    path: list[str] = []
    while elements and _PATH_WORD.fullmatch(elements[0]):
        path.append(elements.pop(0))
    flags: set[str] = set()
    options: set[str] = set()
    min_args = max_args = 0
    while elements:
        element = elements.pop(0)
        optional = element.startswith("[")
        body = element[1:-1] if optional else element
        if body.startswith("--"):
            parts = body.split()
            if len(parts) > 1:
                options.add(parts[0])
            elif not optional and elements and not elements[0].startswith(("-", "[")):
                options.add(parts[0])
                elements.pop(0)  # the option's value
            else:
                flags.update(parts[0].split("|"))
            continue
        max_args += 1
        min_args += 0 if optional else 1
    return Shape(tuple(path), frozenset(flags), frozenset(options), min_args, max_args)


def command(
    syntax: str,
    value: type[Command],
    *,
    summary: str,
    example: str,
    fields: tuple[Field, ...] = (),
    details: str = "",
    brief: str = "",
    asks_for: str | None = None,
    fold_into: tuple[str, ...] = (),
    fold_switch: str = "",
    max_args: int | None = None,
) -> Callable[[H], H]:
    """Declare the handler of one command (errbot's `@botcmd`, with a syntax line)."""
    read = shape(syntax)

    def mark(handler: H) -> H:
        spec = Spec(
            path=read.path,
            syntax=syntax,
            summary=summary,
            value=value,
            handler=handler,
            example=example,
            flags=read.flags,
            values=read.values,
            min_args=read.min_args,
            max_args=read.max_args if max_args is None else max_args,
            details=details,
            brief=brief,
            fields=fields,
            asks_for=asks_for,
            fold_into=fold_into,
            fold_switch=fold_switch,
        )
        setattr(handler, _MARK, spec)
        return handler

    return mark


@functools.cache
def specs() -> tuple[Spec, ...]:
    """Every command, in the help's order (the modules' order, then their own)."""
    found: list[Spec] = []
    for name in MODULES:
        module = importlib.import_module(f"{__package__}.{name}")
        for item in vars(module).values():
            spec = getattr(item, _MARK, None)
            if isinstance(spec, Spec) and getattr(item, "__module__", "") == module.__name__:
                found.append(spec)
    return tuple(found)


@functools.cache
def _by_path() -> dict[tuple[str, ...], Spec]:
    return {spec.path: spec for spec in specs()}


@functools.cache
def _by_value() -> dict[type[Command], Spec]:
    return {spec.value: spec for spec in specs()}


def spec_for(path: tuple[str, ...]) -> Spec | None:
    """The spec of exactly these command words, or None."""
    return _by_path().get(path)


def spec_of(command: Command) -> Spec:
    """The spec of a typed command."""
    return _by_value()[type(command)]


def help_spec() -> Spec:
    """`help`, the answer to an empty or unrecognisable line."""
    return _by_path()[("help",)]


def groups() -> frozenset[str]:
    """The first words that take a second one ("key", "agent", …)."""
    return frozenset(spec.path[0] for spec in specs() if len(spec.path) > 1)


def group_specs(group: str) -> list[Spec]:
    """Every command of a group ("key" → key add, key list, …)."""
    return [spec for spec in specs() if spec.path[0] == group]


def nearest(words: list[str]) -> Spec:
    """The command closest to what was typed (difflib on each word); `help` if none is close."""
    if not words:
        return help_spec()
    typed = ALIASES.get(words[0].lower(), words[0].lower())
    firsts = sorted({spec.path[0] for spec in specs()})
    found = difflib.get_close_matches(typed, firsts, n=1, cutoff=0.6)
    if not found:
        return help_spec()
    group = found[0]
    members = group_specs(group)
    verbs = {spec.path[1]: spec for spec in members if len(spec.path) > 1}
    if len(words) > 1 and verbs:
        verb = difflib.get_close_matches(words[1].lower(), list(verbs), n=1, cutoff=0.5)
        if verb:
            return verbs[verb[0]]
    return _by_path().get((group,), members[0])
