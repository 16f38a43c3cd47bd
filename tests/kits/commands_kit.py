"""Driving `CommandDispatcher` like an adapter does: a recording sink and a small bot handle.

The sink is a real implementation of the adapter side of `bot.boundary.ReplySink` that
keeps what the core sent, so tests assert on replies, files and secret forms.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.boundary import CommandRequest, Place, SecretForm, Sender
from bot.commands import CommandDispatcher
from bot.config import Settings
from bot.providers import Providers
from bot.services import Services
from bot.vault.keystore import Vault
from bot.vault.masterkey import parse_key
from storage.models import AuditEvent

# Realistic-looking secrets, so masking and "never echoed" checks mean something.
SECRET = "sk-proj-Cmd0123456789abcdefghijklmnopqrstuvWXYZf3Qa"
OTHER_SECRET = "sk-proj-Rot9876543210zyxwvutsrqponmlkjihgfeDCBAz9Yb"
BAD_SECRET = "sk-proj-Bad5555555555aaaaaaaaaaaaaaaaaaaaaaaaaaQq7Z"


@dataclass(frozen=True, slots=True)
class Sent:
    """One reply the core sent."""

    text: str
    private: bool


@dataclass(frozen=True, slots=True)
class SentFile:
    """One file the core sent."""

    filename: str
    content: bytes
    title: str
    private: bool


@dataclass(slots=True)
class RecordingSink:
    """Keeps every reply, stream, file and secret form, like a real adapter would deliver them."""

    sent: list[Sent] = field(default_factory=list)
    files: list[SentFile] = field(default_factory=list)
    forms: list[SecretForm] = field(default_factory=list)
    streamed: list[str] = field(default_factory=list)
    request_ids: list[str] = field(default_factory=list)

    async def send(self, text: str, *, private: bool = False) -> None:
        """Record a whole reply."""
        self.sent.append(Sent(text, private))

    async def stream(self, chunks: AsyncIterator[str]) -> str:
        """Record a streamed reply."""
        text = "".join([chunk async for chunk in chunks])
        self.streamed.append(text)
        return text

    async def send_file(
        self, *, filename: str, content: bytes, title: str = "", private: bool = False
    ) -> None:
        """Record a file."""
        self.files.append(SentFile(filename, content, title, private))

    async def open_secret_form(self, form: SecretForm) -> None:
        """Record a form the adapter would open."""
        self.forms.append(form)

    async def send_refusal(self, text: str, *, request_id: str) -> None:
        """Record a budget refusal (its Ask-an-admin request id in `request_ids`)."""
        self.sent.append(Sent(text, True))
        self.request_ids.append(request_id)

    @property
    def text(self) -> str:
        """Every reply text, joined."""
        return "\n".join(sent.text for sent in self.sent)

    @property
    def last(self) -> str:
        """The last reply's text."""
        assert self.sent, "no reply was sent"
        return self.sent[-1].text


def make_services(
    engine: Engine,
    *,
    master_key: str,
    allow_private: bool = True,
    providers: Providers | None = None,
) -> Services:
    """Real services on `engine`: a vault on `master_key`, providers with short deadlines."""
    settings = Settings(allow_private_base_urls=allow_private)
    return Services(
        settings=settings,
        engine=engine,
        vault=Vault(parse_key(master_key, origin="test")),
        providers=providers
        or Providers(
            allow_private_base_urls=allow_private,
            timeout=5.0,
            max_retry_wait=1.0,
            max_attempts=2,
            backoff_base=0.01,
        ),
    )


@dataclass(slots=True)
class Bot:
    """The dispatcher plus a default speaker and place; `run` returns what was answered."""

    services: Services
    workspace_id: str = "console"
    platform: str = "console"
    channel: str = "general"
    dispatcher: CommandDispatcher = field(init=False)

    def __post_init__(self) -> None:
        self.dispatcher = CommandDispatcher(self.services)

    def place(self, *, channel: str | None = None, direct: bool = False) -> Place:
        """Where a command is typed."""
        return Place(
            workspace_id=self.workspace_id,
            platform=self.platform,
            channel_id=channel or self.channel,
            is_direct=direct,
        )

    async def run(
        self,
        text: str,
        *,
        user: str = "admin-1",
        admin: bool = True,
        is_bot: bool = False,
        channel: str | None = None,
        direct: bool = False,
        sink: RecordingSink | None = None,
    ) -> RecordingSink:
        """Send one `/byok` command and return the sink with the answers."""
        sink = sink or RecordingSink()
        request = CommandRequest(
            place=self.place(channel=channel, direct=direct),
            sender=Sender(user_id=user, is_platform_admin=admin, is_bot=is_bot),
            text=text,
            event_id=secrets.token_hex(4),
        )
        await self.dispatcher.handle(request, sink)
        return sink

    async def submit(
        self, form: SecretForm, secret: str, *, user: str = "admin-1", admin: bool = True
    ) -> RecordingSink:
        """Hand a secret typed into a private form back to the core."""
        sink = RecordingSink()
        await self.dispatcher.submit_secret(
            form,
            secret,
            place=self.place(),
            sender=Sender(user_id=user, is_platform_admin=admin),
            sink=sink,
        )
        return sink


def audit_rows(engine: Engine, workspace_id: str | None = None) -> list[AuditEvent]:
    """Every audit row (of one workspace), oldest first."""
    with Session(engine) as session:
        stmt = select(AuditEvent).order_by(col(AuditEvent.id))
        if workspace_id is not None:
            stmt = stmt.where(AuditEvent.workspace_id == workspace_id)
        return list(session.exec(stmt).all())
