"""Provider registry and the ``Providers`` facade the core calls for every AI provider."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncGenerator

import httpx

from bot.errors import BadRequest, UnsafeBaseURL
from bot.providers.anthropic import DEFAULT_BASE_URL as ANTHROPIC_BASE_URL
from bot.providers.anthropic import AnthropicClient
from bot.providers.gemini import DEFAULT_BASE_URL as GEMINI_BASE_URL
from bot.providers.gemini import GeminiClient
from bot.providers.http import Caller, RetryPolicy, WireCall, new_http_client
from bot.providers.listing import listing_call, run_listing
from bot.providers.openai import OpenAIClient, OpenAIFlavor
from bot.providers.types import ChatRequest, KeySpec, StreamItem
from bot.providers.urls import Resolver, parse_base_url, resolve_sync
from bot.providers.wire import WireClient, run_verify

__all__ = [
    "PROVIDER_IDS",
    "Providers",
    "default_base_url",
    "key_optional",
    "requires_base_url",
]

PROVIDER_IDS: tuple[str, ...] = (
    "openai",
    "anthropic",
    "gemini",
    "azure-openai",
    "openrouter",
    "groq",
    "mistral",
    "deepseek",
    "xai",
    "together",
    "ollama",
    "openai-compatible",
)

_OPENAI_FLAVORS: dict[str, OpenAIFlavor] = {
    "openai": OpenAIFlavor("https://api.openai.com/v1", token_param="max_completion_tokens"),
    "azure-openai": OpenAIFlavor(None, auth_header="api-key", token_param="max_completion_tokens"),
    "openrouter": OpenAIFlavor("https://openrouter.ai/api/v1"),
    "groq": OpenAIFlavor("https://api.groq.com/openai/v1"),
    # Mistral reports usage in its last chunk unasked and is strict about unknown fields.
    "mistral": OpenAIFlavor("https://api.mistral.ai/v1", stream_options=False),
    "deepseek": OpenAIFlavor("https://api.deepseek.com/v1"),
    "xai": OpenAIFlavor("https://api.x.ai/v1", reasoning_outside_completion=True),
    "together": OpenAIFlavor("https://api.together.xyz/v1"),
    "ollama": OpenAIFlavor("http://localhost:11434/v1"),
    "openai-compatible": OpenAIFlavor(None),
}
_NEEDS_BASE_URL = frozenset({"azure-openai", "openai-compatible"})
_STATIC_CACHE_MAX = 1024


def _known(provider: str) -> str:
    if provider not in PROVIDER_IDS:
        raise ValueError(f"unknown provider {provider!r}")
    return provider


def default_base_url(provider: str) -> str | None:
    """The preset base URL (what the official SDK takes), or None if the key must give one."""
    _known(provider)
    if provider == "anthropic":
        return ANTHROPIC_BASE_URL
    if provider == "gemini":
        return GEMINI_BASE_URL
    return _OPENAI_FLAVORS[provider].default_base_url


def requires_base_url(provider: str) -> bool:
    """True for providers without a preset host (``azure-openai``, ``openai-compatible``)."""
    return _known(provider) in _NEEDS_BASE_URL


def key_optional(provider: str) -> bool:
    """True where the secret may be ``-`` (a local ollama needs no key)."""
    return _known(provider) == "ollama"


class Providers:
    """Streams chats and verifies keys for every provider, with base-URL and retry policy."""

    def __init__(
        self,
        *,
        allow_private_base_urls: bool = False,
        timeout: float = 120.0,
        max_retry_wait: float = 30.0,
        http: httpx.AsyncClient | None = None,
        max_attempts: int = 4,
        backoff_base: float = 0.5,
        resolve: Resolver | None = None,
    ) -> None:
        if http is not None and not allow_private_base_urls:
            # Only our own transport checks the address it connects to (Guarantee 10).
            raise ValueError("a caller-supplied HTTP client cannot enforce public base URLs")
        self._allow_private = allow_private_base_urls
        self._resolve = resolve
        self._http = http
        self._owns_http = http is None
        policy = RetryPolicy(
            timeout=timeout,
            max_retry_wait=max_retry_wait,
            max_attempts=max_attempts,
            backoff_base=backoff_base,
        )
        self._caller = Caller(self._client, policy)
        self._families: dict[str, WireClient] = {}
        self._static: dict[tuple[str, str | None], tuple[httpx.URL, bool]] = {}

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = new_http_client(allow_private=self._allow_private, resolve=self._resolve)
        return self._http

    def family(self, provider: str) -> WireClient:
        """The wire client for ``provider`` (one of ``PROVIDER_IDS``)."""
        client = self._families.get(provider)
        if client is None:
            _known(provider)
            if provider == "anthropic":
                client = AnthropicClient(provider=provider, caller=self._caller)
            elif provider == "gemini":
                client = GeminiClient(provider=provider, caller=self._caller)
            else:
                flavor = _OPENAI_FLAVORS[provider]
                client = OpenAIClient(provider=provider, caller=self._caller, flavor=flavor)
            self._families[provider] = client
        return client

    def _effective(self, provider: str, base_url: str | None) -> tuple[httpx.URL, bool]:
        """Statically checked effective base URL and whether it is the built-in preset."""
        cache_key = (provider, base_url)
        hit = self._static.get(cache_key)
        if hit is not None:
            return hit
        default = default_base_url(provider)
        raw = base_url.strip() if base_url else ""
        if not raw:
            if default is None:
                raise UnsafeBaseURL(f"{provider} needs a --base-url", provider=provider)
            raw = default
        url = parse_base_url(provider, raw, allow_private=self._allow_private)
        if provider == "azure-openai" and not url.raw_path.strip(b"/"):
            # An Azure resource endpoint: its OpenAI-compatible v1 API lives under /openai/v1.
            url = url.copy_with(raw_path=b"/openai/v1")
        # The presets are our own constants: no early DNS check (each connection still checks).
        result = (url, default is not None and str(url) == default)
        if len(self._static) >= _STATIC_CACHE_MAX:
            self._static.clear()
        self._static[cache_key] = result
        return result

    def check_base_url(self, provider: str, base_url: str | None) -> str:
        """Return the normalised effective base URL; raise ``UnsafeBaseURL`` (resolves DNS)."""
        url, preset = self._effective(provider, base_url)
        if not self._allow_private and not preset:
            resolve_sync(provider, url)
        return str(url)

    async def _prepare(self, key: KeySpec) -> tuple[WireClient, KeySpec]:
        """Check the key's base URL statically and pick its wire client.

        The addresses are checked by the connection itself (``bot.providers.pool``), on the
        very address it connects to, for every new connection: a host's DNS can change.
        """
        if key.provider not in PROVIDER_IDS:
            raise BadRequest(f"unknown provider {key.provider!r}", provider=key.provider)
        client = self.family(key.provider)
        url, _preset = self._effective(key.provider, key.base_url)
        return client, dataclasses.replace(key, base_url=str(url))

    def stream_chat(self, key: KeySpec, request: ChatRequest) -> AsyncGenerator[StreamItem, None]:
        """Yield text deltas then exactly one ``Completion``; retries inside; ``ProviderError``.

        Every error (bad base URL included) is raised while iterating, never by this call.
        Close early with ``aclose()`` (or ``contextlib.aclosing``) to free the connection.
        """

        async def make() -> WireCall:
            client, checked = await self._prepare(key)
            return client.chat_call(checked, request)

        return self._caller.stream(make)

    async def verify_key(self, key: KeySpec) -> None:
        """Make a cheap authenticated call (list models); raise ``KeyRejected`` etc."""

        async def make() -> WireCall:
            client, checked = await self._prepare(key)
            return client.models_call(checked)

        await run_verify(self._caller, make)

    async def list_models(self, key: KeySpec) -> list[str]:
        """The model ids the key's list-models call reports, sorted; ``ProviderError``."""
        ids: list[str] = []

        async def make() -> WireCall:
            client, checked = await self._prepare(key)
            return listing_call(client, checked, ids)

        await run_listing(self._caller, make)
        return ids

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_http and self._http is not None:
            await self._http.aclose()
            self._http = None
