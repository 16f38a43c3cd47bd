"""The base of every typed `/byok` command, and the values several commands share.

Every command knows its audit `action` ("key.add", ...) and its `target` (the name it
acts on), so refusals and failures can be audited before any handler runs. Each
command's own class lives in its module, beside its `@command` line and its handler.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal, Self

if TYPE_CHECKING:
    from bot.commands.words import Words

Period = Literal["day", "month"]
Dimension = Literal["agent", "key", "model", "user"]
RefForm = Literal["slack", "discord", "plain"]
# `digest now`: today so far, all of yesterday, or one calendar day (workspace timezone).
DigestDay = Literal["today", "yesterday"] | dt.date


@dataclass(frozen=True, slots=True)
class ChannelRef:
    """A `#channel` as typed: the platform id (or the plain name) and how it was written."""

    id: str
    form: RefForm
    label: str | None = None


@dataclass(frozen=True, slots=True)
class UserRef:
    """An `@user` as typed: the platform id (or the plain name) and how it was written."""

    id: str
    form: RefForm
    label: str | None = None


@dataclass(frozen=True, slots=True)
class Since:
    """A `--since` value: the last N days, or from a calendar day (workspace timezone)."""

    days: int | None = None
    day: dt.date | None = None

    def describe(self) -> str:
        """`7d` or `2026-11-20`, as the user would type it."""
        return f"{self.days}d" if self.days is not None else str(self.day)


@dataclass(frozen=True, slots=True)
class Command:
    """Base of every typed command; `build` is its parser from the command's words."""

    action: ClassVar[str] = ""
    admin_only: ClassVar[bool] = True
    mutates: ClassVar[bool] = False

    @classmethod
    def build(cls, words: Words) -> Self:
        """The typed value of these words (raise ValueError with a short reason)."""
        return cls()

    @property
    def target(self) -> str:
        """What the command acts on, for the audit trail (never a secret)."""
        name = getattr(self, "name", "")
        return name if isinstance(name, str) else ""


@dataclass(frozen=True, slots=True)
class OnKey(Command):
    """A command on one key, named by its first argument (`key revoke|delete|test <name>`)."""

    name: str

    @classmethod
    def build(cls, words: Words) -> Self:
        """The key named."""
        return cls(name=words.key())


@dataclass(frozen=True, slots=True)
class OnAgent(Command):
    """A command on one agent, named by its first argument (`agent show <name>`)."""

    name: str

    @classmethod
    def build(cls, words: Words) -> Self:
        """The agent named."""
        return cls(name=words.agent())


@dataclass(frozen=True, slots=True)
class OnUser(Command):
    """A command on one member, an `@user` argument (`admins add|remove <@user>`)."""

    user: UserRef

    @classmethod
    def build(cls, words: Words) -> Self:
        """The user named."""
        return cls(user=words.user(0))

    @property
    def target(self) -> str:
        """The user's id."""
        return self.user.id
