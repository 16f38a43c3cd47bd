"""A real fake of Discord on 127.0.0.1 (port 0): the REST API discord.py calls, and a gateway.

One aiohttp app in a background thread serves `/api/v10/...` (the base URL for
`BYOKBOT_DISCORD_API_URL`) and a websocket at `/gateway` speaking the gateway protocol in
plain JSON text frames: HELLO, IDENTIFY → READY + GUILD_CREATE, heartbeats, and
dispatches the test pushes (MESSAGE_CREATE, INTERACTION_CREATE). Every REST call is
recorded; channel messages are kept (created, edited) so tests can read what the bot shows.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.discord_gateway import (
    APP_ID,
    BOT_ID,
    World,
    app_info,
    channel,
    guild,
    member,
    next_id,
    registered,
    user,
    webhook_message,
)
from tests.fakes.loop_server import LoopServer

TOKEN = "fake-discord-bot-token"
EPHEMERAL = 1 << 6
DEFERRED = 5
MODAL = 9
PREFIX = "/api/v10"


@dataclass
class Call:
    """One REST request: method, path after the API prefix, JSON body, uploaded file names."""

    method: str
    path: str
    body: Any
    files: list[str] = field(default_factory=list)
    authorization: str = ""


class FakeDiscord(LoopServer):
    """The fake; use as a context manager. `push()` sends a dispatch to the connected bot."""

    label = "fake Discord"

    def __init__(self, *, token: str = TOKEN) -> None:
        self.token = token
        self.world = World()
        self.calls: list[Call] = []
        self.messages: dict[int, dict[str, Any]] = {}  # every message the bot sent or edited
        self.identified: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ws: web.WebSocketResponse | None = None
        self._seq = 0
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """The REST base URL (for BYOKBOT_DISCORD_API_URL)."""
        return f"http://127.0.0.1:{self.port}{PREFIX}"

    async def _startup(self) -> None:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", PREFIX + "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def _shutdown(self) -> None:
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()
        assert self._runner is not None
        await self._runner.cleanup()

    # -- the test's side ---------------------------------------------------------------
    def push(self, event: str, data: dict[str, Any]) -> None:
        """Send one dispatch (op 0) with the next sequence number to the connected bot."""
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(self._dispatch(event, data), self._loop).result(5)

    def connected(self) -> bool:
        """True once the bot identified on the gateway."""
        return self._ws is not None and not self._ws.closed and bool(self.identified)

    def calls_to(self, method: str, prefix: str) -> list[Call]:
        """Recorded calls of `method` whose path starts with `prefix`."""
        with self._lock:
            return [c for c in self.calls if c.method == method and c.path.startswith(prefix)]

    def remember(self, data: dict[str, Any]) -> None:
        """Make a message fetchable (an earlier message of a reply chain)."""
        with self._lock:
            self.messages[int(data["id"])] = data

    def channel_messages(self, channel_id: int) -> list[dict[str, Any]]:
        """Messages the bot posted in a channel, oldest first, as they look now."""
        with self._lock:
            found = [
                m
                for m in self.messages.values()
                if m["channel_id"] == str(channel_id) and m["author"]["id"] == str(BOT_ID)
            ]
        return sorted(found, key=lambda m: int(m["id"]))

    def wait_for(self, check: Callable[[FakeDiscord], bool], *, timeout: float = 15.0) -> None:
        """Wait until `check(self)` holds, or fail."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check(self):
                return
            time.sleep(0.05)
        raise AssertionError(f"condition not met in {timeout}s; calls: {self.summary()}")

    def summary(self) -> list[str]:
        """`METHOD path` of every call so far."""
        with self._lock:
            return [f"{c.method} {c.path}" for c in self.calls]

    # -- gateway -----------------------------------------------------------------------
    async def _send(self, payload: dict[str, Any]) -> None:
        assert self._ws is not None
        await self._ws.send_str(json.dumps(payload))

    async def _dispatch(self, event: str, data: dict[str, Any]) -> None:
        self._seq += 1
        await self._send({"op": 0, "t": event, "s": self._seq, "d": data})

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._ws = ws
        await self._send({"op": 10, "d": {"heartbeat_interval": 41_250}, "s": None, "t": None})
        async for frame in ws:
            if frame.type != WSMsgType.TEXT:
                continue
            payload = json.loads(frame.data)
            op = payload.get("op")
            if op == 1:
                await self._send({"op": 11, "d": None, "s": None, "t": None})
            elif op == 2:
                self.identified.append(payload["d"])
                await self._ready()
            elif op == 6:
                # No session to resume here: make the bot identify afresh.
                await self._send({"op": 9, "d": False, "s": None, "t": None})
        return ws

    async def _ready(self) -> None:
        guild_ids = sorted(self.world.members)
        await self._dispatch(
            "READY",
            {
                "v": 10,
                "user": {**user(BOT_ID), "verified": True, "mfa_enabled": False, "flags": 0},
                "guilds": [{"id": str(g), "unavailable": True} for g in guild_ids],
                "session_id": "fake-session",
                "resume_gateway_url": f"ws://127.0.0.1:{self.port}/gateway",
                "application": {"id": str(APP_ID), "flags": 0},
                "private_channels": [],
                "relationships": [],
            },
        )
        for guild_id in guild_ids:
            await self._dispatch("GUILD_CREATE", guild(guild_id, self.world))

    # -- REST --------------------------------------------------------------------------
    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        body, files = await _read_body(request)
        with self._lock:
            self.calls.append(
                Call(
                    method=request.method,
                    path=path,
                    body=body,
                    files=files,
                    authorization=request.headers.get("Authorization", ""),
                )
            )
        if request.headers.get("Authorization") != f"Bot {self.token}" and not path.startswith(
            ("/interactions/", "/webhooks/")
        ):
            return _error(401, 0, "401: Unauthorized")
        return self._route(request.method, path.rstrip("/").split("/")[1:], body)

    def _route(self, method: str, parts: list[str], body: Any) -> web.Response:
        match (method, parts):
            case ("GET", ["users", "@me"]):
                return _json({**user(BOT_ID), "verified": True, "flags": 0})
            case ("GET", ["oauth2", "applications", "@me"]):
                return _json(app_info())
            case ("GET", ["gateway", "bot"]):
                return _json(
                    {
                        "url": f"ws://127.0.0.1:{self.port}/gateway",
                        "shards": 1,
                        "session_start_limit": {
                            "total": 1000,
                            "remaining": 999,
                            "reset_after": 0,
                            "max_concurrency": 1,
                        },
                    }
                )
            case ("PUT", ["applications", _app, "commands"]):
                return _json([registered(c) for c in body or []])
            case ("POST", ["channels", cid, "messages"]):
                return _json(self._store(int(cid), body or {}))
            case ("PATCH", ["channels", cid, "messages", mid]):
                return self._edit(int(mid), body or {})
            case ("GET", ["channels", cid, "messages", mid]):
                with self._lock:
                    found = self.messages.get(int(mid))
                return _json(found) if found else _error(404, 10008, "Unknown Message")
            case ("GET", ["channels", cid]):
                gid = self.world.channels.get(int(cid))
                if gid is None:
                    return _error(404, 10003, "Unknown Channel")
                return _json(channel(int(cid), gid))
            case ("POST", ["users", "@me", "channels"]):
                recipient = int(body["recipient_id"])
                return _json({"id": str(recipient + 1), "type": 1, "recipients": [user(recipient)]})
            case ("GET", ["guilds", gid, "members", uid]):
                if int(uid) not in self.world.members.get(int(gid), set()):
                    return _error(404, 10007, "Unknown Member")
                return _json(member(int(uid), int(gid)))
            case ("POST", ["interactions", iid, _token, "callback"]):
                return _json({"interaction": {"id": iid, "type": 2}})
            case ("POST", ["webhooks", _app, _token]):
                return _json(webhook_message(body or {}))
            case ("PATCH", ["webhooks", _app, _token, "messages", _mid]):
                return _json(webhook_message(body or {}))
        return _error(404, 0, "404: Not Found")

    def _store(self, channel_id: int, body: dict[str, Any]) -> dict[str, Any]:
        gid = self.world.channels.get(channel_id)
        data: dict[str, Any] = {
            "id": str(next_id()),
            "channel_id": str(channel_id),
            "author": user(BOT_ID),
            "content": body.get("content") or "",
            "timestamp": "2024-01-01T00:00:00+00:00",
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "pinned": False,
            "type": 19 if body.get("message_reference") else 0,
            "flags": 0,
        }
        if gid is not None:
            data["guild_id"] = str(gid)
        if body.get("message_reference"):
            data["message_reference"] = body["message_reference"]
        with self._lock:
            self.messages[int(data["id"])] = data
        return data

    def _edit(self, message_id: int, body: dict[str, Any]) -> web.Response:
        with self._lock:
            found = self.messages.get(message_id)
            if found is None:
                return _error(404, 10008, "Unknown Message")
            if "content" in body:
                found["content"] = body["content"]
                found["edited_timestamp"] = "2024-01-01T00:00:01+00:00"
            return _json(found)


def _json(data: Any, *, status: int = 200) -> web.Response:
    # discord.py parses a body as JSON only for exactly "application/json" (no charset).
    return web.Response(
        body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"}
    )


def _error(status: int, code: int, message: str) -> web.Response:
    return _json({"message": message, "code": code}, status=status)


async def _read_body(request: web.Request) -> tuple[Any, list[str]]:
    if request.content_type.startswith("multipart/"):
        body: Any = None
        files: list[str] = []
        reader = await request.multipart()
        async for part in reader:
            if part.name == "payload_json":  # type: ignore[union-attr]
                body = json.loads(await part.text())  # type: ignore[union-attr]
            elif part.filename:  # type: ignore[union-attr]
                files.append(part.filename)  # type: ignore[union-attr]
                await part.read()  # type: ignore[union-attr]
        return body, files
    raw = await request.read()
    try:
        return (json.loads(raw) if raw else None), []
    except ValueError:
        return None, []
