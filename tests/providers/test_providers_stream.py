"""Happy paths: what each wire client sends, and what it makes of what comes back."""

from __future__ import annotations

import pytest

from bot.providers import Providers
from bot.providers.types import (
    ChatMessage,
    ChatRequest,
    Completion,
    KeySpec,
    StreamItem,
    TextDelta,
    Usage,
)
from tests.fakes.fixtures import *  # noqa: F403
from tests.fakes.fixtures import TEST_KEY, key_for
from tests.fakes.providers import FakeAnthropic, FakeGemini, FakeOpenAI

CONVERSATION = (
    ChatMessage("user", "What is 2+2?"),
    ChatMessage("assistant", "4."),
    ChatMessage("user", "And 3+3?"),
)


def request(model: str, **kw: object) -> ChatRequest:
    return ChatRequest(model=model, messages=CONVERSATION, **kw)  # type: ignore[arg-type]


async def collect(p: Providers, key: KeySpec, req: ChatRequest) -> list[StreamItem]:
    return [item async for item in p.stream_chat(key, req)]


def split(items: list[StreamItem]) -> tuple[str, Completion]:
    *deltas, last = items
    assert all(isinstance(d, TextDelta) for d in deltas)
    assert isinstance(last, Completion)
    return "".join(d.text for d in deltas if isinstance(d, TextDelta)), last


async def test_openai_stream_request_and_reply(
    providers: Providers, openai_fake: FakeOpenAI
) -> None:
    openai_fake.reply = "Six, obviously."
    openai_fake.usage = Usage(
        input_tokens=1000, output_tokens=300, cache_read_tokens=200, reasoning_tokens=50
    )
    req = request("gpt-4o-mini", system="Be terse.", max_tokens=77, temperature=0.2)
    text, done = split(await collect(providers, key_for("openai", openai_fake), req))
    assert text == "Six, obviously."
    assert done.usage == Usage(
        input_tokens=1000, output_tokens=300, cache_read_tokens=200, reasoning_tokens=50
    )
    assert done.finish_reason == "stop"
    assert done.model == "gpt-4o-mini"
    assert done.request_id == "req_fake_0001"
    (sent,) = openai_fake.requests
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {TEST_KEY}"
    assert sent.json == {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": "4."},
            {"role": "user", "content": "And 3+3?"},
        ],
        "stream": True,
        "max_completion_tokens": 77,
        "stream_options": {"include_usage": True},
        "temperature": 0.2,
    }


@pytest.mark.parametrize(
    "provider", ["openrouter", "groq", "deepseek", "xai", "together", "openai-compatible"]
)
async def test_openai_compatible_presets(
    providers: Providers, openai_fake: FakeOpenAI, provider: str
) -> None:
    text, done = split(await collect(providers, key_for(provider, openai_fake), request("m")))
    assert text == openai_fake.reply
    assert done.usage == openai_fake.usage
    body = openai_fake.requests[0].json
    assert body["max_tokens"] == 1024 and "max_completion_tokens" not in body
    assert body["stream_options"] == {"include_usage": True}


async def test_mistral_is_not_sent_stream_options(
    providers: Providers, openai_fake: FakeOpenAI
) -> None:
    _, done = split(await collect(providers, key_for("mistral", openai_fake), request("m")))
    assert "stream_options" not in openai_fake.requests[0].json
    # This OpenAI-strict fake sends usage only when asked, so none came: the core estimates.
    assert done.usage is None


async def test_ollama_without_a_key_sends_no_auth_header(
    providers: Providers, openai_fake: FakeOpenAI
) -> None:
    openai_fake.valid_keys.add(None)
    key = KeySpec("ollama", "-", openai_fake.base_url)
    text, _ = split(await collect(providers, key, request("llama3.1")))
    assert text == openai_fake.reply
    assert "authorization" not in openai_fake.requests[0].headers
    await providers.verify_key(key)


async def test_azure_uses_api_key_header_and_v1_path(
    providers: Providers, azure_fake: FakeOpenAI
) -> None:
    key = KeySpec("azure-openai", TEST_KEY, azure_fake.origin)  # the resource endpoint
    text, done = split(await collect(providers, key, request("my-gpt4o-deployment")))
    assert text == azure_fake.reply and done.usage == azure_fake.usage
    (sent,) = azure_fake.requests
    assert sent.path == "/openai/v1/chat/completions"
    assert sent.headers["api-key"] == TEST_KEY
    assert "authorization" not in sent.headers
    assert sent.json["max_completion_tokens"] == 1024
    await providers.verify_key(KeySpec("azure-openai", TEST_KEY, azure_fake.base_url))
    assert azure_fake.requests[-1].path == "/openai/v1/models"


