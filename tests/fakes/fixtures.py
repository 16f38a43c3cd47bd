"""Pytest fixtures for the fake providers; import them into a test module or a conftest.

    from tests.fakes.fixtures import *  # noqa: F403

Servers start once per session; the function-scoped fixtures hand out a ``reset()`` fake,
so each test starts with no recorded requests, no scripted faults and default replies.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from bot.errors import ProviderError
from bot.providers import Providers
from bot.providers.types import ChatMessage, ChatRequest, KeySpec, StreamItem, TextDelta
from tests.fakes.providers import FakeAnthropic, FakeGemini, FakeOpenAI, FakeServer

# The session-scoped servers are exported too: pytest must see them wherever this is imported.
__all__ = [
    "FAMILIES",
    "TEST_KEY",
    "_anthropic_server",
    "_azure_server",
    "_gemini_server",
    "_openai_server",
    "_other_openai_server",
    "anthropic_fake",
    "azure_fake",
    "family_fakes",
    "gemini_fake",
    "key_for",
    "openai_fake",
    "other_openai_fake",
    "providers",
    "run_stream",
    "text_of",
]

TEST_KEY = "test-key"
#: the three wire families, as provider ids
FAMILIES = ("openai", "anthropic", "gemini")
_HELLO = ChatRequest(model="m", messages=(ChatMessage("user", "hello"),))


def key_for(provider: str, fake: FakeServer, secret: str = TEST_KEY) -> KeySpec:
    """A ``KeySpec`` pointing ``provider`` at ``fake``."""
    return KeySpec(provider=provider, secret=secret, base_url=fake.base_url)


async def run_stream(
    p: Providers, key: KeySpec, request: ChatRequest = _HELLO
) -> tuple[list[StreamItem], ProviderError | None]:
    """Collect a stream's items until it ends or fails; return them and the error, if any."""
    items: list[StreamItem] = []
    try:
        async for item in p.stream_chat(key, request):
            items.append(item)
    except ProviderError as exc:
        return items, exc
    return items, None


def text_of(items: list[StreamItem]) -> str:
    """The reply text in a list of stream items."""
    return "".join(i.text for i in items if isinstance(i, TextDelta))


@pytest.fixture(scope="session")
def _openai_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(valid_keys=[TEST_KEY]) as fake:
        yield fake


@pytest.fixture(scope="session")
def _azure_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(azure=True, valid_keys=[TEST_KEY]) as fake:
        yield fake


@pytest.fixture(scope="session")
def _anthropic_server() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(valid_keys=[TEST_KEY]) as fake:
        yield fake


@pytest.fixture(scope="session")
def _gemini_server() -> Iterator[FakeGemini]:
    with FakeGemini(valid_keys=[TEST_KEY]) as fake:
        yield fake


@pytest.fixture(scope="session")
def _other_openai_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(valid_keys=[TEST_KEY]) as fake:
        yield fake


@pytest.fixture
def openai_fake(_openai_server: FakeOpenAI) -> Iterator[FakeOpenAI]:
    """A fresh-state fake OpenAI (base URL ends in ``/v1``)."""
    _openai_server.reset()
    yield _openai_server
    _openai_server.reset()


@pytest.fixture
def other_openai_fake(_other_openai_server: FakeOpenAI) -> Iterator[FakeOpenAI]:
    """A second, independent fake OpenAI (e.g. a redirect target that must see no key)."""
    _other_openai_server.reset()
    yield _other_openai_server
    _other_openai_server.reset()


@pytest.fixture
def azure_fake(_azure_server: FakeOpenAI) -> Iterator[FakeOpenAI]:
    """A fresh-state fake Azure OpenAI v1 (``/openai/v1``, ``api-key`` header)."""
    _azure_server.reset()
    yield _azure_server
    _azure_server.reset()


@pytest.fixture
def anthropic_fake(_anthropic_server: FakeAnthropic) -> Iterator[FakeAnthropic]:
    """A fresh-state fake Anthropic Messages API."""
    _anthropic_server.reset()
    yield _anthropic_server
    _anthropic_server.reset()


@pytest.fixture
def gemini_fake(_gemini_server: FakeGemini) -> Iterator[FakeGemini]:
    """A fresh-state fake Gemini API."""
    _gemini_server.reset()
    yield _gemini_server
    _gemini_server.reset()


@pytest.fixture
def family_fakes(
    openai_fake: FakeOpenAI, anthropic_fake: FakeAnthropic, gemini_fake: FakeGemini
) -> dict[str, FakeServer]:
    """The OpenAI, Anthropic and Gemini fakes by provider id (see ``FAMILIES``)."""
    return {"openai": openai_fake, "anthropic": anthropic_fake, "gemini": gemini_fake}


@pytest.fixture
async def providers() -> AsyncIterator[Providers]:
    """``Providers`` allowed to reach 127.0.0.1, with a short deadline and fast backoff."""
    p = Providers(allow_private_base_urls=True, timeout=5.0, max_retry_wait=2.0, backoff_base=0.01)
    yield p
    await p.aclose()
