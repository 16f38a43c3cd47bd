"""A fake Gemini API (``generativelanguage.googleapis.com``); see ``tests.fakes.providers``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from bot.providers.types import Usage
from tests.fakes.content import BadContent, gemini_files
from tests.fakes.server import Endpoint, FakeServer, Fault, Handler, RecordedRequest, split_reply

_PREFIX = "/v1beta/models"
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


class FakeGemini(FakeServer):
    """Gemini ``streamGenerateContent`` (SSE), ``generateContent`` and model listing."""

    base_path = ""

    def _split(self, req: RecordedRequest) -> tuple[str, str]:
        """``/v1beta/models/gemini-x:method`` -> ("gemini-x", "method")."""
        rest = req.path.removeprefix(_PREFIX).lstrip("/")
        model, _, method = rest.partition(":")
        return model, method

    def endpoint_of(self, req: RecordedRequest) -> Endpoint | None:
        if not req.path.startswith(_PREFIX):
            return None
        _, method = self._split(req)
        if method in ("streamGenerateContent", "generateContent"):
            return "chat"
        return "models" if not method else None

    def route(self, req: RecordedRequest) -> Handler | None:
        endpoint = self.endpoint_of(req)
        if endpoint == "chat" and req.method == "POST":
            return self._generate
        if endpoint == "models" and req.method == "GET":
            return self._models
        return None

    def key_of(self, req: RecordedRequest) -> str | None:
        # The real API also takes ?key=; accepted so a test can see a client that uses it.
        return req.headers.get("x-goog-api-key") or req.query.get("key")

    def error_body(self, status: int, code: str | None) -> Mapping[str, Any]:
        details: list[dict[str, Any]] = []
        if status == 401 or code == "API_KEY_INVALID":
            # Google answers a bad key with 400 INVALID_ARGUMENT + reason API_KEY_INVALID.
            status, code = 400, "API_KEY_INVALID"
        if code and code.startswith("API_KEY_"):
            details.append(
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": code,
                    "domain": "googleapis.com",
                }
            )
        elif status == 429:
            quota = code or "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
            details.append(
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [{"quotaMetric": "generate_content_requests", "quotaId": quota}],
                }
            )
            details.append(
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"}
            )
        message = "You exceeded your current quota." if status == 429 else "fake error"
        return {
            "error": {
                "code": status,
                "message": message,
                "status": _STATUS.get(status, "UNKNOWN"),
                "details": details,
            }
        }

    def json_error(
        self, status: int, code: str | None, *, headers: Mapping[str, str] | None = None
    ) -> web.Response:
        body = self.error_body(status, code)
        real_status = body["error"]["code"]
        return web.json_response(body, status=real_status, headers=dict(headers or {}))

    def error_event(self, code: str) -> bytes:
        status = 503 if code in ("overloaded_error", "UNAVAILABLE") else 500
        body = {"error": {"code": status, "message": "fake", "status": _STATUS[status]}}
        return f"data: {json.dumps(body)}\n\n".encode()

    async def _models(
        self, request: web.Request, rec: RecordedRequest, fault: Fault | None
    ) -> web.StreamResponse:
        ids = self.models or ["gemini-2.5-flash", "gemini-2.5-pro"]
        data = [
            {
                "name": f"models/{m}",
                "version": "001",
                "displayName": m,
                "inputTokenLimit": 1048576,
                "outputTokenLimit": 65536,
                "supportedGenerationMethods": ["generateContent", "countTokens"],
            }
            for m in ids
        ]
        model, _ = self._split(rec)
        if model:
            match = [d for d in data if d["name"] == f"models/{model}"]
            return web.json_response(match[0]) if match else self.json_error(404, None)
        return web.json_response({"models": data})

    def _usage_obj(self, usage: Usage | None, *, final: bool) -> dict[str, Any] | None:
        if usage is None:
            return None
        out: dict[str, Any] = {"promptTokenCount": usage.input_tokens}
        if final:
            # Gemini reports thoughts apart from the candidates' tokens.
            out["candidatesTokenCount"] = usage.output_tokens - usage.reasoning_tokens
            if self.output_figure is not None:
                out["candidatesTokenCount"] = self.output_figure
            if usage.reasoning_tokens:
                out["thoughtsTokenCount"] = usage.reasoning_tokens
            if usage.cache_read_tokens:
                out["cachedContentTokenCount"] = usage.cache_read_tokens
        out["totalTokenCount"] = usage.input_tokens + (usage.output_tokens if final else 0)
        return out

    def _chunk(
        self, model: str, text: str | None, *, finish: bool, usage: Usage | None
    ) -> dict[str, Any]:
        candidate: dict[str, Any] = {"index": 0}
        if text is not None:
            candidate["content"] = {"role": "model", "parts": [{"text": text}]}
        if finish:
            candidate["finishReason"] = "STOP"
        chunk: dict[str, Any] = {
            "candidates": [candidate],
            "modelVersion": model,
            "responseId": "resp_fake",
        }
        meta = self._usage_obj(usage, final=finish)
        if meta is not None:
            chunk["usageMetadata"] = meta
        return chunk

    async def _generate(
        self, request: web.Request, rec: RecordedRequest, fault: Fault | None
    ) -> web.StreamResponse:
        model, method = self._split(rec)
        if self.models is not None and model not in self.models:
            return self.json_error(404, None)
        try:
            gemini_files(rec.json if isinstance(rec.json, dict) else {})
        except BadContent:
            return self.json_error(400, None)
        usage = None if fault is not None and fault.kind == "no_usage" else self.usage
        if method == "generateContent":
            return web.json_response(self._chunk(model, self.reply, finish=True, usage=usage))
        parts = split_reply(self.reply)
        events: list[tuple[bytes, bool]] = []
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            chunk = self._chunk(model, part, finish=last, usage=usage)
            events.append((f"data: {json.dumps(chunk)}\r\n\r\n".encode(), True))
        if not parts:
            chunk = self._chunk(model, None, finish=True, usage=usage)
            events.append((f"data: {json.dumps(chunk)}\r\n\r\n".encode(), False))
        if rec.query.get("alt") != "sse":
            # Without alt=sse the API streams one JSON array; only SSE is faked faithfully.
            arr = [json.loads(e[0].decode()[6:]) for e in events]
            return web.json_response(arr)
        return await self.stream(request, events, fault)
