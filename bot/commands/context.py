"""What a command handler works with: services, who and where, the sink, and a DB runner."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlmodel import Session

from bot.boundary import Place, ReplySink, Sender
from bot.clock import as_aware_utc, zone_or_utc
from bot.commands import refs
from bot.commands.base import ChannelRef
from bot.errors import InvalidValue
from bot.services import Services
from storage.audit import add_audit
from storage.models import Workspace

T = TypeVar("T")


@dataclass(slots=True)
class CommandContext:
    """One command's world; handlers reach the database only through `db`."""

    services: Services
    place: Place
    sender: Sender
    sink: ReplySink

    @property
    def workspace_id(self) -> str:
        """The workspace every query is scoped to."""
        return self.place.workspace_id

    async def db(self, work: Callable[[Session], T]) -> T:
        """Run `work` in one transaction on the services' database runner (commit on success);
        an outage raises `DatabaseUnavailable`."""
        return await self.services.db.session(work)

    def audit(
        self,
        session: Session,
        *,
        action: str,
        target: str = "",
        outcome: str = "ok",
        detail: str = "",
    ) -> None:
        """Add an audit row for the sender (callers pass no secret and no message content)."""
        add_audit(
            session,
            workspace_id=self.workspace_id,
            actor_id=self.sender.user_id,
            action=action,
            target=target,
            outcome=outcome,
            detail=detail,
        )

    async def reply(self, text: str) -> None:
        """Answer the sender privately."""
        await self.sink.send(text, private=True)

    def now(self) -> dt.datetime:
        """The current time, aware UTC, from the services' clock."""
        return as_aware_utc(self.services.clock())

    def tz(self, session: Session) -> zoneinfo.ZoneInfo:
        """The workspace's timezone (UTC if unset or unknown)."""
        workspace = session.get(Workspace, self.workspace_id)
        return zone_or_utc(workspace.timezone if workspace else None)

    def channel(self, ref: ChannelRef | None) -> str:
        """The channel a command names, or the one it was typed in."""
        if ref is not None:
            channel = refs.channel_id(ref, platform=self.place.platform)
        elif self.place.is_direct:
            raise InvalidValue("name a #channel: this is a direct message")
        else:
            channel = self.place.channel_id
        if not channel or len(channel) > 64:
            raise InvalidValue("that channel id is not usable")
        return channel

    def show_channel(self, channel_id: str) -> str:
        """A channel as the platform renders it."""
        return refs.show_channel(channel_id, platform=self.place.platform)

    def show_user(self, user_id: str) -> str:
        """A user as the platform renders it."""
        return refs.show_user(user_id, platform=self.place.platform)
