"""What the fake Discord records and scripts: REST calls, uploads, CDN files, failures."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TOKEN = "fake-discord-bot-token"
EPHEMERAL = 1 << 6
DEFERRED = 5
MODAL = 9
PREFIX = "/api/v10"
GATEWAY_PATH = "/gateway"  # what GET /gateway/bot names
RESUME_PATH = "/gateway-resume"  # the session's resume_gateway_url
CDN_PATH = "/attachments"  # attachments, as cdn.discordapp.com serves them


@dataclass
class Upload:
    """One file part of a multipart request: form field (`files[0]`), file name, bytes."""

    field: str
    filename: str
    content_type: str
    content: bytes


@dataclass
class Call:
    """One REST request: method, path after the API prefix, JSON body, uploads, our status."""

    method: str
    path: str
    body: Any
    files: list[Upload] = field(default_factory=list)
    authorization: str = ""
    at: float = 0.0  # time.monotonic() when it arrived
    status: int = 200


@dataclass
class CdnFile:
    """An attachment the fake CDN serves: bytes, or a generated body of `length` bytes."""

    content: bytes = b""
    length: int | None = None
    served: int = 0  # bytes written so far


@dataclass(frozen=True)
class CdnRequest:
    """One request to the fake CDN: its path and the Authorization header (None: none)."""

    path: str
    authorization: str | None


@dataclass
class RateLimit:
    """A scripted 429 for the next `times` calls of `method` on paths starting with `prefix`."""

    method: str
    prefix: str
    times: int
    retry_after: float
    is_global: bool = False
    until: float = 0.0  # while the bucket is exhausted, early retries get 429 too


@dataclass
class Failure:
    """A scripted error answer for the next `times` matching calls (uploads only, if set)."""

    method: str
    prefix: str
    status: int
    code: int
    message: str
    times: int
    uploads_only: bool = False
