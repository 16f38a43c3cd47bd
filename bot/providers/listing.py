"""A key's list-models call read into model ids (OpenAI, Anthropic and Gemini formats).

The listing is the same authenticated GET that verifies a key; here its body is kept
(up to 8 MiB) and read: ``data[].id`` (OpenAI and compatible servers, Azure, Anthropic)
or ``models[].name`` without its ``models/`` prefix (Gemini, only models that can
``generateContent``). Ids are the provider's text, so odd ones (spaces, control
characters, over 200 characters) are dropped rather than shown.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from contextlib import aclosing

import httpx

from bot.errors import MalformedResponse, ModelNotFound
from bot.providers.failures import load_json
from bot.providers.http import Caller, WireCall
from bot.providers.types import KeySpec, StreamItem
from bot.providers.wire import WireClient, not_found_base

MAX_LISTING_BYTES = 8 * 1024 * 1024
MAX_MODEL_ID = 200


def _usable_id(value: object) -> str | None:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_MODEL_ID:
        return None
    return value if value.isprintable() and not any(c.isspace() for c in value) else None


def model_ids(body: object) -> list[str] | None:
    """The ids in a listing body, sorted and unique; None if it is no model listing."""
    if not isinstance(body, dict):
        return None
    found: set[str] = set()
    if isinstance(body.get("data"), list):
        for item in body["data"]:
            model = _usable_id(item.get("id")) if isinstance(item, dict) else None
            if model is not None:
                found.add(model)
    elif isinstance(body.get("models"), list):
        for item in body["models"]:
            if not isinstance(item, dict):
                continue
            methods = item.get("supportedGenerationMethods")
            if isinstance(methods, list) and "generateContent" not in methods:
                continue  # embeddings and the like: no agent can chat with them
            name = item.get("name")
            model = _usable_id(name.removeprefix("models/") if isinstance(name, str) else None)
            if model is not None:
                found.add(model)
    elif body:
        return None
    return sorted(found)


class ModelIdsBody:
    """Parser for a listing answer: buffers the body, then reads the ids into `into`."""

    def __init__(self, provider: str, into: list[str]) -> None:
        self._provider = provider
        self._into = into
        self._body = bytearray()

    def _malformed(self) -> MalformedResponse:
        return MalformedResponse(
            f"{self._provider}: the model list could not be read", provider=self._provider
        )

    def feed(self, chunk: bytes) -> list[StreamItem]:
        """Buffer the chunk (a listing larger than 8 MiB is refused)."""
        self._body += chunk
        if len(self._body) > MAX_LISTING_BYTES:
            raise self._malformed()
        return []

    def finish(self) -> list[StreamItem]:
        """Read the ids; MalformedResponse if the body is not a model listing."""
        ids = model_ids(load_json(bytes(self._body)))
        if ids is None:
            raise self._malformed()
        self._into[:] = ids
        return []


def listing_call(client: WireClient, key: KeySpec, into: list[str]) -> WireCall:
    """The family's model-listing GET, one page as large as the provider allows."""
    call = client.models_call(key)
    url: httpx.URL = call.url
    if client.models_query:
        url = url.copy_merge_params(dict(client.models_query))
    provider = call.provider
    return dataclasses.replace(call, url=url, parser=lambda h: ModelIdsBody(provider, into))


async def run_listing(caller: Caller, make_call: Callable[[], Awaitable[WireCall]]) -> None:
    """Run a listing to completion (its parser fills the ids); a 404 means a wrong base URL."""
    failure: ModelNotFound | None = None
    try:
        async with aclosing(caller.stream(make_call)) as items:
            async for _ in items:
                pass
    except ModelNotFound as exc:
        failure = exc
    if failure is not None:
        raise not_found_base(failure)
