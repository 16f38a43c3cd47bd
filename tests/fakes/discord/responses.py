"""Discord's answers as the fake writes them: JSON bodies, errors, 429s, attachments."""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import web

from tests.fakes.discord.records import Upload
from tests.fakes.discord_gateway import next_id


def json_response(data: Any, *, status: int = 200) -> web.Response:
    """A JSON answer."""
    # discord.py parses a body as JSON only for exactly "application/json" (no charset).
    return web.Response(
        body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"}
    )


def error_response(status: int, code: int, message: str) -> web.Response:
    """Discord's error body: `{"message", "code"}`."""
    return json_response({"message": message, "code": code}, status=status)


def rate_limited(retry_after: float, is_global: bool) -> web.Response:
    """Discord's 429: JSON body with `retry_after` (seconds), the X-RateLimit-* headers, and
    `Via` (a 429 without it is Cloudflare's, which discord.py does not retry)."""
    seconds = round(max(retry_after, 0.001), 3)
    headers = {
        "Content-Type": "application/json",
        "Retry-After": str(max(1, round(seconds))),
        "Via": "1.1 google",
        "X-RateLimit-Limit": "5",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": f"{time.time() + seconds:.3f}",
        "X-RateLimit-Reset-After": f"{seconds:.3f}",
        "X-RateLimit-Bucket": "fake-bucket-0001",
        "X-RateLimit-Scope": "global" if is_global else "user",
    }
    if is_global:
        headers["X-RateLimit-Global"] = "true"
    body = {"message": "You are being rate limited.", "retry_after": seconds, "global": is_global}
    return web.Response(body=json.dumps(body).encode(), status=429, headers=headers)


def attachments(body: dict[str, Any], files: list[Upload]) -> list[dict[str, Any]]:
    """The attachment objects Discord returns for a message's uploaded `files[n]` parts."""
    described = {str(a.get("id")): a for a in body.get("attachments") or []}
    out = []
    for upload in files:
        index = upload.field.removeprefix("files[").removesuffix("]")
        meta = described.get(index, {})
        name = meta.get("filename") or upload.filename
        url = f"https://cdn.discordapp.com/attachments/0/{next_id()}/{name}"
        out.append(
            {
                "id": str(next_id()),
                "filename": name,
                "size": len(upload.content),
                "url": url,
                "proxy_url": url,
                "content_type": upload.content_type,
                **({"description": meta["description"]} if meta.get("description") else {}),
            }
        )
    return out


async def read_body(request: web.Request) -> tuple[Any, list[Upload]]:
    """A request's JSON body (or multipart `payload_json`) and its uploaded files."""
    if request.content_type.startswith("multipart/"):
        body: Any = None
        files: list[Upload] = []
        reader = await request.multipart()
        async for part in reader:
            if part.name == "payload_json":  # type: ignore[union-attr]
                body = json.loads(await part.text())  # type: ignore[union-attr]
            elif part.filename:  # type: ignore[union-attr]
                files.append(
                    Upload(
                        field=str(part.name),  # type: ignore[union-attr]
                        filename=part.filename,  # type: ignore[union-attr]
                        content_type=part.headers.get("Content-Type", ""),  # type: ignore[union-attr]
                        content=bytes(await part.read()),  # type: ignore[union-attr]
                    )
                )
        return body, files
    raw = await request.read()
    try:
        return (json.loads(raw) if raw else None), []
    except ValueError:
        return None, []
