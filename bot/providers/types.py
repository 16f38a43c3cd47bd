"""The values a provider call speaks in: request, attachments, usage, stream items, key spec."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Role = Literal["user", "assistant"]
AttachmentKind = Literal["image", "pdf"]


@dataclass(frozen=True, slots=True)
class Attachment:
    """An image or PDF sent as a content part beside a message's text (in memory only).

    `text` is a PDF's extracted text: what a provider without native documents gets.
    The name and the bytes are message content: never logged, stored or audited.
    """

    kind: AttachmentKind
    mime: str
    data: bytes = field(repr=False)
    name: str = field(default="", repr=False)
    text: str = field(default="", repr=False)
    width: int = 0  # images: pixels, from the header
    height: int = 0
    pages: int = 0  # PDFs


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One turn of conversation history (held in memory only)."""

    role: Role
    text: str
    # Images and PDFs of the current message only (earlier files are never re-sent).
    parts: tuple[Attachment, ...] = field(default=(), repr=False)


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """What an agent asks its provider: model, system prompt, history, generation settings."""

    model: str
    messages: tuple[ChatMessage, ...]
    system: str | None = None
    max_tokens: int = 1024
    temperature: float | None = None


# No call reports more tokens than this per figure; anything above is not trusted (and
# would overflow the usage row's integer columns).
MAX_REPORTED_TOKENS = 10**9


@dataclass(frozen=True, slots=True)
class Usage:
    """Exact token counts the provider reported for one call."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    # Set by a parser when a figure it was given was no count (negative, not an integer).
    implausible: bool = False

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens (cached and reasoning tokens are already inside them)."""
        return self.input_tokens + self.output_tokens

    @property
    def plausible(self) -> bool:
        """True when every figure is a count a provider can report (0 to 10^9 tokens)."""
        counts = (
            self.input_tokens,
            self.output_tokens,
            self.cache_read_tokens,
            self.cache_write_tokens,
            self.reasoning_tokens,
        )
        return not self.implausible and all(
            type(n) is int and 0 <= n <= MAX_REPORTED_TOKENS for n in counts
        )


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of generated text."""

    text: str


@dataclass(frozen=True, slots=True)
class Completion:
    """The last item of a stream: the usage the provider reported, if it did."""

    usage: Usage | None
    request_id: str | None = None
    finish_reason: str | None = None
    model: str | None = None


StreamItem = TextDelta | Completion


@dataclass(frozen=True, slots=True)
class KeySpec:
    """Where and with what a call goes: provider id, the secret, the base URL to use."""

    provider: str
    secret: str = field(repr=False)
    base_url: str | None = None
