"""Turn a provider's error answer into one of our typed errors, without echoing its text.

Whatever a provider sends back may hold the very key the request carried (a hostile or
buggy server echoes it): codes and request ids pass only when short, token-like and not
secret-shaped, and ``scrub_error`` / ``scrub_completion`` mask the request's own key in
anything that still could carry it, before it is shown, logged or stored.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

import httpx

from bot.errors import (
    BadRequest,
    KeyRejected,
    ModelNotFound,
    ProviderError,
    ProviderUnavailable,
    QuotaExhausted,
    RateLimited,
    RequestTooLarge,
)
from bot.providers.types import Completion
from bot.secrets_shape import looks_secret, redact_known

_SAFE_TOKEN = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_QUOTA_CODES = frozenset(
    {"insufficient_quota", "billing_error", "billing_hard_limit_reached", "credit_limit_exceeded"}
)
_QUOTA_WORDS = ("credit balance", "insufficient_quota", "billing", "exceeded your current quota")
_TOO_LARGE_CODES = frozenset(
    {"context_length_exceeded", "request_too_large", "string_above_max_length"}
)
_TOO_LARGE_WORDS = (
    "prompt is too long",
    "context length",
    "context_length",
    "maximum context",
    "too many tokens",
    "exceeds the maximum number of tokens",
    "input token count",
    "request too large",
)
_MODEL_CODES = frozenset({"model_not_found", "not_found_error"})


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """What we may read from an error body: a machine code and lowercase text for matching only."""

    code: str | None = None
    text: str = ""


def safe_token(value: object) -> str | None:
    """A provider's error code/type/request id only if it is a short identifier (never free
    text) that does not look like a secret (a key echoed back is dropped, not shown)."""
    if isinstance(value, str) and _SAFE_TOKEN.fullmatch(value) and not looks_secret(value):
        return value
    return None


def _clean_id(value: str | None, secrets: tuple[str, ...]) -> str | None:
    """An id the provider sent, or None when it holds (part of) a secret."""
    if value is None or redact_known(value, secrets) != value:
        return None
    return value


def scrub_error(exc: ProviderError, secrets: tuple[str, ...]) -> ProviderError:
    """`exc` with the request's own keys (and anything secret-shaped) out of its text and id."""
    message = str(exc)
    clean = redact_known(message, secrets)
    if clean != message:
        exc.args = (clean,)
    exc.request_id = _clean_id(exc.request_id, secrets)
    return exc


def scrub_completion(done: Completion, secrets: tuple[str, ...]) -> Completion:
    """The provider-supplied strings of a stream's last item, with secrets taken out."""
    rid = _clean_id(done.request_id, secrets)
    model = None if done.model is None else redact_known(done.model, secrets)
    finish = None if done.finish_reason is None else redact_known(done.finish_reason, secrets)
    if (rid, model, finish) == (done.request_id, done.model, done.finish_reason):
        return done
    return replace(done, request_id=rid, model=model, finish_reason=finish)


def load_json(body: bytes) -> object:
    """Parse JSON leniently; None when it is not JSON."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def request_id(headers: httpx.Headers) -> str | None:
    """The provider's request id, for support tickets (never secret)."""
    for name in ("x-request-id", "request-id", "x-goog-request-id", "apim-request-id"):
        value = safe_token(headers.get(name))
        if value:
            return value
    return None


def retry_after(headers: httpx.Headers, *, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            value = float(ms) / 1000.0
            if value >= 0 and value == value:  # rejects NaN
                return value
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        value = float(raw)
        return value if value >= 0 and value == value else None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - (now or dt.datetime.now(dt.UTC))).total_seconds())


def status_error(
    provider: str,
    status: int,
    *,
    info: ErrorInfo,
    headers: httpx.Headers,
    wait: float | None = None,
    in_stream: bool = False,
) -> ProviderError:
    """Map an HTTP status plus the body's code/text to a typed error with a one-line message."""
    rid = request_id(headers)
    code, text = info.code, info.text
    # An error event inside a 200 stream has no status of its own; we map it by its code.
    label = f"{code or 'error'} event mid-stream" if in_stream else f"HTTP {status}"
    real_status = None if in_stream else status

    def make(cls: type[ProviderError], message: str) -> ProviderError:
        return cls(f"{provider}: {message}", provider=provider, status=real_status, request_id=rid)

    quota_words = status in (400, 403, 429) and any(w in text for w in _QUOTA_WORDS)
    if status == 402 or code in _QUOTA_CODES or quota_words:
        return make(QuotaExhausted, "the account is out of quota or credit")
    if status in (401, 403):
        return make(KeyRejected, f"the key was rejected ({label})")
    if status == 429:
        when = wait if wait is not None else retry_after(headers)
        hint = f"; retry after {when:.0f}s" if when is not None else ""
        return RateLimited(
            f"{provider}: rate limited ({label}){hint}",
            provider=provider,
            status=real_status,
            request_id=rid,
            retry_after=when,
        )
    if status == 413 or code in _TOO_LARGE_CODES or any(w in text for w in _TOO_LARGE_WORDS):
        return make(RequestTooLarge, "the conversation is too long for this model")
    model_words = "model" in text and ("not found" in text or "does not exist" in text)
    if status == 404 or code in _MODEL_CODES or (400 <= status < 500 and model_words):
        return make(ModelNotFound, f"the model was not found ({label})")
    if status in (408, 409) or status >= 500:
        return make(ProviderUnavailable, f"the service is unavailable ({label})")
    suffix = f", {code}" if code and not in_stream else ""
    return make(BadRequest, f"the request was refused ({label}{suffix})")


def openai_style_info(body: bytes) -> ErrorInfo:
    """Read ``{"error": {"code"|"type", "message"}}`` (OpenAI and most compatibles)."""
    return error_info(load_json(body))


def error_info(data: object) -> ErrorInfo:
    """Read an already-parsed ``{"error": {...}}`` object (OpenAI and Anthropic shapes)."""
    if not isinstance(data, Mapping):
        return ErrorInfo()
    err = data.get("error", data)
    if isinstance(err, str):
        return ErrorInfo(text=err.lower())
    if not isinstance(err, Mapping):
        return ErrorInfo()
    code = safe_token(err.get("code")) or safe_token(err.get("type"))
    message = err.get("message")
    return ErrorInfo(code=code, text=message.lower() if isinstance(message, str) else "")


def stream_error(provider: str, info: ErrorInfo) -> ProviderError:
    """An error reported inside a 200 stream, mapped by its code as if it had that status."""
    code = info.code or ""
    guessed = {
        "overloaded_error": 529,
        "api_error": 500,
        "server_error": 500,
        "rate_limit_error": 429,
        "rate_limit_exceeded": 429,
        "authentication_error": 401,
        "permission_error": 403,
        "not_found_error": 404,
        "request_too_large": 413,
        "invalid_request_error": 400,
        "timeout_error": 504,
    }.get(code, 500)
    return status_error(provider, guessed, info=info, headers=httpx.Headers(), in_stream=True)
