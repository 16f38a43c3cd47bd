"""Message events the bot answers itself, handled without bolt's dispatch (HTTP, one token).

Bolt's dispatch of one event builds a request and a context, runs its middleware chain
(authorization, the self-event filter, ...), matches every listener, injects the
listener's arguments and makes a new Web API client: several percent of the CPU of an
answer on `bench/slack.py`. For `app_mention` and `message` events in single-workspace HTTP
mode this path does what that dispatch does for them, and nothing is skipped:

- the request was signature-checked, parsed, shape-checked and acknowledged before it
  was queued (`SlackAdapter.handle_events`), as for bolt;
- authorization as bolt's single-team authorization: one `auth.test` of the configured
  token, its answer kept once it succeeded (a failure leaves the event to bolt, which
  reports it);
- the team as bolt reads it (`authorizations[0]` before the envelope's `team_id`), and a
  client per team built from `app.client` as bolt builds its per-request client;
- bolt's self-event filter is `is_human_message` with the bot's user id (stricter: any
  `bot_id` is refused), applied in `SlackListeners`, as are retries' dedupe and the rest.

Every other request (commands, interactivity, lifecycle events, OAuth mode, Socket Mode)
still goes through bolt.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_bolt.request.internals import extract_team_id
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.listeners import BotContext, SlackListeners
from adapters.slack.streaming import SLACK_ERRORS, error_reason

logger = logging.getLogger(__name__)

MESSAGE_EVENTS = frozenset({"app_mention", "message"})
_CLIENTS_KEPT = 16  # teams whose client is kept (one token: in practice one team)


class DirectEvents:
    """`app_mention` and `message` event callbacks handed straight to the listeners."""

    def __init__(self, client: AsyncWebClient, listeners: SlackListeners) -> None:
        self._app_client = client
        self._listeners = listeners
        self._bot: tuple[str | None, str | None] | None = None  # (bot user id, bot id)
        self._lock = asyncio.Lock()
        self._clients: dict[str | None, AsyncWebClient] = {}

    async def handle(self, body: dict[str, Any]) -> bool:
        """Handle `body` if it is a message event; False when bolt must dispatch it."""
        event = body.get("event")
        if not isinstance(event, dict) or event.get("type") not in MESSAGE_EVENTS:
            return False
        bot = self._bot or await self._authorize()
        if bot is None:
            return False
        team = extract_team_id(body)
        client = self._client(team)
        self._listeners.take_message_event(
            body,
            event,
            bot=BotContext(team_id=team, bot_user_id=bot[0], bot_id=bot[1], token=client.token),
            client=client,
        )
        return True

    async def _authorize(self) -> tuple[str | None, str | None] | None:
        async with self._lock:
            if self._bot is None:
                try:
                    found = await self._app_client.auth_test()
                except SLACK_ERRORS as exc:
                    logger.warning("auth.test failed (%s)", error_reason(exc))
                    return None
                # As bolt: a bot token's auth.test names the bot's user (`bot_user_id`).
                user, bot_id = found.get("user_id"), found.get("bot_id")
                is_bot = (self._app_client.token or "").startswith("xoxb-")
                self._bot = (
                    str(user) if user and is_bot else None,
                    str(bot_id) if bot_id else None,
                )
            return self._bot

    def _client(self, team: str | None) -> AsyncWebClient:
        client = self._clients.get(team)
        if client is None:
            base = self._app_client
            client = AsyncWebClient(
                token=base.token,
                base_url=base.base_url,
                timeout=base.timeout,
                ssl=base.ssl,
                proxy=base.proxy,
                session=base.session,
                trust_env_in_session=base.trust_env_in_session,
                headers=base.headers,
                team_id=team,
                logger=base.logger,
                retry_handlers=list(base.retry_handlers or ()),
            )
            if len(self._clients) < _CLIENTS_KEPT:
                self._clients[team] = client
        return client
