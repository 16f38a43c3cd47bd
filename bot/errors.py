"""Every error byokbot raises on purpose, in one tree.

Errors carry context as attributes (workspace, key name, provider, status, ...)
and never a secret, a URL query string, a prompt or model output.

    ByokError
    ├── ConfigError                  bad or missing setting (one-line message)
    ├── VaultError
    │   ├── MasterKeyError           missing/short/invalid/wrong master key
    │   └── DecryptionError          ciphertext tampered or bound to another row
    ├── StorageError
    │   └── DatabaseUnavailable      the database cannot be reached right now
    ├── CommandError                 anything a /byok command answers with one line
    │   ├── ParseError               malformed command text (carries the usage)
    │   ├── NotFound                 no such key / agent / limit in this workspace
    │   ├── Conflict                 name already taken, key in use, ...
    │   └── InvalidValue             a value that parses but is not acceptable
    ├── TurnError                    why a message could not be answered
    │   ├── KeyUnavailable           the agent's key is revoked, failing or missing
    │   ├── BudgetExceeded           a budget refused the reservation
    │   └── FileRefused              an attached file cannot be sent (size, type, model)
    │       └── FileTooLarge         a download passed its byte limit
    └── ProviderError                a call to an AI provider failed
        ├── UnsafeBaseURL            base URL not allowed (private/http/credentials)
        ├── KeyRejected              401/403 or Gemini's API_KEY_INVALID
        ├── RateLimited              429 (retry_after seconds when known)
        ├── QuotaExhausted           quota / spend limit at the provider (not retried)
        ├── ModelNotFound            the provider does not know the model
        ├── RequestTooLarge          context too long / payload too large
        ├── ProviderUnavailable      5xx, 529, connection refused/reset
        ├── ProviderTimeout          the per-call deadline fired
        ├── MalformedResponse        the provider answered something we cannot parse
        └── BadRequest               any other 4xx (never retried)
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal


class ByokError(Exception):
    """Root of byokbot's errors; ``str()`` is a one-line, user-safe message."""


class ConfigError(ByokError):
    """A setting is missing, malformed or inconsistent."""

    def __init__(self, message: str, *, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting


class VaultError(ByokError):
    """The encrypted key store cannot do what was asked."""


class MasterKeyError(VaultError):
    """The master key is missing, malformed, or not the one the database was sealed with."""


class DecryptionError(VaultError):
    """A ciphertext failed authentication (tampered, or bound to another workspace/key)."""

    def __init__(self, message: str, *, workspace_id: str, key_id: str) -> None:
        super().__init__(message)
        self.workspace_id = workspace_id
        self.key_id = key_id


class StorageError(ByokError):
    """The database refused an operation."""


class DatabaseUnavailable(StorageError):
    """The database cannot be reached; callers answer with `UNAVAILABLE_LINE`."""


# The one line every adapter shows while the database is unreachable (guarantee 7).
UNAVAILABLE_LINE = "byokbot is temporarily unavailable (database unreachable); try again shortly."


class CommandError(ByokError):
    """A /byok command failed in a way the user is told about in one line."""


class ParseError(CommandError):
    """Command text did not match the grammar; ``syntax`` is the nearest command's syntax line."""

    def __init__(self, message: str, *, syntax: str = "") -> None:
        super().__init__(message)
        self.syntax = syntax


class NotFound(CommandError):
    """The named key, agent, limit or channel does not exist in this workspace."""

    def __init__(self, message: str, *, kind: str, name: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.name = name


class Conflict(CommandError):
    """The change clashes with existing state (duplicate name, key still in use, ...)."""


class InvalidValue(CommandError):
    """A value parsed but is not acceptable (unknown provider, bad timezone, ...)."""


class TurnError(ByokError):
    """A message could not be answered; ``str()`` is the line shown to the user."""


class KeyUnavailable(TurnError):
    """The agent's key is revoked, failing or missing."""

    def __init__(self, message: str, *, key_name: str | None, status: str) -> None:
        super().__init__(message)
        self.key_name = key_name
        self.status = status


class BudgetExceeded(TurnError):
    """A budget has no room for the call's worst-case cost.

    The facts of the refusal ride along (never the message): which budget (`budget_id`,
    `scope` workspace|agent|user|each-user, `member` for a member's budget), `worst_case`
    and what was `left` (USD), the `prompt_tokens` and `max_output_tokens` the worst case
    was priced from, and when the period `resets_at`.
    """

    def __init__(
        self,
        message: str,
        *,
        budget: str,
        period: str,
        resets_at: dt.datetime,
        budget_id: int = 0,
        scope: str = "",
        member: str = "",
        worst_case: Decimal | None = None,
        left: Decimal = Decimal(0),
        limit: Decimal = Decimal(0),
        prompt_tokens: int = 0,
        max_output_tokens: int = 0,
        model: str = "",
    ) -> None:
        super().__init__(message)
        self.budget = budget
        self.period = period
        self.resets_at = resets_at
        self.budget_id = budget_id
        self.scope = scope
        self.member = member
        self.worst_case = worst_case
        self.left = left
        self.limit = limit
        self.prompt_tokens = prompt_tokens
        self.max_output_tokens = max_output_tokens
        self.model = model


class FileRefused(TurnError):
    """An attached file cannot be sent; ``str()`` is the one line shown (never its name)."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason  # too_many | too_large | unsupported_type | no_image_input | ...


class FileTooLarge(FileRefused):
    """A download passed its byte limit (declared or while streaming)."""

    def __init__(self, message: str, *, limit: int) -> None:
        super().__init__(message, reason="too_large")
        self.limit = limit


class ProviderError(ByokError):
    """A provider call failed; ``kind`` names the failure for usage rows and the digest."""

    kind = "error"
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.status = status
        self.request_id = request_id


class UnsafeBaseURL(ProviderError):
    """The base URL points somewhere a key must not go."""

    kind = "unsafe_base_url"


class KeyRejected(ProviderError):
    """The provider rejected the key (401/403, Gemini API_KEY_INVALID)."""

    kind = "key_rejected"


class RateLimited(ProviderError):
    """The provider rate-limited the call (429)."""

    kind = "rate_limited"
    retryable = True

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status: int | None = 429,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, provider=provider, status=status, request_id=request_id)
        self.retry_after = retry_after


class QuotaExhausted(ProviderError):
    """The account's quota or spend limit at the provider is used up (not retried)."""

    kind = "quota_exhausted"


class ModelNotFound(ProviderError):
    """The provider does not know the model."""

    kind = "model_not_found"


class RequestTooLarge(ProviderError):
    """The request is over the model's context or the provider's size limit."""

    kind = "request_too_large"


class ProviderUnavailable(ProviderError):
    """The provider is down or overloaded (5xx, 529, connection errors)."""

    kind = "unavailable"
    retryable = True


class ProviderTimeout(ProviderError):
    """The call did not finish within its deadline."""

    kind = "timeout"
    retryable = True


class MalformedResponse(ProviderError):
    """The provider's answer could not be parsed."""

    kind = "malformed_response"


class BadRequest(ProviderError):
    """Any other 4xx from the provider."""

    kind = "bad_request"
