"""`/byok help [command]`: every command's syntax line and one-line description."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bot.commands.base import Command
from bot.commands.context import CommandContext
from bot.commands.fields import arg
from bot.commands.registry import (
    ALIASES,
    PREFIX,
    Spec,
    command,
    group_specs,
    groups,
    nearest,
    spec_for,
    specs,
)
from bot.commands.words import Words
from bot.errors import ParseError


@dataclass(frozen=True, slots=True)
class Help(Command):
    """`help [command]` (open to everyone; needs no database and changes nothing)."""

    action: ClassVar[str] = "help"
    admin_only: ClassVar[bool] = False
    topic: tuple[str, ...] = ()

    @classmethod
    def build(cls, words: Words) -> Help:
        """The topic's words, lower-cased."""
        return cls(topic=tuple(word.lower() for word in words.args))


def overview() -> str:
    """Every command's syntax line with its summary."""
    lines = [f"{PREFIX} commands (replies are private; all but help and me are for admins):"]
    lines += [f"• {PREFIX} {spec.syntax} — {spec.summary}" for spec in specs()]
    lines.append(f"`{PREFIX} help <command>` for details.")
    return "\n".join(lines)


def describe(spec: Spec) -> str:
    """One command's syntax line, description and details."""
    lines = [f"{PREFIX} {spec.syntax}", spec.summary]
    if spec.details:
        lines.append(spec.details)
    return "\n".join(lines)


def help_text(topic: tuple[str, ...]) -> str:
    """The help for `topic` (empty: the overview); ParseError with the nearest syntax if unknown."""
    if not topic:
        return overview()
    words = [ALIASES.get(topic[0], topic[0]), *topic[1:]]
    if len(words) > 1 and (spec := spec_for((words[0], words[1]))) is not None:
        return describe(spec)
    if words[0] in groups() and len(words) == 1:
        members = group_specs(words[0])
        return "\n".join(f"• {PREFIX} {spec.syntax} — {spec.summary}" for spec in members)
    if (spec := spec_for((words[0],))) is not None and len(words) == 1:
        return describe(spec)
    raise ParseError("no such command", syntax=nearest(words).syntax_line)


@command(
    "help [command]",
    Help,
    summary="show the commands, or one command's usage",
    example="help agent bind",
    fields=(arg("command", optional=True, split=True),),
    max_args=3,  # "help agent bind": a command's words
)
async def show_help(ctx: CommandContext, cmd: Help) -> None:
    """The overview, or one command's or group's help."""
    await ctx.reply(help_text(cmd.topic))
