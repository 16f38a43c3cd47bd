"""A command's words after its path: arguments, flags and options, read by the builders.

Each reader raises `ValueError` with a short reason; the grammar turns it into a
`ParseError` with the command's syntax line. Reasons never quote a secret.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.commands import refs, values
from bot.commands.base import ChannelRef, Since, UserRef


@dataclass(slots=True)
class Words:
    """The words after the command path: positional arguments and options."""

    args: list[str] = field(default_factory=list)
    flags: set[str] = field(default_factory=set)
    opts: dict[str, str] = field(default_factory=dict)

    def arg(self, index: int) -> str | None:
        """The argument at `index`, if given."""
        return self.args[index] if len(self.args) > index else None

    def key(self, index: int = 0) -> str:
        """A key name argument."""
        return values.name(self.args[index], what="key")

    def agent(self, index: int = 0) -> str:
        """An agent name argument."""
        return values.name(self.args[index], what="agent")

    def channel(self, index: int) -> ChannelRef | None:
        """A `#channel` argument, if given."""
        token = self.arg(index)
        if token is None:
            return None
        ref = refs.parse_channel(token)
        if ref is None or values.looks_secret(ref.id):
            raise ValueError(f"{values.shown(token)} is not a #channel")
        return ref

    def user(self, index: int) -> UserRef:
        """An `@user` argument."""
        return user(self.args[index])

    def verify(self) -> bool:
        """False when `--no-verify` was given."""
        return "--no-verify" not in self.flags

    def since(self) -> Since | None:
        """The `--since` window, if given."""
        raw = self.opts.get("--since")
        return values.since(raw) if raw is not None else None


def user(token: str) -> UserRef:
    """An `@user` reference, or ValueError."""
    ref = refs.parse_user(token)
    if ref is None or values.looks_secret(ref.id):
        raise ValueError(f"{values.shown(token)} is not an @user")
    return ref
