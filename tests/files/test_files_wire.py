"""Images and PDFs on the wire: the official SDKs and our clients send them alike to the fakes.

The fakes check content parts the way the real APIs do (tests/fakes/content.py), so a
fake that accepts what the SDK builds, and our client's request read back byte for byte,
show that our wire formats are the providers' own.
"""

from __future__ import annotations

import base64
from typing import Any

import anthropic
import openai
import pytest
from google import genai
from google.genai import types as genai_types

from bot.providers import Providers
from bot.providers.parts import json_body
from bot.providers.types import Attachment, ChatMessage, ChatRequest, Completion
from tests.fakes.content import anthropic_files, gemini_files, openai_files
from tests.fakes.fixtures import *  # noqa: F403
from tests.fakes.fixtures import TEST_KEY, key_for
from tests.fakes.providers import FakeAnthropic, FakeGemini, FakeOpenAI
from tests.kits.filekit import image, pdf

PNG = image("PNG", size=(40, 30))
PDF = pdf(["Quarterly figures", "Second page"])
B64_PNG = base64.b64encode(PNG).decode()
B64_PDF = base64.b64encode(PDF).decode()


def _request(model: str) -> ChatRequest:
    parts = (
        Attachment("image", "image/png", PNG, name="shot.png", width=40, height=30),
        Attachment("pdf", "application/pdf", PDF, name="figures.pdf", text="Quarterly", pages=2),
    )
    message = ChatMessage("user", "What do these show?", parts=parts)
    return ChatRequest(model=model, messages=(message,))


async def _send(p: Providers, provider: str, fake: Any, model: str) -> None:
    items = [i async for i in p.stream_chat(key_for(provider, fake), _request(model))]
    assert isinstance(items[-1], Completion)


def test_json_body_splices_base64_exactly() -> None:
    from bot.providers.parts import Blob

    data = bytes(range(256)) * 8000  # several base64 slices
    body = bytes(json_body({"a": [Blob("data:x/y;base64,", data), "t"], "n": 1}))
    assert body == b'{"a": ["data:x/y;base64,' + base64.b64encode(data) + b'", "t"], "n": 1}'
    # User text that spells a marker cannot be mistaken for one (the marker is random).
    assert json_body({"t": "0000"}) == b'{"t": "0000"}'


def test_openai_sdk_image_and_file_parts_accepted(openai_fake: FakeOpenAI) -> None:
    with openai.OpenAI(base_url=openai_fake.base_url, api_key=TEST_KEY, max_retries=0) as c:
        c.chat.completions.create(
            model="gpt-4o",
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this?"},
                        {
                            "type": "image_url",
                            "image_url": {"url": f"data:image/png;base64,{B64_PNG}"},
                        },
                        {
                            "type": "file",
                            "file": {
                                "filename": "f.pdf",
                                "file_data": f"data:application/pdf;base64,{B64_PDF}",
                            },
                        },
                    ],
                }
            ],
        )
    sent = openai_files(openai_fake.chat_requests[-1].json)
    assert [(f.kind, f.mime, f.data) for f in sent] == [
        ("image", "image/png", PNG),
        ("document", "application/pdf", PDF),
    ]


def test_anthropic_sdk_image_and_document_blocks_accepted(anthropic_fake: FakeAnthropic) -> None:
    with anthropic.Anthropic(
        base_url=anthropic_fake.base_url, api_key=TEST_KEY, max_retries=0
    ) as c:
        c.messages.create(
            model="claude-opus-4-1",
            max_tokens=100,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {
                                "type": "base64",
                                "media_type": "image/png",
                                "data": B64_PNG,
                            },
                        },
                        {
                            "type": "document",
                            "source": {
                                "type": "base64",
                                "media_type": "application/pdf",
                                "data": B64_PDF,
                            },
                        },
                        {"type": "text", "text": "What is this?"},
                    ],
                }
            ],
        )
    sent = anthropic_files(anthropic_fake.chat_requests[-1].json)
    assert [(f.kind, f.data) for f in sent] == [("image", PNG), ("document", PDF)]


