"""One provider call over HTTP: a total deadline, retries with backoff, typed errors."""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, cast

import httpx

from bot.errors import (
    BadRequest,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    UnsafeBaseURL,
)
from bot.providers.failures import scrub_completion, scrub_error
from bot.providers.parts import JsonBody
from bot.providers.pool import provider_transport
from bot.providers.types import Completion, StreamItem, TextDelta
from bot.providers.urls import ConnectGuard, Resolver

logger = logging.getLogger(__name__)
T = TypeVar("T")

_MAX_ERROR_BODY = 64 * 1024
_USER_AGENT = "byokbot"


class StreamParser(Protocol):
    """Turns response bytes into stream items; raises ProviderError on in-stream errors."""

    def feed(self, chunk: bytes) -> list[StreamItem]:
        """Consume a chunk of the body."""
        ...

    def finish(self) -> list[StreamItem]:
        """End of body: return the final items (a ``Completion``) or raise."""
        ...


Classifier = Callable[[int, bytes, httpx.Headers], ProviderError]


@dataclass(frozen=True, slots=True)
class WireCall:
    """Everything one family client decides about a request; the caller does the rest."""

    provider: str
    model: str | None
    method: str
    url: httpx.URL
    headers: Mapping[str, str] = field(repr=False)
    parser: Callable[[httpx.Headers], StreamParser]
    classify: Classifier
    body: bytes | JsonBody | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Deadline and retry knobs shared by every call."""

    timeout: float = 120.0
    max_retry_wait: float = 30.0
    max_attempts: int = 4
    backoff_base: float = 0.5
    backoff_cap: float = 8.0

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter for the wait after failed ``attempt`` (1-based)."""
        ceiling = min(self.backoff_cap, self.backoff_base * 2.0 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0.0, ceiling / 2)  # jitter, not crypto


class _NoCookies(httpx.Cookies):
    """A cookie store that stays empty: nothing is read from answers or sent with requests."""

    def extract_cookies(self, response: httpx.Response) -> None:
        """Drop the answer's cookies unread (httpx would parse them on every response)."""

    def set_cookie_header(self, request: httpx.Request) -> None:
        """Never add a ``Cookie`` header."""


class _CookielessClient(httpx.AsyncClient):
    """An httpx client whose cookie store is always the empty ``_NoCookies``."""

    _NONE = _NoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        """Always empty."""
        return self._NONE

    @cookies.setter
    def cookies(self, cookies: object) -> None:
        raise TypeError("provider calls never carry cookies")


def new_http_client(
    *, allow_private: bool = False, resolve: Resolver | None = None
) -> httpx.AsyncClient:
    """An httpx client that never follows redirects, never keeps cookies, ignores env/netrc,
    and connects only to addresses it has checked (``ConnectGuard``; ``resolve`` for tests)."""
    # A shared jar would carry one workspace's provider cookies into another's calls. A jar
    # that refuses every cookie still costs a parse per response; this store skips the work.
    return _CookielessClient(
        follow_redirects=False,
        trust_env=False,
        headers={"user-agent": _USER_AGENT},
        transport=provider_transport(
            httpx.Limits(max_connections=200, max_keepalive_connections=50),
            guard=ConnectGuard(allow_private=allow_private, resolve=resolve),
        ),
    )


