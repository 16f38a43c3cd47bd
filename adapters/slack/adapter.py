"""The Slack adapter: a slack-bolt `AsyncApp` behind byokbot's aiohttp server or Socket Mode.

Requests to `/slack/events` are signature-checked here first: a forged, unsigned or
stale request is answered 401 before bolt parses it, and only the reason is logged —
never the body, which may hold a key typed into `/byok key add`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_request import AsyncBoltRequest

from adapters.slack import bodies
from adapters.slack.clients import bolt_logger, make_client, quiet_logger
from adapters.slack.direct import DirectEvents
from adapters.slack.events import EventWorkers, answered_here, never_answered
from adapters.slack.files import SlackFiles
from adapters.slack.installations import SqlInstallationStore, SqlStateStore
from adapters.slack.listeners import SlackListeners
from adapters.slack.poster import InstalledTokens, SingleTokens, SlackPoster, TokenSource
from adapters.slack.signature import signature_problem
from bot.background import BackgroundWork
from bot.boundary import ChannelPoster
from bot.core import Core
from bot.services import Services

logger = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
BOT_SCOPES = (
    "app_mentions:read",
    "channels:history",
    "groups:history",
    "im:history",
    "im:write",
    "chat:write",
    "commands",
    "files:read",
    "files:write",
    "users:read",
)
_INVALID = {"error": "invalid request"}


@dataclass(frozen=True, slots=True)
class SlackMode:
    """Which credentials are set: HTTP single-workspace, OAuth multi-workspace, Socket Mode."""

    oauth: bool
    socket: bool
    http: bool


class SlackAdapter:
    """Runs byokbot on Slack; see `adapters.slack.plugin` for how the mode is chosen."""

    name = "slack"

    def __init__(self, core: Core, services: Services, *, mode: SlackMode) -> None:
        self._services = services
        self._settings = settings = services.settings
        self._mode = mode
        # Answers in flight are bounded (HTTP events: `EventWorkers`; Socket Mode:
        # bot/background.py): a burst must leave the event loop free for acks and not
        # thrash the provider pools and the database.
        self._background = BackgroundWork("slack")
        self._events = EventWorkers(self._dispatch, self._background)
        self._session: aiohttp.ClientSession | None = None
        self._socket: AsyncSocketModeHandler | None = None
        secret = settings.slack_signing_secret
        self._signing_secret = secret.get_secret_value() if secret is not None else None
        self._installations = (
            SqlInstallationStore(services.engine, services.vault) if mode.oauth else None
        )
        self.app = self._build_app()
        self.listeners = SlackListeners(
            core,
            spawn=self._spawn,
            session=lambda: self._session,
            installations=self._installations,
            files=SlackFiles(settings, session=lambda: self._session),
        )
        self.listeners.register(self.app)
        # Message events skip bolt's dispatch where one token serves one workspace.
        self._direct = (
            DirectEvents(self.app.client, self.listeners)
            if not mode.oauth and settings.slack_bot_token is not None
            else None
        )
        tokens: TokenSource
        if self._installations is not None:
            tokens = InstalledTokens(self._installations)
        else:
            bot_token = settings.slack_bot_token
            tokens = SingleTokens(
                settings, bot_token.get_secret_value() if bot_token is not None else ""
            )
        self._poster = SlackPoster(settings, tokens, session=lambda: self._session)

    def _build_app(self) -> AsyncApp:
        settings = self._settings
        kwargs: dict[str, Any] = {
            "name": "byokbot",
            "logger": bolt_logger(),
            # Listeners only ack and hand their work on (`_spawn`), so running them before
            # the response costs nothing, and an event's answer stays in its worker.
            "process_before_response": True,
            # `handle_events` checks every signature before bolt sees a body.
            "request_verification_enabled": False,
        }
        if self._signing_secret:
            kwargs["signing_secret"] = self._signing_secret
        if self._installations is not None:
            client = make_client(settings)
            assert settings.slack_client_id and settings.slack_client_secret
            client_secret = settings.slack_client_secret.get_secret_value()
            kwargs["client"] = client
            kwargs["oauth_settings"] = AsyncOAuthSettings(
                client_id=settings.slack_client_id,
                client_secret=client_secret,
                scopes=list(BOT_SCOPES),
                user_scopes=[],
                install_path=INSTALL_PATH,
                redirect_uri_path=REDIRECT_PATH,
                installation_store=self._installations,
                installation_store_bot_only=True,
                state_store=SqlStateStore(self._services.engine),
                logger=bolt_logger(),
            )
            # Cached authorize: one auth.test per token, not one per event.
            kwargs["authorize"] = AsyncInstallationStoreAuthorize(
                installation_store=self._installations,
                client_id=settings.slack_client_id,
                client_secret=client_secret,
                logger=bolt_logger(),
                bot_only=True,
                cache_enabled=True,
                client=client,
            )
        else:
            token = settings.slack_bot_token
            kwargs["client"] = make_client(
                settings, token=token.get_secret_value() if token is not None else None
            )
        return AsyncApp(**kwargs)

    # -- plug-in contract ----------------------------------------------------------------
    def routes(self) -> Sequence[web.RouteDef]:
        """`/slack/events` (HTTP modes) and the OAuth install routes (multi-workspace)."""
        routes: list[web.RouteDef] = []
        if self._mode.http and self._signing_secret:
            routes.append(web.post(EVENTS_PATH, self.handle_events))
        if self._mode.oauth:
            routes.append(web.get(INSTALL_PATH, self.handle_oauth))
            routes.append(web.get(REDIRECT_PATH, self.handle_oauth))
        return routes

    def poster(self) -> ChannelPoster | None:
        """Posts digests and alerts with the workspace's bot token."""
        return self._poster

    async def start(self) -> None:
        """Open the shared HTTP session; connect Socket Mode in the background if configured."""
        self._session = aiohttp.ClientSession()
        # Every per-request client bolt creates copies this session (connection reuse).
        self.app.client.session = self._session
        if self._mode.socket:
            app_token = self._settings.slack_app_token
            assert app_token is not None
            self._socket = AsyncSocketModeHandler(
                self.app,
                app_token.get_secret_value(),
                logger=quiet_logger("socket"),
                web_client=make_client(self._settings, session=self._session),
            )
            await self._socket.connect_async()  # type: ignore[no-untyped-call]
            logger.info("slack socket mode connected")
        logger.info(
            "slack adapter started (%s)",
            "oauth" if self._mode.oauth else "socket" if self._mode.socket else "http",
        )

    async def stop(self) -> None:
        """Disconnect, let running answers finish briefly, then cancel the rest."""
        if self._socket is not None:
            with contextlib.suppress(Exception):
                await self._socket.close_async()  # type: ignore[no-untyped-call]
            self._socket = None
        self._events.close()
        await self._background.drain()
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- HTTP handlers -------------------------------------------------------------------
    async def handle_events(self, request: web.Request) -> web.StreamResponse:
        """Events, slash commands and interactivity: verified here, then dispatched by bolt."""
        raw = await request.read()
        assert self._signing_secret is not None
        problem = signature_problem(
            secret=self._signing_secret,
            body=raw,
            timestamp=request.headers.get("X-Slack-Request-Timestamp"),
            signature=request.headers.get("X-Slack-Signature"),
            now=time.time(),
        )
        if problem is not None:
            logger.warning("rejected a request to %s: %s", EVENTS_PATH, problem)
            return web.json_response(_INVALID, status=401)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return _malformed("not UTF-8")
        body = bodies.parse(text, content_type=request.content_type)
        if isinstance(body, str):
            return _malformed(body)
        if body.get("type") == "event_callback":
            # Events are acknowledged with an empty 200 whatever happens next; bolt
            # (authorize, middleware, listeners) and the answer run in a worker.
            if not never_answered(body):
                self._events.put(body)
            return web.Response(status=200)
        headers: dict[str, str | Sequence[str]] = {}
        for key, value in request.headers.items():
            previous = headers.get(key.lower())
            headers[key.lower()] = [*previous, value] if isinstance(previous, list) else [value]
        bolt_request = bodies.bolt_request(text, query=request.query_string, headers=headers)
        if isinstance(bolt_request, str):
            return _malformed(bolt_request)
        response = await self.app.async_dispatch(bolt_request)
        if response.status >= 500:
            # Our listeners ack before any I/O, so bolt answers 5xx only when the body's
            # shape broke it (its error hook logged the class): a malformed request.
            return _malformed("bolt could not handle the body")
        return await to_aiohttp_response(response)

    async def _dispatch(self, body: dict[str, Any]) -> None:
        if self._direct is not None and await self._direct.handle(body):
            return
        # The body was checked and parsed on the ack path: bolt takes the dict as it is.
        response = await self.app.async_dispatch(AsyncBoltRequest(body=body, mode="socket_mode"))
        if response.status >= 500:
            logger.warning("an event bolt could not handle was dropped")

    async def handle_oauth(self, request: web.Request) -> web.StreamResponse:
        """`/slack/install` (the Add to Slack page) and `/slack/oauth_redirect`."""
        flow = self.app.oauth_flow
        if flow is None:
            return web.Response(status=404)
        bolt_request = await to_bolt_request(request)
        if request.path == INSTALL_PATH:
            response = await flow.handle_installation(bolt_request)
        else:
            response = await flow.handle_callback(bolt_request)
        return await to_aiohttp_response(response)

    # -- background work -----------------------------------------------------------------
    def _spawn(self, work: Coroutine[Any, Any, None], kind: str) -> None:
        # An answer started inside an event worker runs in that worker. Other messages
        # (Socket Mode) wait their turn among the answers; commands, forms and the like
        # only acknowledge-then-reply and go at once.
        if kind == "message" and answered_here(work):
            return
        self._background.spawn(work, kind=kind, bounded=kind == "message")


def _malformed(reason: str) -> web.Response:
    """A 400 for a correctly signed body that is not a Slack request; the body is not logged."""
    logger.warning("rejected a malformed signed request to %s: %s", EVENTS_PATH, reason)
    return web.json_response(_INVALID, status=400)
