"""Failure statuses: typed errors, retries within one deadline, Retry-After, redirects."""

from __future__ import annotations

import socket
import time

import pytest

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
from bot.providers import Providers
from bot.providers.types import KeySpec
from tests.fakes.fixtures import *  # noqa: F403
from tests.fakes.fixtures import FAMILIES, key_for, run_stream, text_of
from tests.fakes.providers import FakeAnthropic, FakeGemini, FakeOpenAI, FakeServer, Fault

# ----- status codes ------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("status", [401, 403])
async def test_rejected_key_is_not_retried(
    providers: Providers, family_fakes: dict[str, FakeServer], family: str, status: int
) -> None:
    fake = family_fakes[family]
    fake.script(Fault.http_status(status))
    items, exc = await run_stream(providers, key_for(family, fake))
    assert isinstance(exc, KeyRejected) and items == []
    assert exc.provider == family
    assert len(fake.requests) == 1


@pytest.mark.parametrize("family", FAMILIES)
async def test_wrong_key_is_rejected_by_chat_and_verify(
    providers: Providers, family_fakes: dict[str, FakeServer], family: str
) -> None:
    key = KeySpec(family, "wrong-key", family_fakes[family].base_url)
    _, exc = await run_stream(providers, key)
    assert isinstance(exc, KeyRejected)
    with pytest.raises(KeyRejected):
        await providers.verify_key(key)


async def test_gemini_api_key_invalid_400_is_a_rejected_key(
    providers: Providers, gemini_fake: FakeGemini
) -> None:
    gemini_fake.script(Fault.http_status(400, code="API_KEY_INVALID"))
    _, exc = await run_stream(providers, key_for("gemini", gemini_fake))
    assert isinstance(exc, KeyRejected) and exc.status == 400


@pytest.mark.parametrize("family", FAMILIES)
async def test_unknown_model_is_model_not_found(
    providers: Providers, family_fakes: dict[str, FakeServer], family: str
) -> None:
    family_fakes[family].models = ["only-this-one"]
    _, exc = await run_stream(providers, key_for(family, family_fakes[family]))
    assert isinstance(exc, ModelNotFound)
    assert len(family_fakes[family].requests) == 1


async def test_verify_404_means_wrong_base_url(
    providers: Providers, openai_fake: FakeOpenAI
) -> None:
    key = KeySpec("openai-compatible", "test-key", openai_fake.origin + "/wrong")
    with pytest.raises(BadRequest, match="base URL"):
        await providers.verify_key(key)


@pytest.mark.parametrize(
    ("family", "status", "code", "error"),
    [
        ("openai", 429, "insufficient_quota", QuotaExhausted),
        ("openai", 400, "context_length_exceeded", RequestTooLarge),
        ("openai", 413, None, RequestTooLarge),
        ("openai", 400, "invalid_value", BadRequest),
        ("openai", 422, None, BadRequest),
        ("anthropic", 400, "billing_error", QuotaExhausted),
        ("anthropic", 402, None, QuotaExhausted),
        ("anthropic", 413, None, RequestTooLarge),
        ("anthropic", 400, None, BadRequest),
        ("gemini", 429, "GenerateRequestsPerDayPerProjectPerModel-FreeTier", QuotaExhausted),
        ("gemini", 400, None, BadRequest),
    ],
)
async def test_4xx_mapping_never_retries(
    providers: Providers,
    family_fakes: dict[str, FakeServer],
    family: str,
    status: int,
    code: str | None,
    error: type[ProviderError],
) -> None:
    fake = family_fakes[family]
    fake.script(Fault.http_status(status, code=code), times=5)
    _, exc = await run_stream(providers, key_for(family, fake))
    assert type(exc) is error
    assert len(fake.requests) == 1


async def test_anthropic_prompt_too_long_message(
    providers: Providers, anthropic_fake: FakeAnthropic
) -> None:
    body = {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "prompt is too long: 9 > 8"},
    }
    anthropic_fake.script(Fault.http_status(400, body=body))
    _, exc = await run_stream(providers, key_for("anthropic", anthropic_fake))
    assert isinstance(exc, RequestTooLarge)
    assert "9 > 8" not in str(exc)  # the provider's text is matched, never echoed


# ----- 429 and Retry-After -------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{"retry-after": "0.05"}, {"retry-after-ms": "40"}, {"retry-after": "0"}, {}],
)
async def test_429_is_retried_honouring_retry_after(
    providers: Providers, openai_fake: FakeOpenAI, headers: dict[str, str]
) -> None:
    openai_fake.script(Fault.http_status(429, headers=headers))
    items, exc = await run_stream(providers, key_for("openai", openai_fake))
    assert exc is None and text_of(items) == openai_fake.reply
    assert len(openai_fake.requests) == 2


