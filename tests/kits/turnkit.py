"""Test kit for turns: a recording sink and poster, and a world of rows to talk to.

Rows are written straight to the database (the command layer is tested on its own);
everything after that goes through the real `Core`, real providers client, real HTTP
to the fake provider servers, and the real database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.boundary import IncomingMessage, Place, SecretForm, Sender
from bot.config import Settings
from bot.core import Core
from bot.money import to_pico
from bot.providers import Providers
from bot.providers.types import ChatMessage
from bot.services import Services
from bot.vault.keystore import Vault, mask
from bot.vault.masterkey import parse_key
from storage.engine import session_scope
from storage.models import (
    Agent,
    Budget,
    BudgetCounter,
    ChannelBinding,
    ProviderKey,
    UsageEvent,
    Workspace,
)


@dataclass
class Reply:
    """One thing a sink was given."""

    kind: str  # send | stream | file | form
    text: str
    private: bool = False


@dataclass
class RecordingSink:
    """A `ReplySink` that keeps everything (the stream is consumed like a platform would)."""

    replies: list[Reply] = field(default_factory=list)
    chunks: list[str] = field(default_factory=list)
    request_ids: list[str] = field(default_factory=list)  # approval requests of refusals

    async def send(self, text: str, *, private: bool = False) -> None:
        self.replies.append(Reply("send", text, private))

    async def stream(self, chunks: AsyncIterator[str]) -> str:
        parts: list[str] = []
        try:
            async for chunk in chunks:
                parts.append(chunk)
                self.chunks.append(chunk)
        finally:
            self.replies.append(Reply("stream", "".join(parts)))
        return "".join(parts)

    async def send_file(
        self, *, filename: str, content: bytes, title: str = "", private: bool = False
    ) -> None:
        self.replies.append(Reply("file", content.decode(), private))

    async def open_secret_form(self, form: SecretForm) -> None:
        self.replies.append(Reply("form", form.key_name, True))

    async def send_refusal(self, text: str, *, request_id: str) -> None:
        self.replies.append(Reply("send", text, True))
        self.request_ids.append(request_id)

    @property
    def texts(self) -> list[str]:
        return [r.text for r in self.replies]

    @property
    def last(self) -> Reply:
        assert self.replies, "the sink got nothing"
        return self.replies[-1]


@dataclass
class RecordingPoster:
    """A `ChannelPoster` that keeps every post."""

    posts: list[tuple[str, str, str]] = field(default_factory=list)
    request_ids: list[str] = field(default_factory=list)  # posts with Approve / Deny

    async def post(
        self,
        *,
        workspace_id: str,
        channel_id: str,
        text: str,
        file: tuple[str, bytes] | None = None,
        request_id: str | None = None,
    ) -> None:
        self.posts.append((workspace_id, channel_id, text))
        if request_id is not None:
            self.request_ids.append(request_id)


class Clock:
    """A settable clock for `Services.clock`."""

    def __init__(self, now: dt.datetime | None = None) -> None:
        self.now = now or dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


def make_services(
    engine: Engine,
    master_key: str,
    *,
    posters: dict[str, RecordingPoster] | None = None,
    clock: Callable[[], dt.datetime] | None = None,
    max_attempts: int = 3,
) -> Services:
    """Services on `engine` with providers allowed to reach the local fakes, fast retries."""
    settings = Settings(BYOKBOT_DATABASE_URL=str(engine.url), BYOKBOT_ALLOW_PRIVATE_BASE_URLS=True)
    providers = Providers(
        allow_private_base_urls=True,
        timeout=5.0,
        max_retry_wait=0.5,
        backoff_base=0.01,
        max_attempts=max_attempts,
    )
    services = Services(
        settings=settings,
        engine=engine,
        vault=Vault(parse_key(master_key, origin="test")),
        providers=providers,
        posters=dict(posters or {}),
    )
    if clock is not None:
        services.clock = clock
    return services


@dataclass
class World:
    """One workspace's rows, created directly for a test."""

    services: Services
    workspace_id: str = "slack:T1"
    platform: str = "slack"
    _counter: int = 0

    @property
    def engine(self) -> Engine:
        return self.services.engine

    def workspace(self, *, timezone: str = "UTC", digest_channel: str | None = None) -> None:
        with session_scope(self.engine) as session:
            found = session.get(Workspace, self.workspace_id)
            if found is None:
                found = Workspace(id=self.workspace_id, platform=self.platform)
            found.timezone = timezone
            found.digest_channel = digest_channel
            session.add(found)

    def key(
        self,
        name: str,
        *,
        secret: str,
        base_url: str,
        provider: str = "openai",
        status: str = "active",
    ) -> str:
        with session_scope(self.engine) as session:
            row = ProviderKey(
                workspace_id=self.workspace_id,
                name=name,
                provider=provider,
                base_url=base_url,
                ciphertext=b"",
                nonce=b"",
                key_version="",
                masked=mask(secret),
                status=status,
            )
            sealed = self.services.vault.seal(secret, workspace_id=self.workspace_id, key_id=row.id)
            row.ciphertext, row.nonce, row.key_version = (
                sealed.ciphertext,
                sealed.nonce,
                sealed.key_version,
            )
            session.add(row)
            return row.id

    def agent(
        self,
        name: str,
        *,
        key_id: str | None,
        model: str = "gpt-4o-mini",
        prompt: str | None = None,
        max_tokens: int = 256,
        show_cost: bool = False,
        default: bool = False,
    ) -> str:
        with session_scope(self.engine) as session:
            agent = Agent(
                workspace_id=self.workspace_id,
                name=name,
                key_id=key_id,
                model=model,
                prompt=prompt,
                max_tokens=max_tokens,
                show_cost=show_cost,
            )
            session.add(agent)
            session.flush()
            if default:
                ws = session.get(Workspace, self.workspace_id)
                assert ws is not None
                ws.default_agent_id = agent.id
                session.add(ws)
            return agent.id

    def bind(self, agent_id: str, channel_id: str, *, all_messages: bool = False) -> None:
        with session_scope(self.engine) as session:
            session.add(
                ChannelBinding(
                    workspace_id=self.workspace_id,
                    channel_id=channel_id,
                    agent_id=agent_id,
                    all_messages=all_messages,
                )
            )

    def budget(
        self,
        usd: str,
        *,
        period: str = "day",
        agent_id: str | None = None,
        member: str | None = None,
        each_user: bool = False,
        soft: bool = False,
    ) -> int:
        target = "workspace" if agent_id is None else f"agent:{agent_id}"
        if member is not None:
            target = f"user:{member}"
        elif each_user:
            target = "each-user"
        with session_scope(self.engine) as session:
            row = Budget(
                workspace_id=self.workspace_id,
                target=target,
                agent_id=agent_id,
                member_id=member,
                period=period,
                limit_pusd=to_pico(Decimal(usd)),
                soft=soft,
            )
            session.add(row)
            session.flush()
            assert row.id is not None
            return row.id

    def message(
        self,
        text: str,
        *,
        channel: str = "C1",
        mentions_bot: bool = True,
        is_direct: bool = False,
        user: str = "U1",
        event_id: str | None = None,
        is_bot: bool = False,
        is_edit: bool = False,
        history: Sequence[ChatMessage] | None = None,
    ) -> IncomingMessage:
        self._counter += 1
        fetch = None
        if history is not None:
            frozen = tuple(history)

            async def fetch_history() -> Sequence[ChatMessage]:
                return frozen

            fetch = fetch_history
        return IncomingMessage(
            place=Place(
                workspace_id=self.workspace_id,
                platform=self.platform,
                channel_id=channel,
                is_direct=is_direct,
            ),
            sender=Sender(user_id=user, display_name="Ann", is_bot=is_bot),
            text=text,
            event_id=event_id or f"Ev{self._counter:06d}",
            mentions_bot=mentions_bot,
            is_edit=is_edit,
            history=fetch,
        )

    def usage_rows(self) -> list[UsageEvent]:
        with Session(self.engine) as session:
            stmt = select(UsageEvent).where(UsageEvent.workspace_id == self.workspace_id)
            return list(session.exec(stmt.order_by(UsageEvent.id)).all())  # type: ignore[arg-type]

    def counter(self, budget_id: int) -> BudgetCounter:
        with Session(self.engine) as session:
            rows = session.exec(
                select(BudgetCounter).where(BudgetCounter.budget_id == budget_id)
            ).all()
            assert len(rows) == 1, rows
            return rows[0]

    def key_status(self, key_id: str) -> str:
        with Session(self.engine) as session:
            row = session.get(ProviderKey, key_id)
            assert row is not None
            return row.status

    def scalar(self, sql: str) -> object:
        with self.engine.connect() as conn:
            return conn.execute(text(sql)).scalar()


async def talk(core: Core, world: World, text: str, **kwargs: object) -> RecordingSink:
    """Send one message through the core; return what it answered."""
    sink = RecordingSink()
    await core.handle_message(world.message(text, **kwargs), sink)  # type: ignore[arg-type]
    return sink