async def test_anthropic_stream_request_and_reply(
    providers: Providers, anthropic_fake: FakeAnthropic
) -> None:
    anthropic_fake.usage = Usage(
        input_tokens=1000, output_tokens=300, cache_read_tokens=200, cache_write_tokens=100
    )
    req = request("claude-sonnet-4-5", system="Be terse.", max_tokens=64, temperature=0.0)
    text, done = split(await collect(providers, key_for("anthropic", anthropic_fake), req))
    assert text == anthropic_fake.reply
    # Anthropic's input_tokens excludes cache traffic; ours includes it.
    assert done.usage == Usage(
        input_tokens=1000, output_tokens=300, cache_read_tokens=200, cache_write_tokens=100
    )
    assert done.finish_reason == "end_turn"
    assert done.model == "claude-sonnet-4-5"
    (sent,) = anthropic_fake.requests
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == TEST_KEY
    assert "authorization" not in sent.headers
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.json == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 64,
        "messages": [
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": "4."},
            {"role": "user", "content": "And 3+3?"},
        ],
        "stream": True,
        "system": "Be terse.",
        "temperature": 0.0,
    }


async def test_gemini_stream_request_and_reply(
    providers: Providers, gemini_fake: FakeGemini
) -> None:
    gemini_fake.usage = Usage(
        input_tokens=1000, output_tokens=300, cache_read_tokens=200, reasoning_tokens=120
    )
    req = request("models/gemini-2.5-flash", system="Be terse.", max_tokens=99, temperature=1.0)
    text, done = split(await collect(providers, key_for("gemini", gemini_fake), req))
    assert text == gemini_fake.reply
    # Gemini reports thoughts apart from candidates; both are billed as output.
    assert done.usage == Usage(
        input_tokens=1000, output_tokens=300, cache_read_tokens=200, reasoning_tokens=120
    )
    assert done.finish_reason == "stop"
    assert done.model == "gemini-2.5-flash"
    (sent,) = gemini_fake.requests
    assert sent.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    assert sent.query == {"alt": "sse"}
    assert sent.headers["x-goog-api-key"] == TEST_KEY
    assert sent.json == {
        "contents": [
            {"role": "user", "parts": [{"text": "What is 2+2?"}]},
            {"role": "model", "parts": [{"text": "4."}]},
            {"role": "user", "parts": [{"text": "And 3+3?"}]},
        ],
        "generationConfig": {"maxOutputTokens": 99, "temperature": 1.0},
        "systemInstruction": {"parts": [{"text": "Be terse."}]},
    }


@pytest.mark.parametrize("family", ["openai", "anthropic", "gemini"])
async def test_verify_key_lists_models(
    providers: Providers,
    openai_fake: FakeOpenAI,
    anthropic_fake: FakeAnthropic,
    gemini_fake: FakeGemini,
    family: str,
) -> None:
    fake = {"openai": openai_fake, "anthropic": anthropic_fake, "gemini": gemini_fake}[family]
    await providers.verify_key(key_for(family, fake))
    (sent,) = fake.requests
    assert sent.method == "GET"
    assert (
        sent.path
        == {"openai": "/v1/models", "anthropic": "/v1/models", "gemini": "/v1beta/models"}[family]
    )


@pytest.mark.parametrize("family", ["openai", "anthropic", "gemini"])
async def test_unicode_reply_survives_any_chunking(
    providers: Providers,
    openai_fake: FakeOpenAI,
    anthropic_fake: FakeAnthropic,
    gemini_fake: FakeGemini,
    family: str,
) -> None:
    fake = {"openai": openai_fake, "anthropic": anthropic_fake, "gemini": gemini_fake}[family]
    fake.reply = "Grüße 👋 — 你好 — naïve café"
    text, _ = split(await collect(providers, key_for(family, fake), request("m")))
    assert text == fake.reply


async def test_empty_reply_still_completes(providers: Providers, openai_fake: FakeOpenAI) -> None:
    openai_fake.reply = ""
    items = await collect(providers, key_for("openai", openai_fake), request("m"))
    assert len(items) == 1 and isinstance(items[0], Completion)


async def test_consumer_can_stop_early(providers: Providers, openai_fake: FakeOpenAI) -> None:
    stream = providers.stream_chat(key_for("openai", openai_fake), request("m"))
    first = await anext(stream)
    assert isinstance(first, TextDelta)
    await stream.aclose()
    # The connection was released: the next call works.
    _, done = split(await collect(providers, key_for("openai", openai_fake), request("m")))
    assert done.usage is not None


async def test_concurrent_calls(providers: Providers, openai_fake: FakeOpenAI) -> None:
    import asyncio

    results = await asyncio.gather(
        *(collect(providers, key_for("openai", openai_fake), request("m")) for _ in range(20))
    )
    assert all(split(items)[0] == openai_fake.reply for items in results)
    assert len(openai_fake.requests) == 20
