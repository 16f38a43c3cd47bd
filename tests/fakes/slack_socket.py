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


class FakeSocketMode:
    """Serves `/link` over WebSocket; `send()` pushes an envelope to every connected client."""

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

    def start(self) -> FakeSocketMode:
        """Serve in a background thread."""
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake socket mode server did not start")
        return self

    def stop(self) -> None:
        """Close every socket and stop the thread."""
        loop = self._loop
        if loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = None

    def __enter__(self) -> FakeSocketMode:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        app = web.Application()
        app.router.add_get("/link", self._link)
        self._runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        self.port = int(self._runner.addresses[0][1])
        ready.set()
        loop.run_forever()
        loop.close()

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
