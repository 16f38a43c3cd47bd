"""Slack's v0 request signature check, run before slack-bolt ever sees a request body."""

from __future__ import annotations

import hashlib
import hmac

# Slack's documented replay window: a request older (or newer) than five minutes is refused.
MAX_AGE_SECONDS = 300


def signature_problem(
    *, secret: str, body: bytes, timestamp: str | None, signature: str | None, now: float
) -> str | None:
    """None when the request is authentic and fresh; otherwise why not (no secrets, no body)."""
    if not timestamp or not signature:
        return "missing signature"
    try:
        sent_at = int(timestamp)
    except ValueError:
        return "malformed timestamp"
    if abs(now - sent_at) > MAX_AGE_SECONDS:
        return "stale timestamp"
    base = b"v0:" + timestamp.encode("ascii", "replace") + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        return "signature mismatch"
    return None
