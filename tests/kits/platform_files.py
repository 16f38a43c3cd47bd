"""What the platform file tests share: a real PNG, agents per provider family, wire decoding.

`png` makes a real image (`tests/kits/filekit.py`); `sent_images` reads the images a
provider request carries in each documented wire format: OpenAI Chat Completions
`image_url` parts with a `data:` URL, Anthropic `image` blocks with a base64 source,
Gemini `inlineData` (or `inline_data`) parts.
`assert_nowhere` checks a file name reached neither the log nor any database byte.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.fakes.server import FakeServer, RecordedRequest
from tests.kits.filekit import image
from tests.kits.secret_hunt import assert_absent, database_bytes

#: a vision model of each wire family, as agents are created with it
MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-5", "gemini": "gemini-2.5-flash"}
LIMIT = 20 * 1024 * 1024


def png(width: int = 3, height: int = 2) -> bytes:
    """A small, valid PNG; different sizes make different bytes."""
    return image("PNG", size=(width, height))


def create_family_agent(
    admin: Callable[[str], str], family: str, fake: FakeServer, *, name: str = "seer"
) -> None:
    """key add + agent create for `family` on `fake`, through real `/byok` commands."""
    reply = admin(f"key add {family} {name}-key test-key --base-url {fake.base_url} --no-verify")
    assert "stored" in reply, reply
    reply = admin(f"agent create {name} --key {name}-key --model {MODELS[family]}")
    assert "created" in reply, reply


def sent_images(family: str, request: RecordedRequest) -> list[tuple[str, bytes]]:
    """(media type, bytes) of every image in a provider request, in order."""
    body = request.json if isinstance(request.json, dict) else {}
    found: list[tuple[str, bytes]] = []
    if family == "openai":
        for message in body.get("messages") or []:
            for part in _parts(message.get("content")):
                if part.get("type") == "image_url":
                    url = str((part.get("image_url") or {}).get("url", ""))
                    head, _, data = url.partition(",")
                    assert head.startswith("data:") and head.endswith(";base64"), head
                    found.append((head[5:].removesuffix(";base64"), base64.b64decode(data)))
    elif family == "anthropic":
        for message in body.get("messages") or []:
            for part in _parts(message.get("content")):
                if part.get("type") == "image":
                    source = part.get("source") or {}
                    assert source.get("type") == "base64", source
                    found.append((source["media_type"], base64.b64decode(source["data"])))
    else:
        for content in body.get("contents") or []:
            for part in content.get("parts") or []:
                inline = part.get("inlineData") or part.get("inline_data")
                if inline:
                    mime = inline.get("mimeType") or inline.get("mime_type")
                    found.append((str(mime), base64.b64decode(inline["data"])))
    return found


def _parts(content: Any) -> list[dict[str, Any]]:
    return [p for p in content if isinstance(p, dict)] if isinstance(content, list) else []


def assert_nowhere(name: str, *, log: str, database_url: str) -> None:
    """`name` is in neither the process log nor any byte of the database."""
    assert name not in log, "a file name reached the log"
    assert_absent(database_bytes(database_url), [name], where="the database")


def tmp_entries(tmpdir: Path) -> list[str]:
    """Whatever the process left in its private TMPDIR."""
    return sorted(str(p.relative_to(tmpdir)) for p in tmpdir.rglob("*"))
