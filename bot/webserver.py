"""The bot's HTTP server: `/healthz`, `/metrics`, and whatever routes adapters mount."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from aiohttp import web
from sqlalchemy import text
from sqlalchemy.engine import Engine

from bot import metrics

logger = logging.getLogger(__name__)

ENGINE = web.AppKey("engine", Engine)
HEALTH_TIMEOUT = 3.0


def _ping(engine: Engine) -> None:
    # The pool replaces connections the database dropped (storage/engine.py), so this
    # recovers by itself.
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


async def healthz(request: web.Request) -> web.Response:
    """200 `{"status": "ok"}` when the database answers, else 503."""
    engine = request.app[ENGINE]
    try:
        await asyncio.wait_for(asyncio.to_thread(_ping, engine), timeout=HEALTH_TIMEOUT)
    except Exception as exc:  # any failure to reach the database means "not healthy"
        logger.warning("health check: database unreachable (%s)", type(exc).__name__)
        return web.json_response({"status": "unavailable", "database": "unreachable"}, status=503)
    return web.json_response({"status": "ok"})


async def metrics_view(_request: web.Request) -> web.Response:
    """Prometheus text exposition of byokbot's counters."""
    return web.Response(body=metrics.render(), headers={"Content-Type": metrics.CONTENT_TYPE})


def make_app(engine: Engine, *, routes: Iterable[web.AbstractRouteDef] = ()) -> web.Application:
    """The aiohttp application with the built-in routes plus the adapters' routes."""
    app = web.Application()
    app[ENGINE] = engine
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_view)
    app.add_routes(list(routes))
    return app


class HttpServer:
    """Runs the application on host:port; `port` is the real one (port 0 picks a free one)."""

    def __init__(self, app: web.Application, *, host: str, port: int) -> None:
        self._runner = web.AppRunner(app, access_log=None)
        self._host = host
        self._port = port
        self.port = port

    async def start(self) -> None:
        """Bind and start serving."""
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        addresses = self._runner.addresses
        self.port = int(addresses[0][1]) if addresses else self._port
        logger.info("listening on http://%s:%d", self._host, self.port)

    async def stop(self) -> None:
        """Stop accepting requests and close open connections."""
        await self._runner.cleanup()
