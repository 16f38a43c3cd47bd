"""Anthropic Messages API wire client (SSE streaming)."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from bot.errors import MalformedResponse, ProviderError, ProviderUnavailable
from bot.providers.failures import (
    error_info,
    openai_style_info,
    request_id,
    status_error,
    stream_error,
)
from bot.providers.http import WireCall
from bot.providers.parts import anthropic_content, json_body
from bot.providers.sse import SSEDecoder
from bot.providers.types import ChatRequest, Completion, KeySpec, StreamItem, TextDelta, Usage
from bot.providers.wire import (
    CountReader,
    WireClient,
    endpoint,
    parse_object,
    secret_header,
)

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
_COUNTS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)


def parse_usage(counts: Mapping[str, int]) -> Usage | None:
    """Normalise Anthropic counts: its ``input_tokens`` excludes cache reads and writes."""
    if not counts:
        return None
    written = counts.get("cache_creation_input_tokens", 0)
    read = counts.get("cache_read_input_tokens", 0)
    output = counts.get("output_tokens", 0)
    return Usage(
        input_tokens=counts.get("input_tokens", 0) + written + read,
        output_tokens=output,
        cache_read_tokens=read,
        cache_write_tokens=written,
        reasoning_tokens=min(counts.get("thinking_tokens", 0), output),
    )


def _merge_counts(into: dict[str, int], raw: object, count: CountReader) -> None:
    """Fold a usage object in; later events carry cumulative totals, so they replace."""
    if not isinstance(raw, Mapping):
        return
    for name in _COUNTS:
        value = count(raw.get(name))
        if value is not None:
            into[name] = value
    details = raw.get("output_tokens_details")
    if isinstance(details, Mapping):
        thinking = count(details.get("thinking_tokens"))
        if thinking is not None:
            into["thinking_tokens"] = thinking


class AnthropicStream:
    """Parses ``message_start`` / ``content_block_delta`` / ``message_delta`` / ``message_stop``."""

    def __init__(self, provider: str, headers: httpx.Headers) -> None:
        self._provider = provider
        self._request_id = request_id(headers)
        self._sse = SSEDecoder()
        self._counts: dict[str, int] = {}
        self._count = CountReader()
        self._finish: str | None = None
        self._model: str | None = None
        self._started = False
        self._stopped = False

    def feed(self, chunk: bytes) -> list[StreamItem]:
        """Consume a chunk of the body."""
        items: list[StreamItem] = []
        for event in self._sse.feed(chunk):
            self._event(event.event, event.data, items)
        return items

    def finish(self) -> list[StreamItem]:
        """Return the final ``Completion`` or raise if the stream was cut or unreadable."""
        items: list[StreamItem] = []
        for event in self._sse.finish():
            self._event(event.event, event.data, items)
        if not self._started:
            raise MalformedResponse(
                f"{self._provider}: the answer could not be read",
                provider=self._provider,
                request_id=self._request_id,
            )
        if not self._stopped:
            raise ProviderUnavailable(
                f"{self._provider}: the stream ended before the answer was complete",
                provider=self._provider,
                request_id=self._request_id,
            )
        usage = Usage(implausible=True) if self._count.implausible else parse_usage(self._counts)
        items.append(Completion(usage, self._request_id, self._finish, self._model))
        return items

    def _event(self, name: str, data: str, items: list[StreamItem]) -> None:
        if name == "ping":
            return
        obj = parse_object(data) if data else {}
        if obj is None:
            raise MalformedResponse(
                f"{self._provider}: the answer could not be read",
                provider=self._provider,
                request_id=self._request_id,
            )
        kind = obj.get("type", name)
        if kind == "error" or name == "error":
            err = stream_error(self._provider, error_info(obj))
            err.request_id = self._request_id
            raise err
        if kind == "content_block_delta":
            delta = obj.get("delta")
            # thinking_delta / signature_delta / input_json_delta are not reply text.
            if isinstance(delta, dict) and delta.get("type") == "text_delta":
                text = delta.get("text")
                if isinstance(text, str) and text:
                    items.append(TextDelta(text))
        elif kind == "message_start":
            self._started = True
            message = obj.get("message")
            if isinstance(message, dict):
                model = message.get("model")
                self._model = model if isinstance(model, str) else None
                _merge_counts(self._counts, message.get("usage"), self._count)
        elif kind == "message_delta":
            delta = obj.get("delta")
            if isinstance(delta, dict) and isinstance(delta.get("stop_reason"), str):
                self._finish = delta["stop_reason"]
            _merge_counts(self._counts, obj.get("usage"), self._count)
        elif kind == "message_stop":
            self._stopped = True


class AnthropicClient(WireClient):
    """The Messages API with ``x-api-key`` and a pinned ``anthropic-version``."""

    def _headers(self, key: KeySpec, accept: str) -> dict[str, str]:
        headers = {"accept": accept, "anthropic-version": API_VERSION}
        headers.update(secret_header("x-api-key", key.secret, provider=self.provider))
        return headers

    def _classify(self, status: int, body: bytes, headers: httpx.Headers) -> ProviderError:
        return status_error(self.provider, status, info=openai_style_info(body), headers=headers)

    def chat_call(self, key: KeySpec, request: ChatRequest) -> WireCall:
        """POST ``{base}/v1/messages`` with ``stream: true``."""
        body: dict[str, object] = {
            "model": request.model,
            "max_tokens": request.max_tokens,
            "messages": [
                {"role": m.role, "content": anthropic_content(m)} for m in request.messages
            ],
            "stream": True,
        }
        if request.system:
            body["system"] = request.system
        if request.temperature is not None:
            body["temperature"] = request.temperature
        headers = self._headers(key, "text/event-stream")
        headers["content-type"] = "application/json"
        provider = self.provider
        return WireCall(
            provider=provider,
            model=request.model,
            method="POST",
            url=endpoint(key, DEFAULT_BASE_URL, "/v1/messages"),
            headers=headers,
            body=json_body(body),
            parser=lambda h: AnthropicStream(provider, h),
            classify=self._classify,
        )

    models_path = "/v1/models"
    models_query = (("limit", "1000"),)

    def default_base_url(self) -> str | None:
        """The base URL a key without ``--base-url`` uses (None: it must have one)."""
        return DEFAULT_BASE_URL
