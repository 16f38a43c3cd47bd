"""The bot's HTTP server: `/healthz`, `/metrics`, and whatever routes adapters mount."""

from __future__ import annotations

import asyncio
import gc
import hmac
import logging
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from aiohttp import web
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.engine import Engine

from bot import metrics

logger = logging.getLogger(__name__)

# Under the image's HEALTHCHECK client timeout (2.5 s): a hung database must give an
# answer, not a timed-out probe.
HEALTH_TIMEOUT = 2.0
SQLITE_PROBE_TIMEOUT = 1.0


def _ping(engine: Engine) -> None:
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        _ping_sqlite_file(Path(url.database or ""))
        return
    # The pool replaces connections the database dropped (storage/engine.py), so this
    # recovers by itself. One row of a tiny table: the database answers and is ours.
    with engine.connect() as conn:
        conn.execute(text("SELECT count(*) FROM alembic_version")).scalar_one()


def _ping_sqlite_file(path: Path) -> None:
    # A pooled SQLite connection keeps working on a file that was deleted or moved away,
    # so only a new connection (never creating the file: mode=rw) tells whether the
    # database the next connection will open is still there and readable.
    uri = path.resolve().as_uri() + "?mode=rw"
    conn = sqlite3.connect(uri, uri=True, timeout=SQLITE_PROBE_TIMEOUT)
    try:
        conn.execute("SELECT count(*) FROM alembic_version").fetchone()
    finally:
        conn.close()


def _retrieve(task: asyncio.Future[None]) -> None:
    # A probe that outlived its request still finishes; its outcome is not an error to log.
    if not task.cancelled():
        task.exception()


class DatabaseProbe:
    """A cheap, bounded database check, run in a thread; at most one is in flight."""

    def __init__(self, engine: Engine, *, timeout: float = HEALTH_TIMEOUT) -> None:
        self._engine = engine
        self._timeout = timeout
        self._inflight: asyncio.Future[None] | None = None
        self._was_up = True

    async def is_up(self) -> bool:
        """True when the database answered within the timeout."""
        if self._inflight is None or self._inflight.done():
            # A probe still hanging on a dead database is awaited again, not doubled, so
            # frequent health checks never pile up threads.
            self._inflight = asyncio.ensure_future(asyncio.to_thread(_ping, self._engine))
            self._inflight.add_done_callback(_retrieve)
        try:
            await asyncio.wait_for(asyncio.shield(self._inflight), timeout=self._timeout)
        except Exception as exc:  # any failure to reach the database means "unavailable"
            if self._was_up:
                logger.warning("health check: database unreachable (%s)", type(exc).__name__)
            self._was_up = False
            return False
        if not self._was_up:
            logger.info("health check: database reachable again")
        self._was_up = True
        return True


ENGINE = web.AppKey("engine", Engine)
PROBE = web.AppKey("database_probe", DatabaseProbe)
RUNNING: web.AppKey[Callable[[], Sequence[str]]] = web.AppKey("running_adapters")
METRICS_TOKEN = web.AppKey("metrics_token", bytes)


async def healthz(request: web.Request) -> web.Response:
    """Always 200 while the process runs: `status` "ok", or "degraded" without the database.

    A database outage is answered "temporarily unavailable" and recovers by itself
    (Guarantee 7), so the process is alive: a 503 would only make an orchestrator
    restart or drain every replica at once for something a restart cannot fix.
    """
    database_up = await request.app[PROBE].is_up()
    body = {
        "status": "ok" if database_up else "degraded",
        "adapters": sorted(request.app[RUNNING]()),
        "database": "ok" if database_up else "unavailable",
    }
    return web.json_response(body)


def _bearer(request: web.Request) -> bytes:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return b""
    return credentials.strip().encode("utf-8", "surrogateescape")


async def metrics_view(request: web.Request) -> web.Response:
    """Prometheus text exposition; with BYOKBOT_METRICS_TOKEN, only for its bearer."""
    expected = request.app.get(METRICS_TOKEN)
    if expected is not None and not hmac.compare_digest(_bearer(request), expected):
        # Neither the expected nor the presented token is logged.
        logger.debug("metrics scrape refused: missing or wrong bearer token")
        return web.Response(
            status=401,
            text="401: a bearer token is required\n",
            headers={"WWW-Authenticate": 'Bearer realm="byokbot metrics"'},
        )
    return web.Response(body=metrics.render(), headers={"Content-Type": metrics.CONTENT_TYPE})


def _no_adapters() -> Sequence[str]:
    return ()


def make_app(
    engine: Engine,
    *,
    routes: Iterable[web.AbstractRouteDef] = (),
    running: Callable[[], Sequence[str]] = _no_adapters,
    metrics_token: SecretStr | None = None,
) -> web.Application:
    """The aiohttp application with the built-in routes plus the adapters' routes.

    `running` names the adapters running at the time of each health check.
    """
    app = web.Application()
    app[ENGINE] = engine
    app[PROBE] = DatabaseProbe(engine)
    app[RUNNING] = running
    if metrics_token is not None:
        app[METRICS_TOKEN] = metrics_token.get_secret_value().encode("utf-8", "surrogateescape")
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
        # What start-up built (modules, settings, engine, bolt app) lives as long as the
        # process: frozen out of the collector's full scans, which otherwise walk all of it
        # while answers are in flight (bench/slack.py: ~9% of the CPU per answer, and
        # the ack p99 under load fell from 700-970 ms to 160-260 ms).
        gc.collect()
        gc.freeze()

    async def stop(self) -> None:
        """Stop accepting requests and close open connections."""
        await self._runner.cleanup()
