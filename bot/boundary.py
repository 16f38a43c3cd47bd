"""Values that cross the core/adapter boundary, and the sinks adapters implement.

Adapters translate platform events into these small frozen dataclasses; raw platform
payloads never reach the core. The core answers through a `ReplySink` (one per
incoming event) and posts to channels through a `ChannelPoster` (one per platform).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from bot.providers.types import ChatMessage


class Standing(StrEnum):
    """The platform's verdict on a sender's admin rights."""

    PLATFORM_ADMIN = "platform_admin"  # the platform says admin (Slack admin/owner, ...)
    MEMBER = "member"  # a full member: admin only when granted with `/byok admins add`
    NEVER = "never"  # guest, external user, bot or failed look-up: no grant helps


@dataclass(frozen=True, slots=True)
class Sender:
    """Who is speaking. `is_platform_admin` is the adapter's fail-closed verdict.

    `never_admin` is the platform's negative verdict (a guest, an external user or a
    failed look-up); it wins over `is_platform_admin` and over any grant.
    """

    user_id: str
    display_name: str = ""
    is_platform_admin: bool = False
    is_bot: bool = False
    never_admin: bool = False

    @property
    def standing(self) -> Standing:
        """The platform's verdict, negative first (fail closed)."""
        if self.never_admin or self.is_bot:
            return Standing.NEVER
        return Standing.PLATFORM_ADMIN if self.is_platform_admin else Standing.MEMBER

    @classmethod
    def with_standing(cls, standing: Standing, *, user_id: str, display_name: str = "") -> Sender:
        """A human sender carrying the adapter's tri-state verdict."""
        return cls(
            user_id=user_id,
            display_name=display_name,
            is_platform_admin=standing is Standing.PLATFORM_ADMIN,
            never_admin=standing is Standing.NEVER,
        )


@dataclass(frozen=True, slots=True)
class Place:
    """Where it was said: workspace, channel, thread, and whether it is a DM."""

    workspace_id: str
    platform: str  # slack | discord | console
    channel_id: str
    thread_id: str | None = None
    is_direct: bool = False
    workspace_name: str = ""


HistoryFetcher = Callable[[], Awaitable[Sequence[ChatMessage]]]
# Context the adapter keeps itself, one conversation per agent (the console's session
# memory): called at answer time with the answering agent's name, oldest first.
AgentHistoryFetcher = Callable[[str], Awaitable[Sequence[ChatMessage]]]
# Downloads a file into memory, at most `limit` bytes: raises `FileTooLarge` past it.
FileFetcher = Callable[[int], Awaitable[bytes]]


@dataclass(frozen=True, slots=True)
class IncomingFile:
    """A file attached to a message, as the platform declares it; fetched only on demand.

    The name and the bytes are message content: never logged, stored or audited.
    """

    name: str = field(repr=False)
    mime: str  # the platform's declared media type ("" when it gives none)
    size: int  # the platform's declared size in bytes (-1 when it gives none)
    fetch: FileFetcher = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """A chat message (not a command) the adapter received."""

    place: Place
    sender: Sender
    text: str = field(repr=False)  # message content: never logged
    event_id: str
    message_id: str = ""
    mentions_bot: bool = False
    is_edit: bool = False
    # Reads the conversation so far from the platform at answer time (oldest first,
    # without this message); None when the platform has no context to offer.
    history: HistoryFetcher | None = field(default=None, repr=False, compare=False)
    # Files attached to this message only (never earlier ones of the thread).
    files: tuple[IncomingFile, ...] = field(default=(), repr=False, compare=False)
    # Used instead of `history` when set: the adapter's own memory, kept per agent.
    agent_history: AgentHistoryFetcher | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class CommandRequest:
    """A `/byok …` command: the text after `/byok`."""

    place: Place
    sender: Sender
    text: str = field(repr=False)  # may hold a secret (`key add … <secret>`)
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class SecretForm:
    """What a private secret form collects for (`key add`/`key rotate` without a secret)."""

    action: str  # "add" | "rotate"
    key_name: str
    provider: str | None = None
    base_url: str | None = None
    verify: bool = True


class ReplySink(Protocol):
    """How the core answers one incoming event; implemented by each adapter."""

    async def send(self, text: str, *, private: bool = False) -> None:
        """Send a whole reply; private replies only the sender sees."""
        ...

    async def stream(self, chunks: AsyncIterator[str]) -> str:
        """Stream a public reply (in the thread) as it is generated; return the full text sent."""
        ...

    async def send_file(
        self, *, filename: str, content: bytes, title: str = "", private: bool = False
    ) -> None:
        """Send a file (CSV export); private files go to the sender only."""
        ...

    async def open_secret_form(self, form: SecretForm) -> None:
        """Collect a secret privately (modal, hidden prompt); hand it to `Core.submit_secret`."""
        ...

    async def send_refusal(self, text: str, *, request_id: str) -> None:
        """A private budget refusal with an **Ask an admin** button for `request_id`
        (`Core.ask_admin`); the console prints the text, which names the request."""
        ...


class NonStreamingSink:
    """Base of the sinks that never stream (command replies on every platform): `stream`
    collects the text and sends it once, privately."""

    async def send(self, text: str, *, private: bool = False) -> None:
        """Send a whole reply (each subclass sends its own way)."""
        raise NotImplementedError

    async def stream(self, chunks: AsyncIterator[str]) -> str:
        """Collect the text and send it privately; return it."""
        text = "".join([chunk async for chunk in chunks])
        if text:
            await self.send(text, private=True)
        return text


class ChannelPoster(Protocol):
    """Posts unprompted messages (digest, budget alerts, key-failure notices) to a channel."""

    async def post(
        self,
        *,
        workspace_id: str,
        channel_id: str,
        text: str,
        file: tuple[str, bytes] | None = None,
        request_id: str | None = None,
    ) -> None:
        """Post `text` (and optionally a file: name, bytes) to the channel.

        A `channel_id` of `@<user id>` is a direct message to that member. With
        `request_id`, the post carries **Approve** / **Deny** buttons for that approval
        request (`Core.decide_request`).
        """
        ...
