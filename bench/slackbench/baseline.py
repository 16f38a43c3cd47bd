"""The baseline of `bench/slack.py`: the least a Slack bot must do per `app_mention`.

    python -m bench.slackbench.baseline --port-file FILE

A bare aiohttp app on 127.0.0.1 (port 0) with one route, `POST /slack/events`: it checks
the v0 signature (timestamp within five minutes, HMAC-SHA256, constant-time compare),
acknowledges with 200 at once and answers each `app_mention` in its thread with one
`chat.postMessage` to the Web API at `SLACK_API_URL` (kept-alive connections). No
database, no provider, no streaming. Environment: `SLACK_SIGNING_SECRET`,
`SLACK_BOT_TOKEN`, `SLACK_API_URL` (ending with '/').
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

REPLY = "OK, done."


def signature_ok(secret: bytes, request_headers: Any, body: bytes) -> bool:
    """Slack's v0 check: a fresh timestamp and a matching HMAC of `v0:<ts>:<body>`."""
    ts = request_headers.get("X-Slack-Request-Timestamp", "")
    given = request_headers.get("X-Slack-Signature", "")
    if not ts.isdigit() or abs(time.time() - int(ts)) > 300:
        return False
    digest = hmac.new(secret, b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest("v0=" + digest, given)


class Baseline:
    """The app's state: secret, Web API session and the answers in flight."""

    def __init__(self, *, secret: str, token: str, api_url: str) -> None:
        self.secret = secret.encode()
        self.api_url = api_url
        self.headers = {"Authorization": f"Bearer {token}"}
        self.session: aiohttp.ClientSession | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def events(self, request: web.Request) -> web.Response:
        """Verify, acknowledge, and answer in the background."""
        body = await request.read()
        if not signature_ok(self.secret, request.headers, body):
            return web.Response(status=401)
        payload = json.loads(body)
        if payload.get("type") == "url_verification":
            return web.json_response({"challenge": payload.get("challenge")})
        event = payload.get("event") or {}
        if event.get("type") == "app_mention":
            task = asyncio.create_task(self.answer(event))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return web.Response()

    async def answer(self, event: dict[str, Any]) -> None:
        """One `chat.postMessage` into the mention's thread."""
        assert self.session is not None
        message = {
            "channel": event.get("channel"),
            "thread_ts": event.get("thread_ts") or event.get("ts"),
            "text": REPLY,
        }
        async with self.session.post(
            self.api_url + "chat.postMessage", json=message, headers=self.headers
        ) as response:
            await response.read()


async def serve(port_file: Path) -> None:
    """Serve until cancelled (SIGTERM ends the process)."""
    app_state = Baseline(
        secret=os.environ["SLACK_SIGNING_SECRET"],
        token=os.environ["SLACK_BOT_TOKEN"],
        api_url=os.environ["SLACK_API_URL"],
    )
    app_state.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
    app = web.Application()
    app.router.add_post("/slack/events", app_state.events)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    partial = port_file.with_suffix(".partial")
    partial.write_text(str(port))
    partial.replace(port_file)  # whoever polls the file never reads half a number
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        await app_state.session.close()


def main() -> int:
    """Parse `--port-file` and serve."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port-file", type=Path, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.port_file))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
