"""Small helpers the wire clients share: URLs, the secret header, counts, plain JSON bodies."""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing

import httpx
from pydantic_core import from_json

from bot.errors import BadRequest, KeyRejected, MalformedResponse, ModelNotFound, ProviderError
from bot.providers.failures import load_json
from bot.providers.http import Caller, WireCall
from bot.providers.types import MAX_REPORTED_TOKENS, ChatRequest, KeySpec, StreamItem

# Printable ASCII without spaces: anything else cannot be a header value (and h11 would echo it).
_HEADER_SAFE = frozenset(chr(c) for c in range(0x21, 0x7F))
NO_KEY = frozenset({"", "-"})


def secret_header(name: str, secret: str, *, provider: str = "") -> dict[str, str]:
    """The one header that carries the key; empty for keyless local servers (ollama ``-``)."""
    if secret in NO_KEY:
        return {}
    if not _HEADER_SAFE.issuperset(secret):
        raise KeyRejected("the key contains characters no provider accepts", provider=provider)
    if name == "authorization":
        return {"authorization": f"Bearer {secret}"}
    return {name: secret}


def base_of(key: KeySpec, default: str | None) -> httpx.URL:
    """The checked base URL for this key (``Providers`` normalised it before calling)."""
    base = key.base_url or default
    if not base:
        raise BadRequest("no base URL for this key", provider=key.provider)
    return httpx.URL(base)


def join_url(base: httpx.URL, path: str, *, query: dict[str, str] | None = None) -> httpx.URL:
    """Append ``path`` to the base URL's path; the host never changes."""
    raw = base.raw_path.split(b"?", 1)[0].rstrip(b"/") + path.encode("ascii")
    url = base.copy_with(raw_path=raw)
    return url.copy_merge_params(query) if query else url


def endpoint(
    key: KeySpec, default: str | None, path: str, *, query: dict[str, str] | None = None
) -> httpx.URL:
    """``join_url(base_of(key, default), path, query=query)``, parsed once per base URL."""
    base = key.base_url or default
    if not base:
        raise BadRequest("no base URL for this key", provider=key.provider)
    return _endpoint(base, path, tuple(query.items()) if query else ())


@functools.lru_cache(maxsize=1024)
def _endpoint(base: str, path: str, query: tuple[tuple[str, str], ...]) -> httpx.URL:
    # URL parsing is a sizeable share of a call's own CPU time, and a deployment has few
    # base URLs; httpx.URL is immutable, so one instance can serve every call.
    return join_url(httpx.URL(base), path, query=dict(query) if query else None)


def parse_object(data: str) -> dict[str, object] | None:
    """One event's JSON object, or None if it is not one (the caller raises, context-free)."""
    try:
        # pydantic-core's parser is about twice as fast as json.loads on small events.
        obj = from_json(data)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def as_count(value: object) -> int | None:
    """A token count if ``value`` is a non-negative int (bools and floats are not counts)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


class CountReader:
    """Reads the token figures of a provider's usage report, noting any that is no count.

    Absent figures (missing or null) are None; a figure that is there but negative, not
    an integer (a float, a string, a bool) or above 10^9 sets ``implausible``: the whole
    report is then untrusted (`Usage.implausible`) and the call charged its reservation.
    """

    __slots__ = ("implausible",)

    def __init__(self) -> None:
        self.implausible = False

    def __call__(self, value: object) -> int | None:
        """The figure as a count, or None when absent or not plausible."""
        if value is None:
            return None
        count = as_count(value)
        if count is None or count > MAX_REPORTED_TOKENS:
            self.implausible = True
            return None
        return count


def not_found_base(exc: ProviderError) -> BadRequest:
    """A 404 on a model listing means the base URL is wrong, not the model."""
    return BadRequest(
        f"{exc.provider}: nothing found at the base URL (HTTP 404); check --base-url",
        provider=exc.provider,
        status=exc.status,
        request_id=exc.request_id,
    )


class JsonBody:
    """Parser for a plain JSON answer: yields nothing, insists the body is a JSON object."""

    def __init__(self, provider: str) -> None:
        self._provider = provider
        self._body = bytearray()

    def feed(self, chunk: bytes) -> list[StreamItem]:
        """Buffer the chunk."""
        self._body += chunk
        return []

    def finish(self) -> list[StreamItem]:
        """Require a JSON object (a captive portal's HTML page is not a model list)."""
        if not isinstance(load_json(bytes(self._body)), dict):
            raise MalformedResponse(
                f"{self._provider}: the answer could not be read", provider=self._provider
            )
        return []


class WireClient:
    """Base for a family client: subclasses build the calls, the ``Caller`` runs them."""

    def __init__(self, *, provider: str, caller: Caller) -> None:
        self.provider = provider
        self._caller = caller

    def chat_call(self, key: KeySpec, request: ChatRequest) -> WireCall:
        """The streaming chat request for this family."""
        raise NotImplementedError

    models_path = "/models"  # the model-listing path under the base URL
    models_query: tuple[tuple[str, str], ...] = ()  # the largest page a paged listing allows

    def default_base_url(self) -> str | None:
        """The base URL a key without ``--base-url`` uses (None: it must have one)."""
        raise NotImplementedError

    def _headers(self, key: KeySpec, accept: str) -> dict[str, str]:
        """The family's auth and version headers for `key`."""
        raise NotImplementedError

    def _classify(self, status: int, body: bytes, headers: httpx.Headers) -> ProviderError:
        """Map a non-2xx answer to a typed error."""
        raise NotImplementedError

    def models_call(self, key: KeySpec) -> WireCall:
        """GET the model listing: the request used to verify a key."""
        provider = self.provider
        return WireCall(
            provider=provider,
            model=None,
            method="GET",
            url=endpoint(key, self.default_base_url(), self.models_path),
            headers=self._headers(key, "application/json"),
            parser=lambda h: JsonBody(provider),
            classify=self._classify,
        )

    def stream_chat(self, key: KeySpec, request: ChatRequest) -> AsyncGenerator[StreamItem, None]:
        """Yield text deltas, then exactly one ``Completion``; raise ``ProviderError``."""

        async def make() -> WireCall:
            return self.chat_call(key, request)

        return self._caller.stream(make)

    async def verify_key(self, key: KeySpec) -> None:
        """List models: the cheapest authenticated call; raise ``KeyRejected`` etc."""

        async def make() -> WireCall:
            return self.models_call(key)

        await run_verify(self._caller, make)


async def run_verify(caller: Caller, make_call: Callable[[], Awaitable[WireCall]]) -> None:
    """Run a model listing to completion; a 404 there means a wrong base URL."""
    failure: ProviderError | None = None
    try:
        async with aclosing(caller.stream(make_call)) as items:
            async for _ in items:
                pass
    except ModelNotFound as exc:
        failure = not_found_base(exc)
    if failure is not None:
        raise failure
