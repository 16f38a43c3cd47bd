"""Gemini API wire client: ``streamGenerateContent`` over SSE, key in ``x-goog-api-key``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote

import httpx

from bot.errors import (
    BadRequest,
    KeyRejected,
    MalformedResponse,
    ProviderError,
    ProviderUnavailable,
    QuotaExhausted,
)
from bot.providers.failures import (
    ErrorInfo,
    load_json,
    request_id,
    retry_after,
    safe_token,
    status_error,
)
from bot.providers.http import WireCall
from bot.providers.parts import gemini_parts, json_body
from bot.providers.sse import SSEDecoder
from bot.providers.types import ChatRequest, Completion, KeySpec, StreamItem, TextDelta, Usage
from bot.providers.wire import (
    CountReader,
    WireClient,
    endpoint,
    parse_object,
    secret_header,
)

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
_DELAY = re.compile(r"^(\d+(?:\.\d+)?)s$")


def parse_usage(raw: object) -> Usage | None:
    """Normalise ``usageMetadata``: thoughts are billed as output but reported apart."""
    if not isinstance(raw, Mapping):
        return None
    count = CountReader()
    prompt = count(raw.get("promptTokenCount"))
    candidates = count(raw.get("candidatesTokenCount"))
    thoughts = count(raw.get("thoughtsTokenCount")) or 0
    cached = count(raw.get("cachedContentTokenCount")) or 0
    if count.implausible:
        return Usage(implausible=True)
    if prompt is None and candidates is None and not thoughts:
        return None
    prompt = prompt or 0
    return Usage(
        input_tokens=prompt,
        output_tokens=(candidates or 0) + thoughts,
        cache_read_tokens=min(cached, prompt),
        reasoning_tokens=thoughts,
    )


def _error(data: object) -> tuple[ErrorInfo, list[Mapping[str, object]]]:
    """Read Google's ``{"error": {"code", "message", "status", "details"}}`` envelope."""
    # Some Google front ends wrap the envelope in a one-element list.
    if isinstance(data, list) and data:
        data = data[0]
    err = data.get("error") if isinstance(data, Mapping) else None
    if not isinstance(err, Mapping):
        return ErrorInfo(), []
    details = err.get("details")
    found = [d for d in details if isinstance(d, Mapping)] if isinstance(details, list) else []
    message = err.get("message")
    text = message.lower() if isinstance(message, str) else ""
    return ErrorInfo(code=safe_token(err.get("status")), text=text), found


def classify(
    provider: str,
    status: int,
    data: object,
    headers: httpx.Headers,
    *,
    in_stream: bool = False,
) -> ProviderError:
    """Google's error details first (API_KEY_INVALID, RetryInfo, per-day quota), then status."""
    info, details = _error(data)
    rid = request_id(headers)
    wait: float | None = None
    for detail in details:
        reason = detail.get("reason")
        if isinstance(reason, str) and reason.startswith("API_KEY_"):
            return KeyRejected(
                f"{provider}: the key was rejected ({safe_token(reason)})",
                provider=provider,
                status=status,
                request_id=rid,
            )
        delay = detail.get("retryDelay")
        if isinstance(delay, str) and (match := _DELAY.match(delay)):
            wait = float(match.group(1))
        violations = detail.get("violations")
        for violation in violations if isinstance(violations, list) else ():
            quota_id = violation.get("quotaId") if isinstance(violation, Mapping) else None
            if status == 429 and isinstance(quota_id, str) and "PerDay" in quota_id:
                return QuotaExhausted(
                    f"{provider}: the daily quota is used up",
                    provider=provider,
                    status=status,
                    request_id=rid,
                )
    if status == 429:
        # Google words every 429 as "exceeded your current quota"; it is a rate limit here.
        info = ErrorInfo(code=info.code)
        header_wait = retry_after(headers)
        if header_wait is not None:
            wait = max(wait or 0.0, header_wait)
    return status_error(
        provider, status, info=info, headers=headers, wait=wait, in_stream=in_stream
    )


