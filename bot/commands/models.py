"""Typed `/byok` commands: one frozen dataclass per line of the SPEC's grammar.

Every command knows its audit `action` ("key.add", ...) and its `target` (the name it
acts on), so refusals and failures can be audited before any handler runs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import ClassVar, Literal

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
    """Base of every typed command."""

    action: ClassVar[str] = ""
    admin_only: ClassVar[bool] = True
    mutates: ClassVar[bool] = False

    @property
    def target(self) -> str:
        """What the command acts on, for the audit trail (never a secret)."""
        name = getattr(self, "name", "")
        return name if isinstance(name, str) else ""


@dataclass(frozen=True, slots=True)
class Help(Command):
    """`help [command]`."""

    action: ClassVar[str] = "help"
    admin_only: ClassVar[bool] = False
    topic: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class KeyAdd(Command):
    """`key add <provider> <name> [<secret>] [--base-url URL] [--no-verify]`."""

    action: ClassVar[str] = "key.add"
    mutates: ClassVar[bool] = True
    provider: str
    name: str
    secret: str | None = field(default=None, repr=False)
    base_url: str | None = None
    verify: bool = True


@dataclass(frozen=True, slots=True)
class KeyList(Command):
    """`key list`."""

    action: ClassVar[str] = "key.list"


@dataclass(frozen=True, slots=True)
class KeyRotate(Command):
    """`key rotate <name> [<secret>] [--no-verify]`."""

    action: ClassVar[str] = "key.rotate"
    mutates: ClassVar[bool] = True
    name: str
    secret: str | None = field(default=None, repr=False)
    verify: bool = True


@dataclass(frozen=True, slots=True)
class KeyRevoke(Command):
    """`key revoke <name>`."""

    action: ClassVar[str] = "key.revoke"
    mutates: ClassVar[bool] = True
    name: str


@dataclass(frozen=True, slots=True)
class KeyDelete(Command):
    """`key delete <name>`: only a key no agent uses."""

    action: ClassVar[str] = "key.delete"
    mutates: ClassVar[bool] = True
    name: str


@dataclass(frozen=True, slots=True)
class ModelsList(Command):
    """`models <key> [<filter>]`: what the key can call, with prices."""

    action: ClassVar[str] = "models.list"
    key: str
    filter: str | None = None

    @property
    def target(self) -> str:
        """The key whose models are listed."""
        return self.key


@dataclass(frozen=True, slots=True)
class KeyTest(Command):
    """`key test <name>`."""

    action: ClassVar[str] = "key.test"
    mutates: ClassVar[bool] = True
    name: str


@dataclass(frozen=True, slots=True)
class AgentSettings:
    """The options of `agent create|set`; None means "not given"."""

    key: str | None = None
    model: str | None = None
    prompt: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    show_cost: bool | None = None

    def given(self) -> list[str]:
        """The option names that were given, in grammar order."""
        names = ("key", "model", "prompt", "max_tokens", "temperature", "show_cost")
        return [name for name in names if getattr(self, name) is not None]


@dataclass(frozen=True, slots=True)
class AgentCreate(Command):
    """`agent create <name> --key <key> --model <model> [...]`."""

    action: ClassVar[str] = "agent.create"
    mutates: ClassVar[bool] = True
    name: str
    settings: AgentSettings
    verify: bool = True  # check --model against the key's model list


@dataclass(frozen=True, slots=True)
class AgentSet(Command):
    """`agent set <name> [same options as create]`."""

    action: ClassVar[str] = "agent.set"
    mutates: ClassVar[bool] = True
    name: str
    settings: AgentSettings
    verify: bool = True  # check the model against the key's model list


@dataclass(frozen=True, slots=True)
class AgentList(Command):
    """`agent list`."""

    action: ClassVar[str] = "agent.list"


@dataclass(frozen=True, slots=True)
class AgentShow(Command):
    """`agent show <name>`."""

    action: ClassVar[str] = "agent.show"
    name: str


@dataclass(frozen=True, slots=True)
class AgentDelete(Command):
    """`agent delete <name>`."""

    action: ClassVar[str] = "agent.delete"
    mutates: ClassVar[bool] = True
    name: str


@dataclass(frozen=True, slots=True)
class AgentBind(Command):
    """`agent bind <name> [#channel] [--all-messages]`."""

    action: ClassVar[str] = "agent.bind"
    mutates: ClassVar[bool] = True
    name: str
    channel: ChannelRef | None = None
    all_messages: bool = False


@dataclass(frozen=True, slots=True)
class AgentUnbind(Command):
    """`agent unbind <name> [#channel]`."""

    action: ClassVar[str] = "agent.unbind"
    mutates: ClassVar[bool] = True
    name: str
    channel: ChannelRef | None = None


@dataclass(frozen=True, slots=True)
class AgentDefault(Command):
    """`agent default <name>`."""

    action: ClassVar[str] = "agent.default"
    mutates: ClassVar[bool] = True
    name: str


@dataclass(frozen=True, slots=True)
class LimitSet(Command):
    """`limit set <agent|workspace|@user|each-user> <usd> --per day|month [--soft]`."""

    action: ClassVar[str] = "limit.set"
    mutates: ClassVar[bool] = True
    name: str  # an agent name, "workspace", "each-user", or the @user's id as typed
    usd: Decimal
    per: Period
    soft: bool = False
    user: UserRef | None = None  # set for an `@user` limit


@dataclass(frozen=True, slots=True)
class LimitList(Command):
    """`limit list`."""

    action: ClassVar[str] = "limit.list"


@dataclass(frozen=True, slots=True)
class LimitClear(Command):
    """`limit clear <agent|workspace|@user|each-user> [--per day|month]`."""

    action: ClassVar[str] = "limit.clear"
    mutates: ClassVar[bool] = True
    name: str
    per: Period | None = None
    user: UserRef | None = None  # set for an `@user` limit


@dataclass(frozen=True, slots=True)
class MeView(Command):
    """`me`: the caller's own spend and the limits that apply to them (open to everyone)."""

    action: ClassVar[str] = "me"
    admin_only: ClassVar[bool] = False