async def test_retry_after_http_date_in_the_past_retries_now(
    providers: Providers, anthropic_fake: FakeAnthropic
) -> None:
    anthropic_fake.script(
        Fault.http_status(429, headers={"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})
    )
    _, exc = await run_stream(providers, key_for("anthropic", anthropic_fake))
    assert exc is None and len(anthropic_fake.requests) == 2


@pytest.mark.parametrize("family", FAMILIES)
async def test_long_retry_after_fails_fast(
    providers: Providers, family_fakes: dict[str, FakeServer], family: str
) -> None:
    fake = family_fakes[family]
    fake.script(Fault.http_status(429, headers={"Retry-After": "3600"}))
    started = time.monotonic()
    _, exc = await run_stream(providers, key_for(family, fake))
    assert time.monotonic() - started < 2.0  # no sleep at all (generous for a busy machine)
    assert isinstance(exc, RateLimited)
    assert exc.retry_after == 3600
    assert len(fake.requests) == 1


async def test_retry_after_past_the_deadline_fails_fast(openai_fake: FakeOpenAI) -> None:
    p = Providers(allow_private_base_urls=True, timeout=5.0, max_retry_wait=30.0)
    try:
        openai_fake.script(Fault.http_status(429, headers={"retry-after": "10"}))
        started = time.monotonic()
        _, exc = await run_stream(p, key_for("openai", openai_fake))
        assert time.monotonic() - started < 2.0  # within max_retry_wait but past the deadline
        assert isinstance(exc, RateLimited) and exc.retry_after == 10
    finally:
        await p.aclose()


async def test_gemini_retry_info_is_honoured(providers: Providers, gemini_fake: FakeGemini) -> None:
    # The fake's 429 carries RetryInfo retryDelay "2s"; max_retry_wait is 2.0 in the fixture.
    p = Providers(allow_private_base_urls=True, timeout=5.0, max_retry_wait=1.0)
    try:
        gemini_fake.script(Fault.http_status(429))
        _, exc = await run_stream(p, key_for("gemini", gemini_fake))
        assert isinstance(exc, RateLimited) and exc.retry_after == 2.0
    finally:
        await p.aclose()


async def test_persistent_429_gives_up_after_max_attempts(
    providers: Providers, openai_fake: FakeOpenAI
) -> None:
    openai_fake.script(Fault.http_status(429), times=10)
    _, exc = await run_stream(providers, key_for("openai", openai_fake))
    assert isinstance(exc, RateLimited)
    assert len(openai_fake.requests) == 4


# ----- 5xx, HTML, connection errors -----------------------------------------------------------


@pytest.mark.parametrize(
    ("family", "fault"),
    [
        ("openai", Fault.http_status(500)),
        ("openai", Fault.http_status(503)),
        ("openai", Fault.html(502)),
        ("anthropic", Fault.http_status(529)),
        ("anthropic", Fault.html(504)),
        ("gemini", Fault.http_status(503)),
        ("gemini", Fault.html(502)),
    ],
)
async def test_5xx_is_retried_with_backoff(
    providers: Providers, family_fakes: dict[str, FakeServer], family: str, fault: Fault
) -> None:
    fake = family_fakes[family]
    fake.script(fault, times=2)
    items, exc = await run_stream(providers, key_for(family, fake))
    assert exc is None and text_of(items) == fake.reply
    assert len(fake.requests) == 3


async def test_persistent_5xx_is_reported(
    providers: Providers, anthropic_fake: FakeAnthropic
) -> None:
    anthropic_fake.script(Fault.http_status(529), times=10)
    _, exc = await run_stream(providers, key_for("anthropic", anthropic_fake))
    assert isinstance(exc, ProviderUnavailable) and exc.status == 529
    assert len(anthropic_fake.requests) == 4


async def test_connection_refused_is_unavailable(providers: Providers) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    key = KeySpec("openai", "test-key", f"http://127.0.0.1:{port}/v1")
    _, exc = await run_stream(providers, key)
    assert isinstance(exc, ProviderUnavailable)
    assert "could not connect" in str(exc)


async def test_backoff_never_sleeps_past_the_deadline(openai_fake: FakeOpenAI) -> None:
    p = Providers(allow_private_base_urls=True, timeout=2.0, backoff_base=10.0)
    try:
        openai_fake.script(Fault.http_status(500), times=10)
        started = time.monotonic()
        _, exc = await run_stream(p, key_for("openai", openai_fake))
        assert time.monotonic() - started < 1.5  # gave up instead of sleeping 5-10 s
        assert isinstance(exc, ProviderUnavailable)
        assert len(openai_fake.requests) == 1
    finally:
        await p.aclose()


# ----- redirects -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_redirect_is_an_error_and_the_target_never_sees_the_key(
    providers: Providers,
    openai_fake: FakeOpenAI,
    other_openai_fake: FakeOpenAI,
    status: int,
) -> None:
    target = other_openai_fake.base_url + "/chat/completions"
    openai_fake.script(Fault.redirect(target, status=status), times=5)
    _, exc = await run_stream(providers, key_for("openai", openai_fake))
    assert isinstance(exc, BadRequest) and exc.status == status
    assert len(openai_fake.requests) == 1
    assert other_openai_fake.requests == []
    openai_fake.script(Fault.redirect(other_openai_fake.base_url + "/models", status=status))
    with pytest.raises(BadRequest, match="redirect"):
        await providers.verify_key(key_for("openai", openai_fake))
    assert other_openai_fake.requests == []
