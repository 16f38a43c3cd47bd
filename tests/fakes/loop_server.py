"""The lifecycle every aiohttp fake shares: its own event loop in a daemon thread."""

from __future__ import annotations

import asyncio
import threading
from typing import Self

from aiohttp import web


class LoopServer:
    """Start/stop/`with` for a fake whose `_startup` binds an aiohttp app on 127.0.0.1:0."""

    label = "fake server"  # named in the error when it does not come up

    _thread: threading.Thread | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None
    port = 0

    def start(self) -> Self:
        """Serve in a background thread; returns once the port is bound."""
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"{self.label} did not start")
        return self

    def stop(self) -> None:
        """Let `_shutdown` close connections, then stop the loop and join the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        loop.run_until_complete(self._startup())
        ready.set()
        loop.run_forever()
        loop.close()

    async def _bind(self, app: web.Application) -> None:
        """Serve `app` on 127.0.0.1 at a free port (sets `port`)."""
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = int(self._runner.addresses[0][1])

    async def _startup(self) -> None:
        """Build the app and `_bind` it."""
        raise NotImplementedError

    async def _shutdown(self) -> None:
        """Close connections and the runner."""
        raise NotImplementedError
