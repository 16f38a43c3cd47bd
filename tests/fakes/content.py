"""Content parts of a chat request as each provider's API defines them, checked and decoded.

The fakes refuse (400) a request whose images or documents a real provider would refuse:
an unknown part type, a `data:` URL that is not base64, a base64 source without a media
type. Tests read back what was sent — kind, media type, the decoded bytes, the filename.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Any

_DATA_URL = re.compile(r"data:(?P<mime>[\w.+-]+/[\w.+-]+);base64,(?P<data>.*)", re.S)
_OPENAI_TEXT_TYPES = {"text"}


class BadContent(ValueError):
    """A content part the real provider would refuse."""


@dataclass(frozen=True, slots=True)
class SentFile:
    """One image or document as the provider received it."""

    kind: str  # image | document | inline
    mime: str
    data: bytes = field(repr=False)
    filename: str | None = None


def _b64(text: Any, *, urlsafe: bool = False) -> bytes:
    if not isinstance(text, str):
        raise BadContent("base64 data must be a string")
    try:
        if urlsafe and ("-" in text or "_" in text):
            return base64.urlsafe_b64decode(text)
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadContent("invalid base64") from exc


def _data_url(url: Any) -> tuple[str, bytes]:
    match = _DATA_URL.fullmatch(url) if isinstance(url, str) else None
    if match is None:
        raise BadContent("not a base64 data URL")
    return match.group("mime"), _b64(match.group("data"))


def openai_files(body: Any) -> list[SentFile]:
    """The images and files of a Chat Completions request (raises `BadContent`)."""
    found: list[SentFile] = []
    for message in (body or {}).get("messages", []):
        content = message.get("content")
        if isinstance(content, str) or content is None:
            continue
        for part in content:
            kind = part.get("type")
            if kind in _OPENAI_TEXT_TYPES:
                if not isinstance(part.get("text"), str):
                    raise BadContent("text part without text")
            elif kind == "image_url":
                url = (part.get("image_url") or {}).get("url")
                if isinstance(url, str) and url.startswith("https://"):
                    continue
                mime, data = _data_url(url)
                found.append(SentFile("image", mime, data))
            elif kind == "file":
                file = part.get("file") or {}
                mime, data = _data_url(file.get("file_data"))
                found.append(SentFile("document", mime, data, file.get("filename")))
            else:
                raise BadContent(f"unknown content part type {kind!r}")
    return found


def anthropic_files(body: Any) -> list[SentFile]:
    """The image and document blocks of a Messages API request (raises `BadContent`)."""
    found: list[SentFile] = []
    for message in (body or {}).get("messages", []):
        content = message.get("content")
        if isinstance(content, str):
            continue
        if not content:
            raise BadContent("empty content")
        for block in content:
            kind = block.get("type")
            if kind == "text":
                if not block.get("text"):
                    raise BadContent("text content blocks must be non-empty")
            elif kind in ("image", "document"):
                source = block.get("source") or {}
                if source.get("type") != "base64" or not source.get("media_type"):
                    raise BadContent("a base64 source needs media_type and data")
                data = _b64(source.get("data"))
                found.append(SentFile(kind, source["media_type"], data))
            else:
                raise BadContent(f"unknown content block type {kind!r}")
    return found


def gemini_files(body: Any) -> list[SentFile]:
    """The `inlineData` parts of a Gemini request (either key spelling; raises `BadContent`)."""
    found: list[SentFile] = []
    for content in (body or {}).get("contents", []):
        for part in content.get("parts") or []:
            inline = part.get("inlineData") or part.get("inline_data")
            if inline is None:
                if "text" not in part:
                    raise BadContent("a part needs text or inline data")
                continue
            mime = inline.get("mimeType") or inline.get("mime_type")
            if not mime:
                raise BadContent("inline data without a media type")
            found.append(SentFile("inline", mime, _b64(inline.get("data"), urlsafe=True)))
    return found
