"""Attached files downloaded into memory: allowed origins only, no redirects, a byte cap.

Slack and Discord both hand the core an `IncomingFile` whose fetcher ends here. The
declared size is checked before any request, the URL's origin (scheme, host, port) must
be one the settings allow, a redirect is an error (never followed, so a credential
cannot travel to another host), and the body is read in chunks and cut at the limit.
Nothing is written to disk, and neither a file's name nor its URL (which holds the
name) is logged or put into an error.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import aiohttp
import yarl

from bot.errors import FileRefused, FileTooLarge

logger = logging.getLogger(__name__)

Origin = tuple[str, str, int]  # scheme, lower-case host, port
CHUNK_BYTES = 64 * 1024
TIMEOUT = aiohttp.ClientTimeout(total=120, sock_connect=10, sock_read=30)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> Origin | None:
    """The origin of an absolute http(s) URL without credentials, or None."""
    try:
        parsed = yarl.URL(url)
    except (TypeError, ValueError):
        return None
    scheme = parsed.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parsed.host or parsed.user or parsed.password:
        return None
    return scheme, parsed.host.lower(), parsed.explicit_port or _DEFAULT_PORTS[scheme]


def size_line(limit: int) -> str:
    """The one line for a file over `limit` bytes (in MB as people count them)."""
    mib = 1024 * 1024
    shown = limit // mib if limit % mib == 0 else round(limit / 1_000_000, 1)
    return f"A file is over the {shown} MB limit and was not sent."


async def download(
    session: aiohttp.ClientSession | None,
    url: str,
    *,
    allowed: frozenset[Origin],
    limit: int,
    declared: int,
    platform: str,
    headers: Mapping[str, str] | None = None,
) -> bytes:
    """At most `limit` bytes of `url`, in memory; `FileRefused` for anything else.

    `headers` (a credential) go out only once the origin is known to be allowed, and
    only in this one request: redirects are refused, not followed.
    """
    if declared > limit:
        raise FileTooLarge(size_line(limit), limit=limit)
    if not url:
        raise FileRefused("A file is not available for download.", reason="unavailable")
    if origin_of(url) not in allowed:
        logger.warning("a %s file on a host that is not the platform's was not fetched", platform)
        raise FileRefused(
            f"A file that is not on {platform.title()}'s file host was not fetched.",
            reason="foreign_host",
        )
    if session is None or session.closed:
        raise FileRefused("The file could not be downloaded right now.", reason="unavailable")
    try:
        async with session.get(
            yarl.URL(url),
            headers=dict(headers or {}),
            allow_redirects=False,
            timeout=TIMEOUT,
        ) as response:
            if response.status != 200:
                logger.warning("a %s file download answered HTTP %d", platform, response.status)
                raise FileRefused(
                    f"A file could not be downloaded from {platform.title()} "
                    f"(HTTP {response.status}).",
                    reason="unavailable",
                )
            length = response.content_length
            if length is not None and length > limit:
                raise FileTooLarge(size_line(limit), limit=limit)
            body = bytearray()
            async for chunk in response.content.iter_chunked(CHUNK_BYTES):
                if len(body) + len(chunk) > limit:
                    # The platform declared less than it sends: stop reading here.
                    logger.warning("a %s file was larger than declared; cut", platform)
                    raise FileTooLarge(size_line(limit), limit=limit)
                body += chunk
            return bytes(body)
    except (aiohttp.ClientError, TimeoutError) as exc:
        logger.warning("a %s file download failed (%s)", platform, type(exc).__name__)
        raise FileRefused(
            f"A file could not be downloaded from {platform.title()}.", reason="unavailable"
        ) from None