class ReadDeadline:
    """One timer per attempt: cancels the task at the deadline only while it awaits the provider.

    A per-read ``asyncio.timeout`` would cost a timer per chunk, and a timeout spanning a
    ``yield`` would cancel the consumer's own code; this does neither.
    """

    __slots__ = ("_fired", "_handle", "_task", "expired")

    def __init__(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        self._task: asyncio.Task[Any] | None = None
        self._fired = False
        self.expired = loop.time() >= deadline
        self._handle = loop.call_at(deadline, self._expire)

    def _expire(self) -> None:
        self.expired = True
        if self._task is not None:
            self._fired = True
            self._task.cancel()

    async def wait(self, awaitable: Awaitable[T]) -> T:
        """Await ``awaitable``; raise TimeoutError if the deadline passes first."""
        if self.expired:
            if inspect.iscoroutine(awaitable):
                awaitable.close()
            raise TimeoutError
        self._task = asyncio.current_task()
        try:
            return await awaitable
        except asyncio.CancelledError:
            # Ours only if we fired and nobody else also cancelled the task.
            if self._fired and self._task is not None and self._task.uncancel() == 0:
                raise TimeoutError from None
            raise
        finally:
            self._task = None

    def arm(self) -> None:
        """Inline form of ``wait`` for the per-chunk loop (no coroutine per chunk): call
        before the await, ``disarm`` after it, ``timed_out`` on ``CancelledError``."""
        if self.expired:
            raise TimeoutError
        self._task = asyncio.current_task()

    def timed_out(self) -> bool:
        """On ``CancelledError`` while armed: True if the cancel was ours alone."""
        return self._fired and self._task is not None and self._task.uncancel() == 0

    def disarm(self) -> None:
        """The await is over: a late deadline must not cancel the consumer's code."""
        self._task = None

    def close(self) -> None:
        """Drop the timer."""
        self._handle.cancel()


class Caller:
    """Runs ``WireCall``s with the retry policy on one shared httpx client."""

    def __init__(self, http: Callable[[], httpx.AsyncClient], policy: RetryPolicy) -> None:
        self._http = http
        self.policy = policy

    async def stream(
        self, make_call: Callable[[], Awaitable[WireCall]]
    ) -> AsyncGenerator[StreamItem, None]:
        """Yield the call's items; retry failures that happen before any text was yielded."""
        # One generator layer for prepare + retries + parsing: each layer costs per item.
        call = await make_call()
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + self.policy.timeout
        attempt = 0
        while True:
            attempt += 1
            emitted = False
            failure: ProviderError | None = None
            timer = ReadDeadline(loop, deadline)
            response: httpx.Response | None = None
            chunks: AsyncGenerator[bytes, None] | None = None
            try:
                response = await self._open(call, timer, deadline)
                parser = call.parser(response.headers)
                chunks = cast(AsyncGenerator[bytes, None], response.aiter_bytes())
                next_chunk = chunks.__anext__
                while True:
                    broken: ProviderError | None = None
                    try:
                        timer.arm()
                        try:
                            chunk = await next_chunk()
                        except asyncio.CancelledError:
                            if not timer.timed_out():
                                raise
                            raise TimeoutError from None
                        finally:
                            timer.disarm()
                    except StopAsyncIteration:
                        break
                    except (TimeoutError, httpx.HTTPError) as exc:
                        broken = _transport_failure(call.provider, exc, response.status_code)
                    if broken is not None:  # raised outside the except: no httpx __context__
                        raise broken
                    for item in parser.feed(chunk):
                        if not emitted and isinstance(item, TextDelta):
                            emitted = True
                        yield item
                for item in parser.finish():
                    if isinstance(item, Completion):
                        item = scrub_completion(item, _secrets_of(call.headers))
                    yield item
            except ProviderError as exc:
                failure = scrub_error(exc, _secrets_of(call.headers))
            finally:
                timer.close()
                if chunks is not None:
                    await chunks.aclose()
                if response is not None:
                    await response.aclose()
            if failure is None:
                logger.debug(
                    "provider call ok provider=%s model=%s attempt=%d latency_ms=%.1f",
                    call.provider,
                    call.model,
                    attempt,
                    (loop.time() - started) * 1000,
                )
                return
            wait = None if emitted else self._retry_wait(failure, attempt, deadline - loop.time())
            if wait is None:
                logger.warning(
                    "provider call failed provider=%s model=%s kind=%s status=%s "
                    "attempt=%d latency_ms=%.0f",
                    call.provider,
                    call.model,
                    failure.kind,
                    failure.status,
                    attempt,
                    (loop.time() - started) * 1000,
                )
                raise failure
            logger.info(
                "provider call retry provider=%s model=%s kind=%s status=%s attempt=%d wait_s=%.2f",
                call.provider,
                call.model,
                failure.kind,
                failure.status,
                attempt,
                wait,
            )
            await asyncio.sleep(wait)

    def _retry_wait(self, exc: ProviderError, attempt: int, remaining: float) -> float | None:
        """Seconds to wait before the next attempt, or None to give up now."""
        if not exc.retryable or attempt >= self.policy.max_attempts or remaining <= 0:
            return None
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            # Fail fast rather than sleep past what the caller can wait for.
            wait = exc.retry_after
            if wait > self.policy.max_retry_wait or wait >= remaining:
                return None
            return wait
        wait = self.policy.backoff(attempt)
        return wait if wait < remaining else None

    async def _open(self, call: WireCall, timer: ReadDeadline, deadline: float) -> httpx.Response:
        """Send the request; return a 2xx streaming response or raise a typed error."""
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise ProviderTimeout(f"{call.provider}: no answer in time", provider=call.provider)
        http = self._http()
        headers = call.headers
        if isinstance(call.body, JsonBody):  # streamed in slices, with its exact length
            headers = {**call.headers, "content-length": str(len(call.body))}
        request = http.build_request(
            call.method,
            call.url,
            headers=headers,
            content=call.body,
            # The call's deadline is `timer` (it cancels the wait for the provider): a
            # timeout per read or write would cost a timer each, so only connecting has one.
            timeout=httpx.Timeout(None, connect=remaining),
        )
        failure: ProviderError | None = None
        try:
            response = await timer.wait(http.send(request, stream=True, follow_redirects=False))
        except (TimeoutError, httpx.HTTPError) as exc:
            failure = _transport_failure(call.provider, exc, None)
        except UnsafeBaseURL as exc:
            # The connection's own address check refused (pool.py); name the provider.
            failure = UnsafeBaseURL(str(exc), provider=call.provider)
        # Raised outside the except block so no httpx exception (which holds the request and
        # its key header) hangs off our error as __context__.
        if failure is not None:
            raise failure
        status = response.status_code
        if 200 <= status < 300:
            return response
        try:
            if 300 <= status < 400:
                # Never follow: the key must not travel to wherever this points.
                raise BadRequest(
                    f"{call.provider}: the base URL answered with a redirect (HTTP {status})",
                    provider=call.provider,
                    status=status,
                )
            body = await _read_limited(response, deadline)
            raise call.classify(status, body, response.headers)
        finally:
            await response.aclose()


_SECRET_HEADERS = ("authorization", "x-api-key", "api-key", "x-goog-api-key")


def _secrets_of(headers: Mapping[str, str]) -> tuple[str, ...]:
    """The key(s) a request carries, to mask them in whatever its provider sends back."""
    found: list[str] = []
    for name in _SECRET_HEADERS:
        value = headers.get(name)
        if value:
            found.append(value.split(" ", 1)[-1] if name == "authorization" else value)
    return tuple(found)


def _transport_failure(provider: str, exc: BaseException, status: int | None) -> ProviderError:
    """A timeout or transport error as a typed error that names only the error's class."""
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        what = "no answer in time" if status is None else "the answer did not finish in time"
        return ProviderTimeout(f"{provider}: {what}", provider=provider, status=status)
    what = "could not connect" if status is None else "the stream was interrupted"
    return ProviderUnavailable(
        f"{provider}: {what} ({type(exc).__name__})", provider=provider, status=status
    )


async def _read_limited(response: httpx.Response, deadline: float) -> bytes:
    """Read at most 64 KiB of an error body before the deadline; errors become empty bodies."""
    data = bytearray()
    try:
        async with asyncio.timeout_at(deadline):
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) >= _MAX_ERROR_BODY:
                    break
    except (TimeoutError, httpx.HTTPError):
        pass
    return bytes(data[:_MAX_ERROR_BODY])
