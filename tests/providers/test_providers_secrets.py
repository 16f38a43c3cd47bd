"""Secret hygiene: the key, the prompt and the output never reach logs, errors or reprs."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator

import pytest

from bot.errors import ProviderError
from bot.providers import Providers
from bot.providers.types import ChatMessage, ChatRequest, KeySpec
from tests.fakes.fixtures import *  # noqa: F403
from tests.fakes.providers import FakeAnthropic, FakeGemini, FakeOpenAI, FakeServer, Fault

SECRET = "sk-SuperSecretKey-0123456789abcdef"
PROMPT = "PROMPT-the-merger-with-acme-closes-friday"
SYSTEM = "SYSTEM-you-are-the-cfo-assistant"
OUTPUT = "OUTPUT-acme-deal-confidential-reply"
NEEDLES = (SECRET, PROMPT, SYSTEM, OUTPUT, "SuperSecret", "merger", "confidential")
FAMILIES = ["openai", "anthropic", "gemini"]

FAULTS = [
    None,
    Fault.http_status(401),
    Fault.http_status(400, code="context_length_exceeded"),
    Fault.http_status(429, headers={"retry-after": "3600"}),
    Fault.http_status(500),
    Fault.html(502),
    Fault.cut(after=1),
    Fault.error_event(after=1),
    Fault.malformed(after=1),
    Fault.no_usage(),
]


@pytest.fixture
def fakes(
    openai_fake: FakeOpenAI, anthropic_fake: FakeAnthropic, gemini_fake: FakeGemini
) -> Iterator[dict[str, FakeServer]]:
    fakes: dict[str, FakeServer] = {
        "openai": openai_fake,
        "anthropic": anthropic_fake,
        "gemini": gemini_fake,
    }
    for fake in fakes.values():
        fake.valid_keys = {SECRET}
        fake.reply = OUTPUT
    yield fakes


@pytest.fixture
def debug_everywhere(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "h11", "h2", "hpack", "asyncio", "bot"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def assert_clean(text: str) -> None:
    for needle in NEEDLES:
        assert needle not in text, f"{needle!r} leaked"


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.kind if f else "ok")
async def test_nothing_sensitive_in_logs_errors_or_reprs(
    fakes: dict[str, FakeServer],
    debug_everywhere: pytest.LogCaptureFixture,
    family: str,
    fault: Fault | None,
) -> None:
    fake = fakes[family]
    if fault is not None:
        fake.script(fault)
    key = KeySpec(family, SECRET, fake.base_url)
    req = ChatRequest(model="m", messages=(ChatMessage("user", PROMPT),), system=SYSTEM)
    p = Providers(allow_private_base_urls=True, timeout=3.0, max_retry_wait=1.0, backoff_base=0.01)
    error: ProviderError | None = None
    try:
        async for _ in p.stream_chat(key, req):
            pass
        await p.verify_key(key)
    except ProviderError as exc:
        error = exc
    finally:
        await p.aclose()
    # The request did carry everything to the provider: the test is not vacuous.
    assert any(SECRET in str(r.headers) for r in fake.requests)
    assert any(PROMPT in r.body.decode() for r in fake.requests)
    logged = debug_everywhere.text + "".join(
        f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in debug_everywhere.records
    )
    assert debug_everywhere.records, "expected DEBUG records from httpx/httpcore"
    assert_clean(logged)
    assert_clean(repr(key) + repr(p))
    if error is not None:
        # Nothing hangs off our error: httpx's exceptions hold the request with its key header.
        assert error.__context__ is None and error.__cause__ is None
        for exc in chain(error):
            assert_clean(str(exc) + repr(exc) + repr(vars(exc)))
        assert_clean("".join(traceback.format_exception(error)))


@pytest.mark.parametrize("family", FAMILIES)
async def test_key_is_only_ever_in_its_header(
    fakes: dict[str, FakeServer], providers: Providers, family: str
) -> None:
    fake = fakes[family]
    key = KeySpec(family, SECRET, fake.base_url)
    req = ChatRequest(model="m", messages=(ChatMessage("user", PROMPT),))
    async for _ in providers.stream_chat(key, req):
        pass
    await providers.verify_key(key)
    header = {"openai": "authorization", "anthropic": "x-api-key", "gemini": "x-goog-api-key"}
    for sent in fake.requests:
        assert SECRET not in sent.raw_url
        assert "key" not in sent.query
        assert SECRET not in sent.body.decode()
        carrying = [k for k, v in sent.headers.items() if SECRET in v]
        assert carrying == [header[family]]


def test_keyspec_repr_hides_the_secret() -> None:
    key = KeySpec("openai", SECRET, "https://api.openai.com/v1")
    assert SECRET not in repr(key) and SECRET not in str(key)


async def test_cookies_from_one_call_never_ride_on_the_next(
    providers: Providers, openai_fake: FakeOpenAI
) -> None:
    """One shared client serves every workspace: a provider's cookie must not be replayed."""
    openai_fake.script(Fault.http_status(500, headers={"set-cookie": "session=abc123; Path=/"}))
    req = ChatRequest(model="m", messages=(ChatMessage("user", "hi"),))
    async for _ in providers.stream_chat(KeySpec("openai", "test-key", openai_fake.base_url), req):
        pass
    assert len(openai_fake.requests) == 2
    assert "cookie" not in openai_fake.requests[1].headers


async def test_a_caller_supplied_client_is_used_without_redirects_and_left_open(
    openai_fake: FakeOpenAI, other_openai_fake: FakeOpenAI
) -> None:
    import httpx

    async with httpx.AsyncClient(follow_redirects=True) as http:
        p = Providers(allow_private_base_urls=True, http=http, timeout=2.0)
        openai_fake.script(Fault.redirect(other_openai_fake.base_url + "/models"))
        with pytest.raises(ProviderError, match="redirect"):
            await p.verify_key(KeySpec("openai", "test-key", openai_fake.base_url))
        await p.aclose()
        assert not http.is_closed
    assert other_openai_fake.requests == []