@dataclass(frozen=True, slots=True)
class Approve(Command):
    """`approve <request> [<usd>]`: a one-off allowance for a refused member."""

    action: ClassVar[str] = "approval.approve"
    request: str
    usd: Decimal | None = None

    @property
    def target(self) -> str:
        """The request id."""
        return self.request


@dataclass(frozen=True, slots=True)
class Deny(Command):
    """`deny <request>`: refuse a member's request to pass a budget."""

    action: ClassVar[str] = "approval.deny"
    request: str

    @property
    def target(self) -> str:
        """The request id."""
        return self.request


@dataclass(frozen=True, slots=True)
class UsageReport(Command):
    """`usage [--since …] [--by agent|key|model|user]`."""

    action: ClassVar[str] = "usage.report"
    since: Since | None = None
    by: Dimension = "agent"


@dataclass(frozen=True, slots=True)
class UsageExport(Command):
    """`usage export [--since …]`."""

    action: ClassVar[str] = "usage.export"
    mutates: ClassVar[bool] = True  # audited: data leaves the bot
    since: Since | None = None


@dataclass(frozen=True, slots=True)
class DigestChannel(Command):
    """`digest channel [#channel]`."""

    action: ClassVar[str] = "digest.channel"
    mutates: ClassVar[bool] = True
    channel: ChannelRef | None = None


@dataclass(frozen=True, slots=True)
class DigestAt(Command):
    """`digest at <HH:MM> [<IANA tz>]`."""

    action: ClassVar[str] = "digest.at"
    mutates: ClassVar[bool] = True
    time: str
    tz: str | None = None


@dataclass(frozen=True, slots=True)
class DigestNow(Command):
    """`digest now [today|yesterday|YYYY-MM-DD]`: today so far by default."""

    action: ClassVar[str] = "digest.now"
    mutates: ClassVar[bool] = True
    day: DigestDay = "today"


@dataclass(frozen=True, slots=True)
class DigestOff(Command):
    """`digest off`."""

    action: ClassVar[str] = "digest.off"
    mutates: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class AdminsAdd(Command):
    """`admins add <@user>`."""

    action: ClassVar[str] = "admins.add"
    mutates: ClassVar[bool] = True
    user: UserRef

    @property
    def target(self) -> str:
        """The user id being granted."""
        return self.user.id


@dataclass(frozen=True, slots=True)
class AdminsRemove(Command):
    """`admins remove <@user>`."""

    action: ClassVar[str] = "admins.remove"
    mutates: ClassVar[bool] = True
    user: UserRef

    @property
    def target(self) -> str:
        """The user id losing admin rights."""
        return self.user.id


@dataclass(frozen=True, slots=True)
class AdminsList(Command):
    """`admins list`."""

    action: ClassVar[str] = "admins.list"


@dataclass(frozen=True, slots=True)
class AuditView(Command):
    """`audit [N]`."""

    action: ClassVar[str] = "audit.view"
    count: int = 20
