"""Contract: the official SDKs drive our fakes, so a fake that drifts from the real protocol fails.

Each fake is exercised by its provider's own SDK (streaming with usage, non-streaming, model
listing, error classes), and then by our client on the same fake state, which must agree.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from bot.providers import Providers
from bot.providers.types import ChatMessage, ChatRequest, Completion, TextDelta, Usage
from tests.fakes.fixtures import *  # noqa: F403
from tests.fakes.fixtures import TEST_KEY, key_for
from tests.fakes.providers import FakeAnthropic, FakeGemini, FakeOpenAI, Fault

USAGE = Usage(input_tokens=1200, output_tokens=345, cache_read_tokens=200, reasoning_tokens=45)
REPLY = "The quick brown fox — 🦊 — jumps."
MESSAGES = [{"role": "user", "content": "Tell me about foxes."}]


async def ours(p: Providers, provider: str, fake: Any, model: str) -> tuple[str, Completion]:
    req = ChatRequest(model=model, messages=(ChatMessage("user", "Tell me about foxes."),))
    items = [i async for i in p.stream_chat(key_for(provider, fake), req)]
    last = items[-1]
    assert isinstance(last, Completion)
    return "".join(i.text for i in items if isinstance(i, TextDelta)), last


# ----- OpenAI ------------------------------------------------------------------------------


@pytest.fixture
def oai(openai_fake: FakeOpenAI) -> Iterator[openai.OpenAI]:
    openai_fake.reply, openai_fake.usage = REPLY, USAGE
    with openai.OpenAI(base_url=openai_fake.base_url, api_key=TEST_KEY, max_retries=0) as c:
        yield c


def test_openai_sdk_streaming_with_usage(oai: openai.OpenAI, openai_fake: FakeOpenAI) -> None:
    stream = oai.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == REPLY
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    usage = chunks[-1].usage
    assert usage is not None and chunks[-1].choices == []
    assert (usage.prompt_tokens, usage.completion_tokens) == (1200, 345)
    assert usage.prompt_tokens_details and usage.prompt_tokens_details.cached_tokens == 200
    assert usage.completion_tokens_details
    assert usage.completion_tokens_details.reasoning_tokens == 45


def test_openai_sdk_streaming_without_include_usage_gets_none(oai: openai.OpenAI) -> None:
    chunks = list(oai.chat.completions.create(model="m", messages=MESSAGES, stream=True))
    assert all(c.usage is None for c in chunks)


def test_openai_sdk_non_streaming_and_models(oai: openai.OpenAI) -> None:
    done = oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert done.choices[0].message.content == REPLY
    assert done.usage and done.usage.total_tokens == 1545
    assert [m.id for m in oai.models.list()] == ["gpt-4o-mini", "gpt-4o"]
    assert oai.models.retrieve("gpt-4o").id == "gpt-4o"


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.http_status(400), openai.BadRequestError),
        (Fault.http_status(401), openai.AuthenticationError),
        (Fault.http_status(403), openai.PermissionDeniedError),
        (Fault.http_status(404), openai.NotFoundError),
        (Fault.http_status(429, headers={"retry-after": "20"}), openai.RateLimitError),
        (Fault.http_status(429, code="insufficient_quota"), openai.RateLimitError),
        (Fault.http_status(500), openai.InternalServerError),
        (Fault.html(502), openai.InternalServerError),
    ],
)
def test_openai_sdk_error_classes(
    oai: openai.OpenAI, openai_fake: FakeOpenAI, fault: Fault, error: type[Exception]
) -> None:
    openai_fake.script(fault)
    with pytest.raises(error) as info:
        oai.chat.completions.create(model="m", messages=MESSAGES)
    if fault.code == "insufficient_quota":
        assert isinstance(info.value, openai.APIStatusError)
        assert info.value.code == "insufficient_quota"


def test_openai_sdk_wrong_key(openai_fake: FakeOpenAI) -> None:
    client = openai.OpenAI(base_url=openai_fake.base_url, api_key="nope", max_retries=0)
    with client, pytest.raises(openai.AuthenticationError):
        client.models.list()


def test_openai_sdk_in_stream_error(oai: openai.OpenAI, openai_fake: FakeOpenAI) -> None:
    openai_fake.script(Fault.error_event(code="server_error", after=1))
    with pytest.raises(openai.APIError):
        list(oai.chat.completions.create(model="m", messages=MESSAGES, stream=True))


def test_openai_sdk_against_azure_v1(azure_fake: FakeOpenAI) -> None:
    with openai.OpenAI(base_url=azure_fake.base_url, api_key=TEST_KEY, max_retries=0) as c:
        done = c.chat.completions.create(model="my-deployment", messages=MESSAGES)
    assert done.choices[0].message.content == azure_fake.reply
    assert azure_fake.requests[-1].path == "/openai/v1/chat/completions"


async def test_our_openai_client_agrees_with_the_sdk(
    oai: openai.OpenAI, openai_fake: FakeOpenAI, providers: Providers
) -> None:
    text, done = await ours(providers, "openai", openai_fake, "gpt-4o-mini")
    assert text == REPLY
    assert done.usage == USAGE
    sdk_body = openai_fake.requests[-1].json
    assert sdk_body["stream_options"] == {"include_usage": True}


# ----- Anthropic ---------------------------------------------------------------------------

ANTHROPIC_USAGE = Usage(
    input_tokens=1200, output_tokens=345, cache_read_tokens=200, cache_write_tokens=100
)


@pytest.fixture
def ant(anthropic_fake: FakeAnthropic) -> Iterator[anthropic.Anthropic]:
    anthropic_fake.reply, anthropic_fake.usage = REPLY, ANTHROPIC_USAGE
    with anthropic.Anthropic(
        base_url=anthropic_fake.base_url, api_key=TEST_KEY, max_retries=0
    ) as c:
        yield c


def test_anthropic_sdk_streaming_with_usage(ant: anthropic.Anthropic) -> None:
    with ant.messages.stream(model="claude-fake-1", max_tokens=100, messages=MESSAGES) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == REPLY
    assert final.stop_reason == "end_turn"
    u = final.usage
    assert (u.input_tokens, u.cache_read_input_tokens, u.cache_creation_input_tokens) == (
        900,
        200,
        100,
    )
    assert u.output_tokens == 345


def test_anthropic_sdk_non_streaming_and_models(ant: anthropic.Anthropic) -> None:
    msg = ant.messages.create(model="claude-fake-1", max_tokens=100, messages=MESSAGES)
    assert msg.content[0].type == "text" and msg.content[0].text == REPLY
    assert msg.usage.output_tokens == 345
    assert [m.id for m in ant.models.list()] == ["claude-sonnet-4-5", "claude-haiku-4-5"]


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.http_status(400), anthropic.BadRequestError),
        (Fault.http_status(401), anthropic.AuthenticationError),
        (Fault.http_status(402), anthropic.PaymentRequiredError),
        (Fault.http_status(403), anthropic.PermissionDeniedError),
        (Fault.http_status(404), anthropic.NotFoundError),
        (Fault.http_status(413), anthropic.ContentTooLargeError),
        (Fault.http_status(429, headers={"retry-after": "20"}), anthropic.RateLimitError),
        (Fault.http_status(500), anthropic.InternalServerError),
        (Fault.http_status(529), anthropic.OverloadedError),
    ],
)
def test_anthropic_sdk_error_classes(
    ant: anthropic.Anthropic, anthropic_fake: FakeAnthropic, fault: Fault, error: type[Exception]
) -> None:
    anthropic_fake.script(fault)
    with pytest.raises(error):
        ant.messages.create(model="claude-fake-1", max_tokens=10, messages=MESSAGES)


def test_anthropic_sdk_error_event_after_200(
    ant: anthropic.Anthropic, anthropic_fake: FakeAnthropic
) -> None:
    anthropic_fake.script(Fault.error_event(code="overloaded_error", after=1))
    stream = ant.messages.stream(model="claude-fake-1", max_tokens=10, messages=MESSAGES)
    with pytest.raises(anthropic.APIStatusError) as info, stream as s:
        "".join(s.text_stream)
    body = info.value.body
    assert isinstance(body, dict) and body["error"]["type"] == "overloaded_error"


def test_anthropic_sdk_wrong_key(anthropic_fake: FakeAnthropic) -> None:
    client = anthropic.Anthropic(base_url=anthropic_fake.base_url, api_key="no", max_retries=0)
    with client, pytest.raises(anthropic.AuthenticationError):
        client.models.list()


async def test_our_anthropic_client_agrees_with_the_sdk(
    ant: anthropic.Anthropic, anthropic_fake: FakeAnthropic, providers: Providers
) -> None:
    text, done = await ours(providers, "anthropic", anthropic_fake, "claude-fake-1")
    assert text == REPLY
    assert done.usage == ANTHROPIC_USAGE
    assert done.finish_reason == "end_turn"


# ----- Gemini ------------------------------------------------------------------------------


@pytest.fixture
def gem(gemini_fake: FakeGemini) -> genai.Client:
    gemini_fake.reply, gemini_fake.usage = REPLY, USAGE
    options = genai_types.HttpOptions(base_url=gemini_fake.base_url, api_version="v1beta")
    return genai.Client(api_key=TEST_KEY, http_options=options)


def test_gemini_sdk_streaming_with_usage(gem: genai.Client, gemini_fake: FakeGemini) -> None:
    chunks = list(gem.models.generate_content_stream(model="gemini-2.5-flash", contents="hi"))
    assert "".join(c.text or "" for c in chunks) == REPLY
    meta = chunks[-1].usage_metadata
    assert meta is not None
    assert meta.prompt_token_count == 1200
    assert meta.candidates_token_count == 300
    assert meta.thoughts_token_count == 45
    assert meta.cached_content_token_count == 200
    sent = gemini_fake.requests[-1]
    assert sent.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    assert sent.query.get("alt") == "sse"
    assert sent.headers["x-goog-api-key"] == TEST_KEY


def test_gemini_sdk_non_streaming_and_models(gem: genai.Client) -> None:
    done = gem.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert done.text == REPLY
    names = [m.name for m in gem.models.list()]
    assert names == ["models/gemini-2.5-flash", "models/gemini-2.5-pro"]


@pytest.mark.parametrize(
    ("fault", "error", "code"),
    [
        (Fault.http_status(400, code="API_KEY_INVALID"), genai_errors.ClientError, 400),
        (Fault.http_status(403), genai_errors.ClientError, 403),
        (Fault.http_status(404), genai_errors.ClientError, 404),
        (Fault.http_status(429), genai_errors.ClientError, 429),
        (Fault.http_status(500), genai_errors.ServerError, 500),
        (Fault.http_status(503), genai_errors.ServerError, 503),
    ],
)
def test_gemini_sdk_error_classes(
    gem: genai.Client,
    gemini_fake: FakeGemini,
    fault: Fault,
    error: type[genai_errors.APIError],
    code: int,
) -> None:
    gemini_fake.script(fault, times=10)
    with pytest.raises(error) as info:
        gem.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert info.value.code == code


def test_gemini_sdk_wrong_key_is_400_api_key_invalid(gemini_fake: FakeGemini) -> None:
    options = genai_types.HttpOptions(base_url=gemini_fake.base_url, api_version="v1beta")
    client = genai.Client(api_key="wrong", http_options=options)
    with pytest.raises(genai_errors.ClientError) as info:
        client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert info.value.code == 400 and info.value.status == "INVALID_ARGUMENT"
    assert "API_KEY_INVALID" in str(info.value.details)


async def test_our_gemini_client_agrees_with_the_sdk(
    gem: genai.Client, gemini_fake: FakeGemini, providers: Providers
) -> None:
    text, done = await ours(providers, "gemini", gemini_fake, "gemini-2.5-flash")
    assert text == REPLY
    assert done.usage == USAGE
    # Same URL shape and header as the SDK used.
    list(gem.models.generate_content_stream(model="gemini-2.5-flash", contents="hi"))
    ours_req, sdk_req = gemini_fake.requests[-2], gemini_fake.requests[-1]
    assert ours_req.path == sdk_req.path and ours_req.query == sdk_req.query
    assert ours_req.headers["x-goog-api-key"] == sdk_req.headers["x-goog-api-key"]
