"""Web API clients: the configured base URL, retry handlers, and loggers that never dump bodies.

slack_sdk logs full request and response bodies at DEBUG (message text, thread
history) and slack-bolt logs raw request bodies on signature failures, errors and
unhandled requests. Every client and app the adapter creates gets one of the loggers
below, pinned above those levels, so no log level setting can make them leak content.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings

# A Retry-After longer than this is not waited out: the call fails and is reported.
MAX_RETRY_AFTER_SECONDS = 30
API_TIMEOUT_SECONDS = 30


def quiet_logger(name: str, *, level: int = logging.INFO) -> logging.Logger:
    """A logger under `adapters.slack.` pinned to `level` (INFO hides slack_sdk's body dumps)."""
    log = logging.getLogger(f"adapters.slack.{name}")
    log.setLevel(level)
    return log


def sdk_logger() -> logging.Logger:
    """The logger for slack_sdk clients (its DEBUG lines hold request/response bodies)."""
    return quiet_logger("webapi", level=logging.INFO)


def bolt_logger() -> logging.Logger:
    """The logger for slack-bolt; ERROR and up only (lower levels may print raw payloads)."""
    return quiet_logger("bolt", level=logging.CRITICAL)


class BoundedRateLimitRetryHandler(AsyncRateLimitErrorRetryHandler):
    """Retries HTTP 429 after Retry-After, unless Slack asks for an unreasonably long wait."""

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        for name, values in response.headers.items():
            if name.lower() == "retry-after" and values:
                try:
                    return int(values[0]) <= MAX_RETRY_AFTER_SECONDS
                except ValueError:
                    return True
        return True


def retry_handlers() -> list[AsyncRetryHandler]:
    """429 (Retry-After honoured), 5xx, and connection errors, each a few times."""
    return [
        BoundedRateLimitRetryHandler(max_retry_count=3),
        AsyncServerErrorRetryHandler(max_retry_count=2),
        AsyncConnectionErrorRetryHandler(max_retry_count=2),
    ]


def make_client(
    settings: Settings,
    *,
    token: str | None = None,
    session: aiohttp.ClientSession | None = None,
    **extra: Any,
) -> AsyncWebClient:
    """An AsyncWebClient on `settings.slack_api_url` with our retry handlers and quiet logger."""
    return AsyncWebClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=API_TIMEOUT_SECONDS,
        session=session,
        logger=sdk_logger(),
        retry_handlers=retry_handlers(),
        **extra,
    )
