"""Trim the conversation the adapter supplies so the request fits the model.

Token counts are estimated, never computed with a provider tokenizer (which would mean
a network call or a heavy dependency): about 4 characters per token for trimming,
which is close for English text. For budget reservations we need an upper bound, not
an estimate: byte-level tokenizers never make more tokens than the text has UTF-8
bytes, so `upper_bound_tokens` counts bytes plus a per-message framing allowance.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.providers.types import ChatMessage

CHARS_PER_TOKEN = 4
FRAMING_TOKENS = 8  # role markers and separators a provider adds around each message
# Context beyond this many (estimated) tokens is dropped even on huge-context models:
# old turns cost money on every call and rarely change the answer.
HISTORY_CAP_TOKENS = 24_000
DEFAULT_WINDOW = 32_000

# Context windows of the model families we know; prefixes, longest match wins.
_WINDOWS: tuple[tuple[str, int], ...] = (
    ("gpt-3.5", 16_000),
    ("gpt-4-", 8_000),
    ("gpt-4o", 128_000),
    ("gpt-4.1", 1_000_000),
    ("gpt-5", 272_000),
    ("o1", 128_000),
    ("o3", 200_000),
    ("o4", 200_000),
    ("claude", 200_000),
    ("gemini", 1_000_000),
    ("llama", 128_000),
    ("mistral", 32_000),
    ("deepseek", 64_000),
    ("grok", 128_000),
)


def context_window(model: str) -> int:
    """The model's context window in tokens (a cautious default when unknown)."""
    name = model.lower().rsplit("/", 1)[-1]
    best = ("", DEFAULT_WINDOW)
    for prefix, window in _WINDOWS:
        if name.startswith(prefix) and len(prefix) > len(best[0]):
            best = (prefix, window)
    return best[1]


def files_room(*, model: str, system: str | None, text: str, max_output_tokens: int) -> int:
    """Estimated tokens left for a message's text files beside its text, prompt and output."""
    used = estimate_tokens(text) + (estimate_tokens(system) if system else 0)
    return context_window(model) - max_output_tokens - used


def estimate_tokens(text: str) -> int:
    """Rough token count of `text` (~4 characters per token), for trimming."""
    return len(text) // CHARS_PER_TOKEN + FRAMING_TOKENS


def upper_bound_tokens(messages: Sequence[ChatMessage], *, system: str | None) -> int:
    """Tokens the prompt can at most take (UTF-8 bytes plus framing), for reservations."""
    total = _utf8_size(system) + FRAMING_TOKENS if system else 0
    for message in messages:
        total += _utf8_size(message.text) + FRAMING_TOKENS
    return total


def _utf8_size(text: str) -> int:
    # "surrogatepass": a lone surrogate that slipped past the adapters is counted (three
    # bytes, still an upper bound) instead of raising UnicodeEncodeError mid-turn.
    return len(text.encode("utf-8", errors="surrogatepass"))


def fit(
    history: Sequence[ChatMessage],
    current: ChatMessage,
    *,
    model: str,
    system: str | None,
    max_output_tokens: int,
) -> tuple[ChatMessage, ...]:
    """Newest history that fits beside `current`, system prompt and output, oldest first.

    The current message is always kept (the provider reports it if it alone is too
    long). The result starts with a user turn and never has two turns of one role in a
    row, which some providers require.
    """
    window = context_window(model)
    room = min(HISTORY_CAP_TOKENS, window - max_output_tokens)
    room -= estimate_tokens(current.text) + (estimate_tokens(system) if system else 0)
    kept: list[ChatMessage] = []
    for message in reversed(history):
        if not message.text.strip():
            continue
        cost = estimate_tokens(message.text)
        if cost > room:
            break
        room -= cost
        kept.append(message)
    kept.reverse()
    return _normalise([*kept, current])


def _normalise(messages: Sequence[ChatMessage]) -> tuple[ChatMessage, ...]:
    out: list[ChatMessage] = []
    for message in messages:
        if not out and message.role != "user":
            continue  # a conversation must open with the user
        if out and out[-1].role == message.role:
            merged = f"{out[-1].text}\n\n{message.text}"
            out[-1] = ChatMessage(message.role, merged, parts=out[-1].parts + message.parts)
        else:
            out.append(message)
    return tuple(out)
