"""Pure parsing pieces: SSE framing, usage normalisation, Retry-After, error classification."""

from __future__ import annotations

import datetime as dt
import json

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import (
    BadRequest,
    KeyRejected,
    ModelNotFound,
    ProviderUnavailable,
    QuotaExhausted,
    RateLimited,
    RequestTooLarge,
)
from bot.providers import anthropic, gemini, openai
from bot.providers.failures import ErrorInfo, retry_after, status_error
from bot.providers.sse import SSEDecoder, SSEvent
from bot.providers.types import Completion, TextDelta, Usage

STREAM = (
    b": comment\r\n"
    b'event: message_start\r\ndata: {"a": 1}\r\n\r\n'
    b"data: line one\ndata: line two\n\n"
    b"data:no-space\n\n"
    b'data: {"text": "gr\xc3\xbc\xc3\x9fe \xf0\x9f\x91\x8b"}\n\n'
    b"event: ping\ndata: \n\n"
    b"data: [DONE]\n\n"
)
EXPECTED = [
    SSEvent("message_start", '{"a": 1}'),
    SSEvent("message", "line one\nline two"),
    SSEvent("message", "no-space"),
    SSEvent("message", '{"text": "grüße 👋"}'),
    SSEvent("ping", ""),
    SSEvent("message", "[DONE]"),
]


def decode(chunks: list[bytes]) -> list[SSEvent]:
    decoder = SSEDecoder()
    events = [e for c in chunks for e in decoder.feed(c)]
    return events + decoder.finish()


def test_sse_decoder_whole() -> None:
    assert decode([STREAM]) == EXPECTED


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=30))
def test_sse_decoder_any_chunking(cuts: list[int]) -> None:
    points = sorted(set(cuts))
    chunks = [STREAM[a:b] for a, b in zip([0, *points], [*points, len(STREAM)], strict=True)]
    assert decode(chunks) == EXPECTED


def test_sse_last_event_without_blank_line_counts() -> None:
    assert decode([b"data: x"]) == [SSEvent("message", "x")]


def test_openai_usage_shapes() -> None:
    assert openai.parse_usage(
        {
            "prompt_tokens": 100,
            "completion_tokens": 40,
            "prompt_tokens_details": {"cached_tokens": 30},
            "completion_tokens_details": {"reasoning_tokens": 25},
        }
    ) == Usage(100, 40, cache_read_tokens=30, reasoning_tokens=25)
    # DeepSeek's own cache fields.
    assert openai.parse_usage(
        {"prompt_tokens": 100, "completion_tokens": 5, "prompt_cache_hit_tokens": 60}
    ) == Usage(100, 5, cache_read_tokens=60)
    # xAI counts reasoning outside completion_tokens; we bill both as output.
    xai = {
        "prompt_tokens": 10,
        "completion_tokens": 9,
        "completion_tokens_details": {"reasoning_tokens": 310},
    }
    assert openai.parse_usage(xai, reasoning_outside=True) == Usage(10, 319, reasoning_tokens=310)
    assert openai.parse_usage(None) is None
    assert openai.parse_usage({"total_tokens": 3}) is None
    # Nonsense counts make the report untrusted (charged at the estimate); details never
    # exceed their totals.
    assert openai.parse_usage({"prompt_tokens": True, "completion_tokens": -1}) == Usage(
        implausible=True
    )
    weird = {
        "prompt_tokens": 5,
        "completion_tokens": 2,
        "prompt_tokens_details": {"cached_tokens": 50},
    }
    assert openai.parse_usage(weird) == Usage(5, 2, cache_read_tokens=5)


def test_groq_usage_in_x_groq() -> None:
    stream = openai.OpenAIStream("groq", httpx.Headers(), openai.OpenAIFlavor(None))
    chunk = {
        "choices": [{"delta": {"content": "hi"}, "finish_reason": "stop"}],
        "x_groq": {"usage": {"prompt_tokens": 3, "completion_tokens": 1}},
    }
    items = stream.feed(f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode())
    items += stream.finish()
    assert items == [TextDelta("hi"), Completion(Usage(3, 1), None, "stop", None)]


def test_anthropic_usage_merge_is_cumulative() -> None:
    stream = anthropic.AnthropicStream("anthropic", httpx.Headers({"request-id": "req_1"}))
    start = {
        "type": "message_start",
        "message": {
            "model": "claude-x",
            "usage": {
                "input_tokens": 10,
                "cache_creation_input_tokens": 20,
                "cache_read_input_tokens": 30,
                "output_tokens": 1,
            },
        },
    }
    delta = {
        "type": "message_delta",
        "delta": {"stop_reason": "max_tokens"},
        "usage": {"output_tokens": 42},
    }
    raw = (
        f"event: message_start\ndata: {json.dumps(start)}\n\n"
        'event: content_block_delta\ndata: {"type": "content_block_delta", '
        '"delta": {"type": "thinking_delta", "thinking": "hmm"}}\n\n'
        'event: content_block_delta\ndata: {"type": "content_block_delta", '
        '"delta": {"type": "text_delta", "text": "ok"}}\n\n'
        f"event: message_delta\ndata: {json.dumps(delta)}\n\n"
        'event: message_stop\ndata: {"type": "message_stop"}\n\n'
    ).encode()
    items = stream.feed(raw) + stream.finish()
    usage = Usage(60, 42, cache_read_tokens=30, cache_write_tokens=20)
    assert items == [TextDelta("ok"), Completion(usage, "req_1", "max_tokens", "claude-x")]