def test_gemini_sdk_inline_data_accepted(gemini_fake: FakeGemini) -> None:
    options = genai_types.HttpOptions(base_url=gemini_fake.base_url, api_version="v1beta")
    client = genai.Client(api_key=TEST_KEY, http_options=options)
    contents: Any = [
        genai_types.Part.from_bytes(data=PNG, mime_type="image/png"),
        genai_types.Part.from_bytes(data=PDF, mime_type="application/pdf"),
        "What is this?",
    ]
    client.models.generate_content(model="gemini-2.5-flash", contents=contents)
    sent = gemini_files(gemini_fake.chat_requests[-1].json)
    assert [(f.mime, f.data) for f in sent] == [("image/png", PNG), ("application/pdf", PDF)]


def test_fakes_refuse_broken_parts(openai_fake: FakeOpenAI, anthropic_fake: FakeAnthropic) -> None:
    bad: Any = {"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@"}}
    block: Any = {"type": "image", "source": {"type": "base64", "data": B64_PNG}}
    oai = openai.OpenAI(base_url=openai_fake.base_url, api_key=TEST_KEY, max_retries=0)
    ant = anthropic.Anthropic(base_url=anthropic_fake.base_url, api_key=TEST_KEY, max_retries=0)
    with oai, ant:
        with pytest.raises(openai.BadRequestError):
            oai.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": [bad]}]
            )
        with pytest.raises(anthropic.BadRequestError):
            content: Any = [{"role": "user", "content": [block]}]
            ant.messages.create(model="m", max_tokens=5, messages=content)


async def test_our_openai_client_sends_image_and_file_parts(
    openai_fake: FakeOpenAI, providers: Providers
) -> None:
    await _send(providers, "openai", openai_fake, "gpt-4o")
    body = openai_fake.chat_requests[-1].json
    sent = openai_files(body)
    assert [(f.kind, f.mime, f.data, f.filename) for f in sent] == [
        ("image", "image/png", PNG, None),
        ("document", "application/pdf", PDF, "figures.pdf"),
    ]
    assert body["messages"][-1]["content"][-1] == {"type": "text", "text": "What do these show?"}


async def test_compatible_server_gets_image_parts_and_pdf_text(
    other_openai_fake: FakeOpenAI, providers: Providers
) -> None:
    await _send(providers, "openai-compatible", other_openai_fake, "qwen2.5-vl-72b")
    body = other_openai_fake.chat_requests[-1].json
    assert [(f.kind, f.data) for f in openai_files(body)] == [("image", PNG)]
    texts = [p["text"] for p in body["messages"][-1]["content"] if p["type"] == "text"]
    assert texts == ["Attached file figures.pdf:\nQuarterly", "What do these show?"]


async def test_our_anthropic_client_sends_image_and_document_blocks(
    anthropic_fake: FakeAnthropic, providers: Providers
) -> None:
    await _send(providers, "anthropic", anthropic_fake, "claude-sonnet-4-5")
    sent = anthropic_files(anthropic_fake.chat_requests[-1].json)
    assert [(f.kind, f.mime, f.data) for f in sent] == [
        ("image", "image/png", PNG),
        ("document", "application/pdf", PDF),
    ]


async def test_our_gemini_client_sends_inline_data(
    gemini_fake: FakeGemini, providers: Providers
) -> None:
    await _send(providers, "gemini", gemini_fake, "gemini-2.5-flash")
    body = gemini_fake.chat_requests[-1].json
    assert [(f.mime, f.data) for f in gemini_files(body)] == [
        ("image/png", PNG),
        ("application/pdf", PDF),
    ]
    assert body["contents"][-1]["parts"][-1] == {"text": "What do these show?"}
