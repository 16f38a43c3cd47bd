"""A fake Slack Socket Mode endpoint: a real WebSocket server on 127.0.0.1 (port 0).

`apps.connections.open` on the fake Web API hands out `url`; the bot connects, gets a
`hello`, and the test pushes envelopes (events, slash commands, interactivity) the way
Slack does. Every message the bot sends back (the acks) is recorded.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.loop_server import LoopServer


class FakeSocketMode(LoopServer):
    """Serves `/link` over WebSocket; `send()` pushes an envelope to every connected client."""

    label = "fake socket mode server"

    def __init__(self) -> None:
        self.acks: list[dict[str, Any]] = []
        self.connections = 0
        self._ids = itertools.count(1)
        self._sockets: set[web.WebSocketResponse] = set()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """The WebSocket URL `apps.connections.open` returns."""
        return f"ws://127.0.0.1:{self.port}/link"

    async def _startup(self) -> None:
        app = web.Application()
        app.router.add_get("/link", self._link)
        await self._bind(app)

    async def _shutdown(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _link(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        with self._lock:
            self._sockets.add(ws)
            self.connections += 1
        await ws.send_json({"type": "hello", "num_connections": 1, "debug_info": {}})
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                with self._lock:
                    self.acks.append(json.loads(message.data))
        with self._lock:
            self._sockets.discard(ws)
        return ws

    def wait_connected(self, *, timeout: float = 15.0) -> None:
        """Block until a client holds an open socket."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._sockets:
                    return
            time.sleep(0.02)
        raise AssertionError("the bot never connected to the Socket Mode endpoint")

    def send(self, kind: str, payload: dict[str, Any], *, accepts_response: bool = False) -> str:
        """Push one envelope (`events_api`, `slash_commands`, `interactive`); returns its id."""
        envelope_id = f"env-{next(self._ids)}"
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": accepts_response,
            "retry_attempt": 0,
            "retry_reason": "",
        }
        loop = self._loop
        assert loop is not None, "not started"

        async def push() -> None:
            for ws in list(self._sockets):
                await ws.send_json(envelope)

        asyncio.run_coroutine_threadsafe(push(), loop).result(10)
        return envelope_id

    def acked(self, envelope_id: str) -> bool:
        """True once the bot acknowledged the envelope."""
        with self._lock:
            return any(ack.get("envelope_id") == envelope_id for ack in self.acks)