def test_gemini_thought_parts_are_not_reply_text() -> None:
    stream = gemini.GeminiStream("gemini", httpx.Headers())
    chunk = {
        "candidates": [
            {
                "content": {"parts": [{"text": "thinking...", "thought": True}, {"text": "A"}]},
                "finishReason": "MAX_TOKENS",
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 4,
            "candidatesTokenCount": 1,
            "thoughtsTokenCount": 9,
        },
    }
    items = stream.feed(f"data: {json.dumps(chunk)}\r\n\r\n".encode()) + stream.finish()
    assert items == [
        TextDelta("A"),
        Completion(Usage(4, 10, reasoning_tokens=9), None, "max_tokens", None),
    ]


def test_gemini_blocked_prompt_completes_with_reason() -> None:
    stream = gemini.GeminiStream("gemini", httpx.Headers())
    chunk = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 7}}
    items = stream.feed(f"data: {json.dumps(chunk)}\n\n".encode()) + stream.finish()
    assert items == [Completion(Usage(7, 0), None, "blocked:safety", None)]


@pytest.mark.parametrize(
    ("model", "path"),
    [
        ("gemini-2.5-flash", "/v1beta/models/gemini-2.5-flash"),
        ("models/gemini-2.5-pro", "/v1beta/models/gemini-2.5-pro"),
        ("../../v1/files", "/v1beta/models/..%2F..%2Fv1%2Ffiles"),
        ("a?key=x#y", "/v1beta/models/a%3Fkey%3Dx%23y"),
    ],
)
def test_gemini_model_path_is_escaped(model: str, path: str) -> None:
    assert gemini.model_path("gemini", model) == path


def test_gemini_empty_model_is_refused() -> None:
    with pytest.raises(BadRequest):
        gemini.model_path("gemini", "models/")


def test_retry_after_forms() -> None:
    now = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
    h = httpx.Headers
    assert retry_after(h({"retry-after": "7"})) == 7.0
    assert retry_after(h({"retry-after": "1.5"})) == 1.5
    assert retry_after(h({"retry-after-ms": "250", "retry-after": "9"})) == 0.25
    assert retry_after(h({"retry-after": "Thu, 01 Jan 2026 12:00:30 GMT"}), now=now) == 30.0
    assert retry_after(h({"retry-after": "Thu, 01 Jan 2026 11:00:00 GMT"}), now=now) == 0.0
    assert retry_after(h({"retry-after": "soon"})) is None
    assert retry_after(h({"retry-after": "-3"})) is None
    assert retry_after(h({"retry-after": "nan"})) is None
    assert retry_after(h()) is None


@pytest.mark.parametrize(
    ("status", "info", "error"),
    [
        (401, ErrorInfo(), KeyRejected),
        (403, ErrorInfo(), KeyRejected),
        (402, ErrorInfo(), QuotaExhausted),
        (429, ErrorInfo(code="insufficient_quota"), QuotaExhausted),
        (400, ErrorInfo(text="your credit balance is too low"), QuotaExhausted),
        (429, ErrorInfo(code="rate_limit_exceeded"), RateLimited),
        (404, ErrorInfo(), ModelNotFound),
        (400, ErrorInfo(text="model 'x' not found, try pulling it first"), ModelNotFound),
        (400, ErrorInfo(code="context_length_exceeded"), RequestTooLarge),
        (
            400,
            ErrorInfo(text="this model's maximum context length is 8192 tokens"),
            RequestTooLarge,
        ),
        (413, ErrorInfo(), RequestTooLarge),
        (408, ErrorInfo(), ProviderUnavailable),
        (500, ErrorInfo(), ProviderUnavailable),
        (529, ErrorInfo(), ProviderUnavailable),
        (422, ErrorInfo(), BadRequest),
        (400, ErrorInfo(code="invalid_request_error"), BadRequest),
    ],
)
def test_status_mapping(status: int, info: ErrorInfo, error: type) -> None:
    exc = status_error("p", status, info=info, headers=httpx.Headers({"x-request-id": "r1"}))
    assert type(exc) is error
    assert exc.status == status and exc.request_id == "r1"
    assert f"HTTP {status}" in str(exc) or error in (QuotaExhausted, RequestTooLarge)


def test_only_short_identifiers_are_echoed() -> None:
    exc = status_error(
        "p",
        400,
        info=ErrorInfo(code=None, text="anything the user typed"),
        headers=httpx.Headers({"x-request-id": "has spaces; and a prompt"}),
    )
    assert "typed" not in str(exc)
    assert exc.request_id is None
