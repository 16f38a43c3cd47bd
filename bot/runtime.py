"""The adapter plug-in contract and `serve`: HTTP server, scheduler and adapters together.

Adapters are found through the `byokbot.adapters` entry-point group, so `bot/` never
imports `adapters/`. Each entry point names a module-level `plugin` object.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from bot.app import build_services
from bot.boundary import ChannelPoster
from bot.config import Settings
from bot.core import Core
from bot.services import Services

# `byokbot shell` imports this module for the plug-in contract alone: the HTTP server,
# the scheduler and the scheduled jobs are imported by `serve`, which runs them.
if TYPE_CHECKING:
    from aiohttp import web
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "byokbot.adapters"
CONSOLE = "console"
# What a newcomer who started `serve` in a container (no terminal) needs to read first.
NO_PLATFORM = (
    "no chat platform configured, serving HTTP only: set SLACK_BOT_TOKEN and "
    "SLACK_SIGNING_SECRET (Slack over HTTP), or SLACK_APP_TOKEN and SLACK_BOT_TOKEN "
    "(Slack Socket Mode), or SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and SLACK_SIGNING_SECRET "
    "(Slack OAuth), or DISCORD_BOT_TOKEN (Discord); or run `byokbot shell` for the console"
)


class Adapter(Protocol):
    """A running connection to one chat platform."""

    name: str

    def routes(self) -> Sequence[web.RouteDef]:
        """Routes mounted on the bot's HTTP server; [] if none."""
        ...

    def poster(self) -> ChannelPoster | None:
        """How the core posts unprompted messages on this platform, if it can."""
        ...

    async def start(self) -> None:
        """Connect and return once started (background work runs in the adapter's tasks)."""
        ...

    async def stop(self) -> None:
        """Disconnect and cancel the adapter's tasks."""
        ...


class AdapterPlugin(Protocol):
    """The module-level `plugin` object an adapter module exposes."""

    name: str

    def is_configured(self, settings: Settings, *, interactive: bool) -> bool:
        """True when the settings hold what this adapter needs to run."""
        ...

    def create(self, core: Core, services: Services) -> Adapter:
        """Build the adapter (no I/O until `start`)."""
        ...


@runtime_checkable
class _Runnable(Protocol):
    def run(self) -> Awaitable[int]: ...


def discover_plugins() -> dict[str, AdapterPlugin]:
    """Every installed adapter plug-in by name; a plug-in that fails to load is logged."""
    found: dict[str, AdapterPlugin] = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            plugin: AdapterPlugin = point.load()
        except Exception as exc:  # a broken optional adapter must not stop the others
            logger.error("adapter plug-in %s failed to load: %s", point.name, type(exc).__name__)
            continue
        found[getattr(plugin, "name", point.name)] = plugin
    return found


def select_plugins(
    plugins: dict[str, AdapterPlugin], settings: Settings, *, interactive: bool
) -> list[AdapterPlugin]:
    """Configured platform adapters; the console alone when none is and a terminal is attached."""
    chosen = [
        plugin
        for name, plugin in sorted(plugins.items())
        if name != CONSOLE and plugin.is_configured(settings, interactive=interactive)
    ]
    if not chosen and interactive and CONSOLE in plugins:
        chosen = [plugins[CONSOLE]]
    return chosen


def make_scheduler() -> AsyncIOScheduler:
    """The in-process scheduler; `serve` adds the daily-digest check and the lease sweep."""
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    return AsyncIOScheduler(timezone=dt.UTC)


def _write_port_file(path: Path, port: int) -> None:
    # Written atomically so a reader never sees an empty or partial file.
    temp = path.with_name(path.name + ".tmp")
    temp.write_text(f"{port}\n", encoding="ascii")
    os.replace(temp, path)


def _install_signal_handlers(stop: asyncio.Event) -> Callable[[], None]:
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)

    def remove() -> None:
        for sig in installed:
            loop.remove_signal_handler(sig)

    return remove


async def _stop(adapter: Adapter) -> None:
    try:
        await adapter.stop()
    except Exception:
        logger.exception("adapter %s did not stop cleanly", adapter.name)


async def serve(
    settings: Settings,
    *,
    port_file: Path | None = None,
    interactive: bool | None = None,
) -> int:
    """Run the bot until SIGTERM/SIGINT (or the console's end); return the exit code."""
    from bot.budgets.leases import schedule_lease_sweeps
    from bot.digest.schedule import schedule_digests
    from bot.webserver import HttpServer, make_app

    if interactive is None:
        interactive = sys.stdin.isatty() and sys.stdout.isatty()
    services = build_services(settings)
    core = Core(services)
    adapters: list[Adapter] = []
    started: list[Adapter] = []
    server: HttpServer | None = None
    scheduler = make_scheduler()
    stop = asyncio.Event()
    remove_handlers = _install_signal_handlers(stop)
    console_task: asyncio.Task[int] | None = None
    try:
        for plugin in select_plugins(discover_plugins(), settings, interactive=interactive):
            adapter = plugin.create(core, services)
            adapters.append(adapter)
            poster = adapter.poster()
            if poster is not None:
                services.posters[adapter.name] = poster
        routes = [route for adapter in adapters for route in adapter.routes()]
        server = HttpServer(
            make_app(
                services.engine,
                routes=routes,
                running=lambda: [adapter.name for adapter in started],
                metrics_token=settings.metrics_token,
            ),
            host=settings.http_host,
            port=settings.http_port,
        )
        await server.start()
        schedule_digests(scheduler, services)
        schedule_lease_sweeps(scheduler, services)
        scheduler.start()
        for adapter in adapters:
            if adapter.name == CONSOLE and isinstance(adapter, _Runnable):
                # The console ends when its input does; that ends `serve` too.
                console_task = asyncio.ensure_future(adapter.run())
                console_task.add_done_callback(lambda _task: stop.set())
            else:
                await adapter.start()
            started.append(adapter)
            logger.info("adapter %s started", adapter.name)
        if not adapters:
            logger.warning(NO_PLATFORM)
        if port_file is not None:
            _write_port_file(port_file, server.port)
        await stop.wait()
        logger.info("stopping")
    finally:
        if console_task is not None and not console_task.done():
            console_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await console_task
        # Graceful stop: take no new work first (the HTTP server stops listening, so a
        # load balancer moves Slack's requests to another replica; no new digest starts),
        # then every adapter closes its connection and finishes its answers in flight
        # together, bounded by bot.background.STOP_GRACE_SECONDS.
        if scheduler.running:
            scheduler.shutdown(wait=False)
        if server is not None:
            await server.stop()
        await asyncio.gather(*(_stop(adapter) for adapter in reversed(started)))
        await services.providers.aclose()
        services.engine.dispose()
        # Only now: a second SIGTERM during the stop must not kill answers being finished.
        remove_handlers()
    logger.info("stopped")
    return 0
