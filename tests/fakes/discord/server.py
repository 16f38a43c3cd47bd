"""`FakeDiscord`: one aiohttp app on 127.0.0.1 serving the REST API, the gateway and the CDN."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.fakes.discord.cdn import Cdn
from tests.fakes.discord.gateway import Gateway, GatewayShard
from tests.fakes.discord.records import (
    CDN_PATH,
    GATEWAY_PATH,
    PREFIX,
    RESUME_PATH,
    TOKEN,
    Call,
    CdnFile,
    CdnRequest,
    Failure,
    RateLimit,
)
from tests.fakes.discord.rest import Rest
from tests.fakes.discord_gateway import ATTACHMENT_SIZE_LIMIT, World
from tests.fakes.loop_server import LoopServer


class FakeDiscord(Gateway, Rest, Cdn, LoopServer):
    """The fake; use as a context manager. `push()` sends a dispatch to the connected bot."""

    label = "fake Discord"

    def __init__(self, *, token: str = TOKEN, shards: int = 1) -> None:
        self.token = token
        self.shard_count = shards
        self.world = World()
        # Bytes per uploaded file: told in each interaction, a larger upload gets 413.
        self.attachment_size_limit = ATTACHMENT_SIZE_LIMIT
        self.calls: list[Call] = []
        self.messages: dict[int, dict[str, Any]] = {}  # every message the bot sent or edited
        self.identified: list[dict[str, Any]] = []
        self.resumes: list[dict[str, Any]] = []  # every RESUME's `d` (token, session_id, seq)
        self.resumed: list[str] = []  # session ids resumed (RESUMED sent)
        self.close_codes: list[int] = []  # codes the fake closed connections with
        self.connections: list[str] = []  # path and query of every gateway connection
        self._sessions = 0
        self.shards = {n: GatewayShard(n) for n in range(shards)}
        self._rate_limits: list[RateLimit] = []
        self.cdn_files: dict[str, CdnFile] = {}  # path -> file
        self.cdn_requests: list[CdnRequest] = []
        self._failures: list[Failure] = []
        self._lock = threading.Lock()
        self._gateway_lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """The REST base URL (for BYOKBOT_DISCORD_API_URL)."""
        return f"http://127.0.0.1:{self.port}{PREFIX}"

    async def _startup(self) -> None:
        self._gateway_lock = asyncio.Lock()
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_get(GATEWAY_PATH, self._gateway)
        app.router.add_get(RESUME_PATH, self._gateway)  # READY's resume_gateway_url
        app.router.add_route("*", PREFIX + "/{tail:.*}", self._rest)
        app.router.add_get(CDN_PATH + "/{tail:.*}", self._cdn)
        await self._bind(app)

    async def _shutdown(self) -> None:
        for shard in self.shards.values():
            if shard.ws is not None and not shard.ws.closed:
                await shard.ws.close()
        assert self._runner is not None
        await self._runner.cleanup()

    # -- the test's side (more in each half) -------------------------------------------
    def wait_for(self, check: Callable[[FakeDiscord], bool], *, timeout: float = 15.0) -> None:
        """Wait until `check(self)` holds, or fail."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check(self):
                return
            time.sleep(0.05)
        raise AssertionError(f"condition not met in {timeout}s; calls: {self.summary()}")

    def forget(self) -> None:
        """Clear what the fake recorded and was told to do (a shared fake between tests)."""
        with self._lock:
            self.calls.clear()
            self.messages.clear()
            self.cdn_requests.clear()
            self._rate_limits.clear()
            self._failures.clear()
            self.attachment_size_limit = ATTACHMENT_SIZE_LIMIT

    def summary(self) -> list[str]:
        """`METHOD path` of every call so far."""
        with self._lock:
            return [f"{c.method} {c.path}" for c in self.calls]
