"""OpenAI Chat Completions wire client: OpenAI, Azure OpenAI (v1) and OpenAI-compatible servers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from bot.errors import MalformedResponse, ProviderError, ProviderUnavailable
from bot.providers.failures import (
    error_info,
    load_json,
    openai_style_info,
    request_id,
    status_error,
    stream_error,
)
from bot.providers.http import Caller, WireCall
from bot.providers.parts import json_body, openai_content
from bot.providers.sse import SSEDecoder
from bot.providers.types import ChatRequest, Completion, KeySpec, StreamItem, TextDelta, Usage
from bot.providers.wire import (
    CountReader,
    WireClient,
    endpoint,
    parse_object,
    secret_header,
)


@dataclass(frozen=True, slots=True)
class OpenAIFlavor:
    """How one OpenAI-compatible provider differs from OpenAI itself."""

    default_base_url: str | None
    auth_header: str = "authorization"  # "api-key" for Azure
    token_param: str = "max_tokens"  # OpenAI's own API wants max_completion_tokens
    stream_options: bool = True  # ask for the usage chunk; Mistral sends it unasked
    reasoning_outside_completion: bool = False  # xAI counts reasoning apart from completion


def parse_usage(raw: object, *, reasoning_outside: bool = False) -> Usage | None:
    """Normalise an OpenAI-style ``usage`` object (cached/reasoning inside input/output)."""
    if not isinstance(raw, Mapping):
        return None
    count = CountReader()
    prompt = count(raw.get("prompt_tokens"))
    completion = count(raw.get("completion_tokens"))
    pdet = raw.get("prompt_tokens_details")
    cdet = raw.get("completion_tokens_details")
    pdet = pdet if isinstance(pdet, Mapping) else {}
    cdet = cdet if isinstance(cdet, Mapping) else {}
    cached = count(pdet.get("cached_tokens")) or count(raw.get("prompt_cache_hit_tokens"))
    written = count(pdet.get("cache_write_tokens")) or 0
    reasoning = count(cdet.get("reasoning_tokens")) or count(raw.get("reasoning_tokens")) or 0
    if count.implausible:
        return Usage(implausible=True)
    if prompt is None and completion is None:
        return None
    prompt, completion = prompt or 0, completion or 0
    if reasoning_outside:
        completion += reasoning
    return Usage(
        input_tokens=prompt,
        output_tokens=completion,
        cache_read_tokens=min(cached or 0, prompt),
        cache_write_tokens=min(written, prompt),
        reasoning_tokens=min(reasoning, completion),
    )


class OpenAIStream:
    """Parses a Chat Completions SSE stream (or a whole JSON answer from servers that ignore it)."""

    def __init__(self, provider: str, headers: httpx.Headers, flavor: OpenAIFlavor) -> None:
        self._provider = provider
        self._flavor = flavor
        self._request_id = request_id(headers)
        self._sse = SSEDecoder()
        self._usage: Usage | None = None
        self._finish: str | None = None
        self._model: str | None = None
        self._done = False
        self._events = 0
        self._json: bytearray | None = None
        self._seen_bytes = False

    def feed(self, chunk: bytes) -> list[StreamItem]:
        """Consume a chunk of the body."""
        if not self._seen_bytes and chunk.strip():
            self._seen_bytes = True
            if chunk.lstrip().startswith(b"{"):
                self._json = bytearray()
        if self._json is not None:
            self._json += chunk
            return []
        items: list[StreamItem] = []
        for event in self._sse.feed(chunk):
            self._event(event.data, items)
        return items

    def finish(self) -> list[StreamItem]:
        """Return the final ``Completion`` or raise if the stream was cut or unreadable."""
        if self._json is not None:
            return self._whole(bytes(self._json))
        items: list[StreamItem] = []
        for event in self._sse.finish():
            self._event(event.data, items)
        if not self._seen_bytes:
            raise ProviderUnavailable(f"{self._provider}: empty answer", provider=self._provider)
        if self._events == 0:
            raise self._malformed()
        if not self._done and self._finish is None:
            raise ProviderUnavailable(
                f"{self._provider}: the stream ended before the answer was complete",
                provider=self._provider,
                request_id=self._request_id,
            )
        items.append(Completion(self._usage, self._request_id, self._finish, self._model))
        return items

    def _event(self, data: str, items: list[StreamItem]) -> None:
        if data == "[DONE]":
            self._done = True
            self._events += 1
            return
        if not data:
            return
        obj = parse_object(data)
        if obj is None:
            raise self._malformed()
        self._object(obj, items)

    def _object(self, obj: dict[str, object], items: list[StreamItem]) -> None:
        self._events += 1
        if obj.get("error") is not None:
            raise self._in_stream_error(obj)
        model = obj.get("model")
        if isinstance(model, str):
            self._model = model
        choices = obj.get("choices")
        for choice in choices if isinstance(choices, list) else ():
            if not isinstance(choice, dict):
                continue
            # "delta" in a stream; "message" when a server answered with one whole JSON object.
            delta = choice.get("delta") or choice.get("message") or {}
            text = delta.get("content") if isinstance(delta, dict) else None
            if isinstance(text, str) and text:
                items.append(TextDelta(text))
            if choice.get("finish_reason"):
                self._finish = str(choice["finish_reason"])
        usage = obj.get("usage")
        groq = obj.get("x_groq")
        if not usage and isinstance(groq, dict):
            usage = groq.get("usage")
        if usage:
            outside = self._flavor.reasoning_outside_completion
            self._usage = parse_usage(usage, reasoning_outside=outside)

    def _whole(self, body: bytes) -> list[StreamItem]:
        obj = load_json(body)
        if not isinstance(obj, dict):
            raise self._malformed()
        items: list[StreamItem] = []
        self._object(obj, items)
        if self._finish is None and not items:
            raise self._malformed()
        items.append(Completion(self._usage, self._request_id, self._finish, self._model))
        return items

    def _in_stream_error(self, obj: Mapping[str, object]) -> ProviderError:
        err = stream_error(self._provider, error_info(obj))
        err.request_id = self._request_id
        return err

    def _malformed(self) -> MalformedResponse:
        return MalformedResponse(
            f"{self._provider}: the answer could not be read",
            provider=self._provider,
            request_id=self._request_id,
        )


class OpenAIClient(WireClient):
    """Chat Completions over SSE for one provider id (OpenAI or an OpenAI-compatible preset)."""

    def __init__(self, *, provider: str, caller: Caller, flavor: OpenAIFlavor) -> None:
        super().__init__(provider=provider, caller=caller)
        self._flavor = flavor

    def _headers(self, key: KeySpec, accept: str) -> dict[str, str]:
        headers = {"accept": accept}
        headers.update(secret_header(self._flavor.auth_header, key.secret, provider=self.provider))
        return headers

    def _classify(self, status: int, body: bytes, headers: httpx.Headers) -> ProviderError:
        return status_error(self.provider, status, info=openai_style_info(body), headers=headers)

    def chat_call(self, key: KeySpec, request: ChatRequest) -> WireCall:
        """POST ``{base}/chat/completions`` with ``stream: true`` and usage requested."""
        messages: list[dict[str, object]] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        # File parts for PDFs on OpenAI itself; other servers get a PDF's text.
        native = self.provider == "openai"
        messages.extend(
            {"role": m.role, "content": openai_content(m, native_pdf=native)}
            for m in request.messages
        )
        body: dict[str, object] = {
            "model": request.model,
            "messages": messages,
            "stream": True,
            self._flavor.token_param: request.max_tokens,
        }
        if self._flavor.stream_options:
            body["stream_options"] = {"include_usage": True}
        if request.temperature is not None:
            body["temperature"] = request.temperature
        headers = self._headers(key, "text/event-stream")
        headers["content-type"] = "application/json"
        flavor, provider = self._flavor, self.provider
        return WireCall(
            provider=provider,
            model=request.model,
            method="POST",
            url=endpoint(key, flavor.default_base_url, "/chat/completions"),
            headers=headers,
            body=json_body(body),
            parser=lambda h: OpenAIStream(provider, h, flavor),
            classify=self._classify,
        )

    def default_base_url(self) -> str | None:
        """The base URL a key without ``--base-url`` uses (None: it must have one)."""
        return self._flavor.default_base_url
