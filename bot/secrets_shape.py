"""What secrets look like: provider keys, chat-platform tokens, auth headers.

Shared by the logging redaction filter (mask anything secret-shaped before a line is
written) and by the core's guard against messages that carry a provider key.
Patterns err on the side of masking: a false positive costs a few masked characters,
a false negative leaks a credential.
"""

from __future__ import annotations

import re

MASK = "[REDACTED]"

# Provider API keys. `sk-` covers OpenAI (sk-proj-…), Anthropic (sk-ant-…), DeepSeek and
# OpenRouter (sk-or-…); the body length keeps words like "sk-learn" out.
PROVIDER_KEY = re.compile(
    r"(?<![A-Za-z0-9])(?:"
    r"sk-[A-Za-z0-9_\-]{20,}"
    r"|AIza[0-9A-Za-z_\-]{30,}"
    r"|gsk_[A-Za-z0-9]{20,}"
    r"|xai-[A-Za-z0-9]{20,}"
    r"|tgp_v1_[A-Za-z0-9_\-]{20,}"
    r")"
)

# Slack bot/user/app/refresh tokens and app-level tokens.
SLACK_TOKEN = re.compile(r"(?<![A-Za-z0-9])(?:xox[abprse]|xapp)-[A-Za-z0-9\-]{8,}")

# Discord bot tokens: base64 user id, timestamp, HMAC, separated by dots.
DISCORD_TOKEN = re.compile(
    r"(?<![A-Za-z0-9_\-.])[A-Za-z0-9_\-]{23,30}\.[A-Za-z0-9_\-]{6,7}\.[A-Za-z0-9_\-]{27,45}"
)

# Header values (`Authorization: Bearer x`, `'x-api-key': 'x'`, `api-key=x`, and the
# `(b'x-api-key', b'x')` tuples of raw header lists), whatever quoting a repr uses.
HEADER_VALUE = re.compile(
    r"""(?P<name>\b(?:proxy-)?authorization|\bx-api-key|\bapi-key|\bx-goog-api-key)"""
    r"""(?P<sep>['"]?\s*(?:[:=]|,(?=\s*b?['"]))\s*(?:b?['"])?)"""
    r"""(?P<value>(?:(?:Bearer|Basic|Bot|Token)\s+)?[^\s'",;}\])]+)""",
    re.IGNORECASE,
)

BEARER = re.compile(r"\b(?P<scheme>Bearer|Bot)\s+(?P<value>[A-Za-z0-9._~+/=\-]{8,})")

# Credentials in URL query strings (Gemini's `?key=`, tokens in callback URLs).
QUERY_SECRET = re.compile(
    r"(?P<name>[?&](?:key|api_key|api-key|apikey|token|access_token|client_secret)=)"
    r"(?P<value>[^&\s'\"#]+)",
    re.IGNORECASE,
)


def looks_like_provider_key(text: str) -> bool:
    """True when `text` contains something shaped like an AI provider API key."""
    return PROVIDER_KEY.search(text) is not None


def redact(text: str) -> str:
    """`text` with every secret-shaped substring replaced by a fixed mask."""
    if not text:
        return text
    text = HEADER_VALUE.sub(lambda m: f"{m['name']}{m['sep']}{MASK}", text)
    text = BEARER.sub(lambda m: f"{m['scheme']} {MASK}", text)
    text = QUERY_SECRET.sub(lambda m: f"{m['name']}{MASK}", text)
    text = PROVIDER_KEY.sub(MASK, text)
    text = SLACK_TOKEN.sub(MASK, text)
    return DISCORD_TOKEN.sub(MASK, text)


def looks_secret(text: str) -> bool:
    """True when `text` holds anything the redactor would mask."""
    return redact(text) != text


def redact_known(text: str, known: tuple[str, ...] = ()) -> str:
    """`redact(text)`, with every occurrence of the `known` secrets (8+ chars) masked too.

    For strings a provider sent back: a key of no recognisable shape (Mistral's, Azure's)
    is still masked when it is the very key the request carried.
    """
    for secret in known:
        if len(secret) >= 8 and secret in text:
            text = text.replace(secret, MASK)
    return redact(text)
