"""Fake AI providers speaking the real wire formats, for tests and benches.

One fake per wire format, each a real HTTP server on 127.0.0.1 in a background thread:

- ``FakeOpenAI``: ``/v1/models``, ``/v1/chat/completions`` (streaming and not).
  ``FakeOpenAI(azure=True)`` serves Azure's v1 API under ``/openai/v1`` with the ``api-key`` header.
- ``FakeAnthropic``: ``/v1/messages`` (streaming and not), ``/v1/models``.
- ``FakeGemini``: ``/v1beta/models/{m}:streamGenerateContent`` / ``:generateContent``,
  ``/v1beta/models``.

Example::

    from tests.fakes.providers import Fault, FakeOpenAI

    with FakeOpenAI(valid_keys={"sk-test"}, reply="Hi there") as fake:
        key = KeySpec("openai", "sk-test", fake.base_url)   # what the official SDK takes
        fake.script(Fault.http_status(429, headers={"Retry-After": "3600"}))
        ...                                                  # next request gets the 429
        assert fake.requests[-1].headers["authorization"] == "Bearer sk-test"

Every fake: ``start()``/``stop()`` or ``with``; ``base_url`` (and ``origin``, without path);
``valid_keys`` (a set; add None to accept keyless requests); ``reply``; ``usage`` (a
``bot.providers.types.Usage`` with cached/reasoning tokens inside input/output, rendered in
the provider's own usage format; None = report none); ``models`` (None = accept any model,
else unknown models get the provider's 404); ``delay`` (seconds between stream chunks);
``requests`` / ``chat_requests`` (``RecordedRequest``: method, path, query, raw_url, headers
with lower-case names, json, body); ``script(fault, times=N)``; ``reset()``.
Hostile modes: ``flood(tokens=1000)`` ignores ``max_tokens`` (one-token chunks, all reported
in the usage); ``output_figure`` reports the output-token figure verbatim (``10**15``, ``-5``,
``1.5``, ``"12"``); ``streams`` logs each streamed answer (``StreamLog``: text chunks sent,
completed, disconnected by the client).

Faults (``Fault.*``) apply to the next N matching requests, in order: ``http_status(code,
code=..., body=..., headers=...)`` (native error body unless ``body`` is given), ``html(502)``,
``redirect(url)``, ``hang()`` / ``hang(after=n)``, ``cut(after=n)``, ``no_usage()``,
``error_event(code=..., after=n)``, ``malformed(after=n)``. ``after`` counts text chunks.

Pytest fixtures for all of these live in ``tests.fakes.fixtures``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

from bot.providers.types import Usage
from tests.fakes.content import BadContent, anthropic_files, openai_files
from tests.fakes.gemini import FakeGemini
from tests.fakes.server import (
    DEFAULT_REPLY,
    DEFAULT_USAGE,
    Endpoint,
    FakeServer,
    Fault,
    Handler,
    RecordedRequest,
    split_reply,
    sse,
)

__all__ = [
    "FakeAnthropic",
    "FakeGemini",
    "FakeOpenAI",
    "FakeServer",
    "Fault",
    "RecordedRequest",
]

_OPENAI_ERRORS = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}


class FakeOpenAI(FakeServer):
    """OpenAI Chat Completions (or Azure OpenAI v1 with ``azure=True``)."""

    def __init__(
        self,
        *,
        azure: bool = False,
        valid_keys: Sequence[str] = ("test-key",),
        reply: str = DEFAULT_REPLY,
        usage: Usage | None = DEFAULT_USAGE,
        models: Sequence[str] | None = None,
        delay: float = 0.0,
    ) -> None:
        super().__init__(
            valid_keys=valid_keys, reply=reply, usage=usage, models=models, delay=delay
        )
        self.azure = azure
        self.base_path = "/openai/v1" if azure else "/v1"

    def endpoint_of(self, req: RecordedRequest) -> Endpoint | None:
        if req.path == self.base_path + "/chat/completions":
            return "chat"
        if req.path.startswith(self.base_path + "/models"):
            return "models"
        return None

    def route(self, req: RecordedRequest) -> Handler | None:
        endpoint = self.endpoint_of(req)
        if endpoint == "chat" and req.method == "POST":
            return self._chat
        if endpoint == "models" and req.method == "GET":
            return self._models
        return None

    def key_of(self, req: RecordedRequest) -> str | None:
        auth = req.headers.get("authorization", "")
        if auth.startswith("Bearer "):
            return auth.removeprefix("Bearer ")
        return req.headers.get("api-key") if self.azure else None

    def error_body(self, status: int, code: str | None) -> Mapping[str, Any]:
        kind, default_code = _OPENAI_ERRORS.get(status, ("server_error", None))
        if code == "insufficient_quota":
            kind = "insufficient_quota"
        return {
            "error": {
                "message": f"fake error {status}",
                "type": kind,
                "param": None,
                "code": code or default_code,
            }
        }

    def error_event(self, code: str) -> bytes:
        return sse({"error": {"message": "fake in-stream error", "type": code, "code": None}})

    async def _models(
        self, request: web.Request, rec: RecordedRequest, fault: Fault | None
    ) -> web.StreamResponse:
        ids = self.models or ["gpt-4o-mini", "gpt-4o"]
        data = [
            {"id": m, "object": "model", "created": 1700000000, "owned_by": "fake"} for m in ids
        ]
        prefix = self.base_path + "/models/"
        if rec.path.startswith(prefix):
            wanted = rec.path.removeprefix(prefix)
            match = [d for d in data if d["id"] == wanted]
            return web.json_response(match[0]) if match else self.json_error(404, None)
        return web.json_response({"object": "list", "data": data})

    def _usage_obj(self, usage: Usage) -> dict[str, Any]:
        return {
            "prompt_tokens": usage.input_tokens,
            "completion_tokens": usage.output_tokens,
            "total_tokens": usage.total_tokens,
            "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": usage.reasoning_tokens,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        } | ({} if self.output_figure is None else {"completion_tokens": self.output_figure})

    async def _chat(
        self, request: web.Request, rec: RecordedRequest, fault: Fault | None
    ) -> web.StreamResponse:
        body = rec.json if isinstance(rec.json, dict) else {}
        model = str(body.get("model", ""))
        if self.models is not None and model not in self.models:
            return self.json_error(404, "model_not_found")
        try:
            openai_files(body)  # images and files as OpenAI takes them, or a 400
        except BadContent:
            return self.json_error(400, "invalid_request_error")
        usage = None if fault is not None and fault.kind == "no_usage" else self.usage
        base = {"id": "chatcmpl-fake", "created": int(time.time()), "model": model}
        if not body.get("stream"):
            message = {"role": "assistant", "content": self.reply, "refusal": None}
            choice = {"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}
            full = {**base, "object": "chat.completion", "choices": [choice]}
            if usage is not None:
                full["usage"] = self._usage_obj(usage)
            return web.json_response(full, headers={"x-request-id": "req_fake_0001"})
        chunk = {**base, "object": "chat.completion.chunk", "system_fingerprint": "fp_fake"}
        events: list[tuple[bytes, bool]] = []

        def choice_chunk(delta: dict[str, Any], finish: str | None) -> bytes:
            choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
            return sse({**chunk, "choices": [choice]})

        events.append((choice_chunk({"role": "assistant", "content": ""}, None), False))
        events.extend((choice_chunk({"content": p}, None), True) for p in split_reply(self.reply))
        events.append((choice_chunk({}, "stop"), False))
        options = body.get("stream_options") or {}
        # Like OpenAI: the usage chunk comes only when asked for.
        if usage is not None and options.get("include_usage"):
            events.append((sse({**chunk, "choices": [], "usage": self._usage_obj(usage)}), False))
        events.append((b"data: [DONE]\n\n", False))
        return await self.stream(request, events, fault)


_ANTHROPIC_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


class FakeAnthropic(FakeServer):
    """Anthropic Messages API."""

    base_path = ""

    def endpoint_of(self, req: RecordedRequest) -> Endpoint | None:
        if req.path == "/v1/messages":
            return "chat"
        if req.path.startswith("/v1/models"):
            return "models"
        return None

    def route(self, req: RecordedRequest) -> Handler | None:
        endpoint = self.endpoint_of(req)
        if endpoint == "chat" and req.method == "POST":
            return self._messages
        if endpoint == "models" and req.method == "GET":
            return self._models
        return None

    def key_of(self, req: RecordedRequest) -> str | None:
        # The API takes x-api-key; the current official SDK sends the key as a Bearer token.
        auth = req.headers.get("authorization", "")
        bearer = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        return req.headers.get("x-api-key") or bearer

    def error_body(self, status: int, code: str | None) -> Mapping[str, Any]:
        kind = code or _ANTHROPIC_ERRORS.get(status, "api_error")
        message = "Your credit balance is too low." if kind == "billing_error" else "fake error"
        return {
            "type": "error",
            "error": {"type": kind, "message": message},
            "request_id": "req_fake_0001",
        }

    def error_event(self, code: str) -> bytes:
        return sse({"type": "error", "error": {"type": code, "message": "fake"}}, event="error")

    async def _models(
        self, request: web.Request, rec: RecordedRequest, fault: Fault | None
    ) -> web.StreamResponse:
        ids = self.models or ["claude-sonnet-4-5", "claude-haiku-4-5"]
        data = [
            {
                "type": "model",
                "id": m,
                "display_name": m,
                "created_at": "2025-09-29T00:00:00Z",
            }
            for m in ids
        ]
        page = {"data": data, "has_more": False, "first_id": ids[0], "last_id": ids[-1]}
        return web.json_response(page)

    def _usage_obj(self, usage: Usage, *, output: int) -> dict[str, Any]:
        # Anthropic's input_tokens excludes cache reads and writes.
        plain = usage.input_tokens - usage.cache_read_tokens - usage.cache_write_tokens
        return {
            "input_tokens": plain,
            "cache_creation_input_tokens": usage.cache_write_tokens,
            "cache_read_input_tokens": usage.cache_read_tokens,
            "output_tokens": output if self.output_figure is None else self.output_figure,
        }

    async def _messages(
        self, request: web.Request, rec: RecordedRequest, fault: Fault | None
    ) -> web.StreamResponse:
        if "anthropic-version" not in rec.headers:
            return self.json_error(400, "invalid_request_error")
        body = rec.json if isinstance(rec.json, dict) else {}
        model = str(body.get("model", ""))
        if self.models is not None and model not in self.models:
            return self.json_error(404, "not_found_error")
        try:
            anthropic_files(body)  # image and document blocks as Anthropic takes them, or a 400
        except BadContent:
            return self.json_error(400, "invalid_request_error")
        usage = None if fault is not None and fault.kind == "no_usage" else self.usage
        message: dict[str, Any] = {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": model,
            "stop_reason": None,
            "stop_sequence": None,
            "content": [],
        }
        if not body.get("stream"):
            message["content"] = [{"type": "text", "text": self.reply}]
            message["stop_reason"] = "end_turn"
            if usage is not None:
                message["usage"] = self._usage_obj(usage, output=usage.output_tokens)
            return web.json_response(message, headers={"request-id": "req_fake_0001"})
        if usage is not None:
            message["usage"] = self._usage_obj(usage, output=1)
        events: list[tuple[bytes, bool]] = [
            (sse({"type": "message_start", "message": message}, event="message_start"), False),
            (
                sse(
                    {
                        "type": "content_block_start",
                        "index": 0,
                        "content_block": {"type": "text", "text": ""},
                    },
                    event="content_block_start",
                ),
                False,
            ),
            (b'event: ping\ndata: {"type": "ping"}\n\n', False),
        ]
        for part in split_reply(self.reply):
            delta = {"type": "text_delta", "text": part}
            data = {"type": "content_block_delta", "index": 0, "delta": delta}
            events.append((sse(data, event="content_block_delta"), True))
        events.append(
            (sse({"type": "content_block_stop", "index": 0}, event="content_block_stop"), False)
        )
        final: dict[str, Any] = {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        }
        if usage is not None:
            final["usage"] = self._usage_obj(usage, output=usage.output_tokens)
        events.append((sse(final, event="message_delta"), False))
        events.append((sse({"type": "message_stop"}, event="message_stop"), False))
        return await self.stream(request, events, fault)