class GeminiStream:
    """Parses ``GenerateContentResponse`` chunks; skips thought parts."""

    def __init__(self, provider: str, headers: httpx.Headers) -> None:
        self._provider = provider
        self._request_id = request_id(headers)
        self._sse = SSEDecoder()
        self._usage_raw: object = None
        self._finish: str | None = None
        self._model: str | None = None
        self._events = 0

    def feed(self, chunk: bytes) -> list[StreamItem]:
        """Consume a chunk of the body."""
        items: list[StreamItem] = []
        for event in self._sse.feed(chunk):
            self._event(event.data, items)
        return items

    def finish(self) -> list[StreamItem]:
        """Return the final ``Completion`` or raise if the stream was cut or unreadable."""
        items: list[StreamItem] = []
        for event in self._sse.finish():
            self._event(event.data, items)
        if self._events == 0:
            raise self._malformed()
        if self._finish is None:
            raise ProviderUnavailable(
                f"{self._provider}: the stream ended before the answer was complete",
                provider=self._provider,
                request_id=self._request_id,
            )
        usage = parse_usage(self._usage_raw)
        items.append(Completion(usage, self._request_id, self._finish, self._model))
        return items

    def _event(self, data: str, items: list[StreamItem]) -> None:
        if not data:
            return
        obj = parse_object(data)
        if obj is None:
            raise self._malformed()
        self._events += 1
        if obj.get("error") is not None:
            err = classify(self._provider, _status_of(obj), obj, httpx.Headers(), in_stream=True)
            err.request_id = self._request_id
            raise err
        model = obj.get("modelVersion")
        if isinstance(model, str):
            self._model = model
        feedback = obj.get("promptFeedback")
        if isinstance(feedback, dict) and isinstance(feedback.get("blockReason"), str):
            self._finish = f"blocked:{feedback['blockReason'].lower()}"
        candidates = obj.get("candidates")
        for candidate in candidates if isinstance(candidates, list) else ():
            if not isinstance(candidate, dict):
                continue
            content = candidate.get("content")
            parts = content.get("parts") if isinstance(content, dict) else None
            for part in parts if isinstance(parts, list) else ():
                if isinstance(part, dict) and not part.get("thought"):
                    text = part.get("text")
                    if isinstance(text, str) and text:
                        items.append(TextDelta(text))
            if isinstance(candidate.get("finishReason"), str):
                self._finish = candidate["finishReason"].lower()
        usage = obj.get("usageMetadata")
        if usage is not None:
            self._usage_raw = usage  # every chunk carries running totals; parse the last once

    def _malformed(self) -> MalformedResponse:
        return MalformedResponse(
            f"{self._provider}: the answer could not be read",
            provider=self._provider,
            request_id=self._request_id,
        )


def _status_of(obj: Mapping[str, object]) -> int:
    err = obj.get("error")
    code = err.get("code") if isinstance(err, Mapping) else None
    return code if isinstance(code, int) and 400 <= code < 600 else 500


def model_path(provider: str, model: str) -> str:
    """``/v1beta/models/{model}`` with the model id escaped (no path tricks)."""
    name = model.removeprefix("models/")
    if not name or name in (".", ".."):
        raise BadRequest(f"{provider}: no model given", provider=provider)
    return "/v1beta/models/" + quote(name, safe="-._~")


class GeminiClient(WireClient):
    """The Gemini API (Google AI Studio keys)."""

    def _headers(self, key: KeySpec, accept: str) -> dict[str, str]:
        headers = {"accept": accept}
        # The key goes in a header, never in ?key= where it would land in access logs.
        headers.update(secret_header("x-goog-api-key", key.secret, provider=self.provider))
        return headers

    def _classify(self, status: int, body: bytes, headers: httpx.Headers) -> ProviderError:
        return classify(self.provider, status, load_json(body), headers)

    def chat_call(self, key: KeySpec, request: ChatRequest) -> WireCall:
        """POST ``{base}/v1beta/models/{model}:streamGenerateContent?alt=sse``."""
        contents = [
            {"role": "model" if m.role == "assistant" else "user", "parts": gemini_parts(m)}
            for m in request.messages
        ]
        config: dict[str, object] = {"maxOutputTokens": request.max_tokens}
        if request.temperature is not None:
            config["temperature"] = request.temperature
        body: dict[str, object] = {"contents": contents, "generationConfig": config}
        if request.system:
            body["systemInstruction"] = {"parts": [{"text": request.system}]}
        headers = self._headers(key, "text/event-stream")
        headers["content-type"] = "application/json"
        provider = self.provider
        path = model_path(provider, request.model) + ":streamGenerateContent"
        return WireCall(
            provider=provider,
            model=request.model,
            method="POST",
            url=endpoint(key, DEFAULT_BASE_URL, path, query={"alt": "sse"}),
            headers=headers,
            body=json_body(body),
            parser=lambda h: GeminiStream(provider, h),
            classify=self._classify,
        )

    models_path = "/v1beta/models"
    models_query = (("pageSize", "1000"),)

    def default_base_url(self) -> str | None:
        """The base URL a key without ``--base-url`` uses (None: it must have one)."""
        return DEFAULT_BASE_URL
