"""Content parts on the wire: images and PDFs in each provider family's own format.

- OpenAI Chat Completions: `image_url` parts with a `data:` URL; PDFs as `file` parts
  (`file_data` a `data:` URL) on OpenAI itself, as their extracted text elsewhere.
- Anthropic Messages: `image` and `document` blocks with a base64 source.
- Gemini: `inlineData` parts (mimeType + base64 data).

Base64 payloads are spliced into the JSON body slice by slice as it is sent
(`JsonBody`) instead of going through `json.dumps` as giant strings: a file is held
once in memory, not four times (bytes, base64, JSON text, encoded body).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from bot.providers.types import Attachment, ChatMessage

JSONValue = object


@dataclass(frozen=True, slots=True)
class Blob:
    """A JSON string made of `prefix` and the base64 of `data`, encoded at the last moment."""

    prefix: str
    data: bytes


# Base64 is written a slice at a time: 3 * 256 KiB in, 1 MiB out (a multiple of 3 keeps
# every slice free of padding, so the slices concatenate to the whole encoding).
_SLICE = 3 * 256 * 1024


class JsonBody:
    """A JSON request body with files spliced in as base64, sent in slices.

    The whole body never exists as one string: the wire client streams it with an exact
    Content-Length, so a 20 MB file costs its bytes plus one slice of base64 in memory.
    Iterable again for each attempt of a retried call.
    """

    def __init__(self, pieces: list[bytes | Blob]) -> None:
        self._pieces = pieces

    def __len__(self) -> int:
        return sum(
            len(p) if isinstance(p, bytes) else len(p.prefix.encode()) + 4 * -(-len(p.data) // 3)
            for p in self._pieces
        )

    def slices(self) -> Iterator[bytes]:
        """The body, a slice at a time."""
        for piece in self._pieces:
            if isinstance(piece, bytes):
                yield piece
                continue
            yield piece.prefix.encode()
            view = memoryview(piece.data)
            for start in range(0, len(view), _SLICE):
                yield base64.b64encode(view[start : start + _SLICE])

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._aslices()

    async def _aslices(self) -> AsyncIterator[bytes]:
        for piece in self.slices():
            yield piece

    def __bytes__(self) -> bytes:
        return b"".join(self.slices())


def json_body(obj: JSONValue) -> bytes | JsonBody:
    """`obj` as UTF-8 JSON: bytes, or a `JsonBody` when it holds a `Blob` to splice in."""
    nonce = secrets.token_hex(12)  # a marker no user text can forge
    blobs: list[Blob] = []

    def swap(value: JSONValue) -> JSONValue:
        if isinstance(value, Blob):
            blobs.append(value)
            return f"{nonce}{len(blobs) - 1}{nonce}"
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [swap(v) for v in value]
        return value

    encoded = json.dumps(swap(obj), ensure_ascii=False).encode()
    if not blobs:
        return encoded
    marker = re.compile(nonce.encode() + rb"(\d+)" + nonce.encode())
    split = marker.split(encoded)
    pieces: list[bytes | Blob] = [
        blobs[int(piece)] if i % 2 else piece for i, piece in enumerate(split)
    ]
    return JsonBody(pieces)


def _data_url(part: Attachment) -> Blob:
    return Blob(f"data:{part.mime};base64,", part.data)


def _document_text(part: Attachment) -> str:
    return f"Attached file {part.name}:\n{part.text}"


def openai_content(message: ChatMessage, *, native_pdf: bool) -> JSONValue:
    """A Chat Completions message's `content`: the text, or parts when files come along."""
    if not message.parts:
        return message.text
    content: list[JSONValue] = []
    for part in message.parts:
        if part.kind == "image":
            content.append({"type": "image_url", "image_url": {"url": _data_url(part)}})
        elif native_pdf:
            file = {"filename": part.name or "document.pdf", "file_data": _data_url(part)}
            content.append({"type": "file", "file": file})
        else:
            content.append({"type": "text", "text": _document_text(part)})
    if message.text:
        content.append({"type": "text", "text": message.text})
    return content


def anthropic_content(message: ChatMessage) -> JSONValue:
    """A Messages API message's `content`: the text, or image/document blocks and the text."""
    if not message.parts:
        return message.text
    content: list[JSONValue] = []
    for part in message.parts:
        kind = "image" if part.kind == "image" else "document"
        source = {"type": "base64", "media_type": part.mime, "data": Blob("", part.data)}
        content.append({"type": kind, "source": source})
    if message.text:
        content.append({"type": "text", "text": message.text})
    return content


def gemini_parts(message: ChatMessage) -> list[JSONValue]:
    """A Gemini content's `parts`: `inlineData` for each file, then the text."""
    parts: list[JSONValue] = [
        {"inlineData": {"mimeType": part.mime, "data": Blob("", part.data)}}
        for part in message.parts
    ]
    if message.text or not parts:
        parts.append({"text": message.text})
    return parts
