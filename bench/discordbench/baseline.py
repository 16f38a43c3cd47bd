"""The baseline of `bench/discord.py`: the least a Discord bot must do per mention.

    python -m bench.discordbench.baseline

A minimal gateway client on aiohttp, no discord.py: it asks `GET /gateway/bot` for the
gateway's address, connects, IDENTIFYs (guild messages + message content intents),
heartbeats, and answers each MESSAGE_CREATE from a human that mentions it with one REST
call, a reply created whole (`POST /channels/{id}/messages`, `allowed_mentions` none,
kept-alive connections). No cache of guilds or members, no database, no provider, no
streaming, no resume. Environment: `DISCORD_BOT_TOKEN`, `BYOKBOT_DISCORD_API_URL`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from typing import Any

import aiohttp

REPLY = "OK, done."
INTENTS = (1 << 0) | (1 << 9) | (1 << 15)  # guilds, guild messages, message content

logger = logging.getLogger(__name__)


class Baseline:
    """The client's state: REST session, own user id, last sequence, answers in flight."""

    def __init__(self, *, token: str, api_url: str) -> None:
        self.token = token
        self.api_url = api_url.rstrip("/")
        self.me: str | None = None
        self.seq: int | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        """Connect, identify, and answer until the gateway closes the connection."""
        headers = {"Authorization": f"Bot {self.token}"}
        async with aiohttp.ClientSession(headers=headers) as session:
            async with session.get(f"{self.api_url}/gateway/bot") as response:
                url = str((await response.json())["url"])
            async with session.ws_connect(f"{url}?v=10&encoding=json") as ws:
                hello = json.loads(await ws.receive_str())
                beat = asyncio.create_task(self.heartbeat(ws, hello["d"]["heartbeat_interval"]))
                identify = {
                    "token": self.token,
                    "intents": INTENTS,
                    "properties": {"os": "linux", "browser": "baseline", "device": "baseline"},
                }
                await ws.send_str(json.dumps({"op": 2, "d": identify}))
                async for frame in ws:
                    if frame.type == aiohttp.WSMsgType.TEXT:
                        self.on_payload(session, json.loads(frame.data))
                beat.cancel()

    async def heartbeat(self, ws: aiohttp.ClientWebSocketResponse, interval_ms: float) -> None:
        """op 1 with the last sequence number, every interval."""
        while True:
            await asyncio.sleep(interval_ms / 1000)
            await ws.send_str(json.dumps({"op": 1, "d": self.seq}))

    def on_payload(self, session: aiohttp.ClientSession, payload: dict[str, Any]) -> None:
        """Track READY and the sequence; answer mentions in the background."""
        if payload.get("s") is not None:
            self.seq = int(payload["s"])
        if payload.get("op") != 0:
            return
        data = payload["d"]
        if payload["t"] == "READY":
            self.me = str(data["user"]["id"])
        elif payload["t"] == "MESSAGE_CREATE" and self.mentioned(data):
            task = asyncio.create_task(self.answer(session, data))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    def mentioned(self, data: dict[str, Any]) -> bool:
        """A human's message that mentions this bot."""
        mentions = data.get("mentions") or []
        return not data["author"].get("bot") and any(str(u.get("id")) == self.me for u in mentions)

    async def answer(self, session: aiohttp.ClientSession, data: dict[str, Any]) -> None:
        """One reply created whole."""
        channel = data["channel_id"]
        body = {
            "content": REPLY,
            "message_reference": {
                "message_id": data["id"],
                "channel_id": channel,
                "guild_id": data.get("guild_id"),
                "fail_if_not_exists": False,
            },
            "allowed_mentions": {"parse": []},
        }
        url = f"{self.api_url}/channels/{channel}/messages"
        try:
            async with session.post(url, json=body) as response:
                await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            logger.warning("could not answer (%s)", type(exc).__name__)


def main() -> int:
    """Run until the gateway connection ends (or the process is terminated)."""
    logging.basicConfig(level=logging.WARNING)
    baseline = Baseline(
        token=os.environ["DISCORD_BOT_TOKEN"], api_url=os.environ["BYOKBOT_DISCORD_API_URL"]
    )
    asyncio.run(baseline.run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
