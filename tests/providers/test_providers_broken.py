"""Broken streams and the deadline: nothing is retried once text was shown."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.errors import (
    BadRequest,
    KeyRejected,
    MalformedResponse,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from bot.providers import Providers
from bot.providers.types import ChatMessage, ChatRequest, Completion, KeySpec, StreamItem
from tests.fakes.fixtures import *  # noqa: F403
from tests.fakes.fixtures import FAMILIES, key_for, run_stream, text_of
from tests.fakes.providers import FakeAnthropic, FakeOpenAI, FakeServer, Fault

REQ = ChatRequest(model="m", messages=(ChatMessage("user", "hello"),))

# ----- broken streams --------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
async def test_stream_cut_after_text_is_not_retried(
    providers: Providers, family_fakes: dict[str, FakeServer], family: str
) -> None:
    fake = family_fakes[family]
    fake.script(Fault.cut(after=2))
    items, exc = await run_stream(providers, key_for(family, fake))
    assert isinstance(exc, ProviderUnavailable)
    assert text_of(items) == "Hello from"
    assert not any(isinstance(i, Completion) for i in items)
    assert len(fake.requests) == 1


@pytest.mark.parametrize("family", FAMILIES)
async def test_stream_cut_before_any_text_is_retried(
    providers: Providers, family_fakes: dict[str, FakeServer], family: str
) -> None:
    fake = family_fakes[family]
    fake.script(Fault.cut(after=0))
    items, exc = await run_stream(providers, key_for(family, fake))
    assert exc is None and text_of(items) == fake.reply
    assert len(fake.requests) == 2


@pytest.mark.parametrize("family", FAMILIES)
async def test_stream_without_usage_completes_with_none(
    providers: Providers, family_fakes: dict[str, FakeServer], family: str
) -> None:
    fake = family_fakes[family]
    fake.script(Fault.no_usage())
    items, exc = await run_stream(providers, key_for(family, fake))
    assert exc is None and text_of(items) == fake.reply
    assert isinstance(items[-1], Completion) and items[-1].usage is None


@pytest.mark.parametrize("family", FAMILIES)
async def test_error_event_after_200_mid_answer(
    providers: Providers, family_fakes: dict[str, FakeServer], family: str
) -> None:
    fake = family_fakes[family]
    fake.script(Fault.error_event(code="overloaded_error", after=1))
    items, exc = await run_stream(providers, key_for(family, fake))
    assert isinstance(exc, ProviderUnavailable)
    assert exc.status is None  # an in-stream event has no HTTP status of its own
    assert text_of(items) == "Hello"
    assert len(fake.requests) == 1


@pytest.mark.parametrize("family", FAMILIES)
async def test_overloaded_event_before_text_is_retried(
    providers: Providers, family_fakes: dict[str, FakeServer], family: str
) -> None:
    fake = family_fakes[family]
    fake.script(Fault.error_event(code="overloaded_error", after=0))
    items, exc = await run_stream(providers, key_for(family, fake))
    assert exc is None and text_of(items) == fake.reply
    assert len(fake.requests) == 2


async def test_anthropic_error_event_types_map(
    providers: Providers, anthropic_fake: FakeAnthropic
) -> None:
    anthropic_fake.script(Fault.error_event(code="invalid_request_error"))
    _, exc = await run_stream(providers, key_for("anthropic", anthropic_fake))
    assert isinstance(exc, BadRequest)
    anthropic_fake.script(Fault.error_event(code="rate_limit_error"), times=4)
    _, exc = await run_stream(providers, key_for("anthropic", anthropic_fake))
    assert isinstance(exc, RateLimited)


@pytest.mark.parametrize("family", FAMILIES)
async def test_malformed_json_in_stream(
    providers: Providers, family_fakes: dict[str, FakeServer], family: str
) -> None:
    fake = family_fakes[family]
    fake.script(Fault.malformed(after=1))
    _items, exc = await run_stream(providers, key_for(family, fake))
    assert isinstance(exc, MalformedResponse)
    assert len(fake.requests) == 1


@pytest.mark.parametrize("family", FAMILIES)
async def test_html_with_200_is_malformed(
    providers: Providers, family_fakes: dict[str, FakeServer], family: str
) -> None:
    fake = family_fakes[family]
    page = "<html><body>Please log in to the hotel wifi</body></html>"
    fake.script(Fault.http_status(200, body=page, headers={"content-type": "text/html"}))
    _, exc = await run_stream(providers, key_for(family, fake))
    assert isinstance(exc, MalformedResponse)
    fake.script(Fault.http_status(200, body=page, headers={"content-type": "text/html"}))
    with pytest.raises(MalformedResponse):
        await providers.verify_key(key_for(family, fake))


async def test_server_answering_whole_json_instead_of_stream(
    providers: Providers, openai_fake: FakeOpenAI
) -> None:
    """Some OpenAI-compatible servers ignore ``stream: true``; the reply still comes through."""
    body = {
        "id": "x",
        "object": "chat.completion",
        "model": "m",
        "choices": [{"index": 0, "message": {"content": "whole"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1},
    }
    openai_fake.script(Fault.http_status(200, body=body))
    items, exc = await run_stream(providers, key_for("openai-compatible", openai_fake))
    assert exc is None and text_of(items) == "whole"
    assert isinstance(items[-1], Completion) and items[-1].usage is not None


# ----- deadline --------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
async def test_hang_before_headers_hits_the_deadline(
    family_fakes: dict[str, FakeServer], family: str
) -> None:
    p = Providers(allow_private_base_urls=True, timeout=0.5)
    try:
        family_fakes[family].script(Fault.hang())
        started = time.monotonic()
        _, exc = await run_stream(p, key_for(family, family_fakes[family]))
        elapsed = time.monotonic() - started
        assert isinstance(exc, ProviderTimeout)
        assert 0.45 < elapsed < 3.0
    finally:
        await p.aclose()


@pytest.mark.parametrize("family", FAMILIES)
async def test_hang_mid_stream_hits_the_deadline(
    family_fakes: dict[str, FakeServer], family: str
) -> None:
    p = Providers(allow_private_base_urls=True, timeout=0.5)
    try:
        family_fakes[family].script(Fault.hang(after=1))
        started = time.monotonic()
        items, exc = await run_stream(p, key_for(family, family_fakes[family]))
        assert isinstance(exc, ProviderTimeout)
        assert text_of(items) == "Hello"
        assert time.monotonic() - started < 3.0
    finally:
        await p.aclose()


async def test_verify_key_hang_hits_the_deadline(openai_fake: FakeOpenAI) -> None:
    p = Providers(allow_private_base_urls=True, timeout=0.3)
    try:
        openai_fake.script(Fault.hang())
        with pytest.raises(ProviderTimeout):
            await p.verify_key(key_for("openai", openai_fake))
    finally:
        await p.aclose()


async def test_deadline_never_cancels_the_consumer(openai_fake: FakeOpenAI) -> None:
    """A slow consumer gets ProviderTimeout from the stream, not a CancelledError in its code."""
    p = Providers(allow_private_base_urls=True, timeout=0.3)
    try:
        openai_fake.delay = 0.01
        got: list[StreamItem] = []
        with pytest.raises(ProviderTimeout):
            async for item in p.stream_chat(key_for("openai", openai_fake), REQ):
                got.append(item)
                await asyncio.sleep(0.2)  # the consumer's own await must not be cancelled
        assert got
    finally:
        await p.aclose()


async def test_malformed_secret_is_never_sent(
    providers: Providers, openai_fake: FakeOpenAI
) -> None:
    key = KeySpec("openai", "sk-abc\r\nx-injected: 1", openai_fake.base_url)
    _, exc = await run_stream(providers, key)
    assert isinstance(exc, KeyRejected)
    assert "sk-abc" not in str(exc)
    assert openai_fake.requests == []


async def test_unknown_provider_on_a_stored_key_is_a_provider_error(
    providers: Providers,
) -> None:
    _, exc = await run_stream(providers, KeySpec("retired-provider", "k", None))
    assert isinstance(exc, BadRequest)
