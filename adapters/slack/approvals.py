"""Ask an admin on Slack: the refusal's button, the request's Approve / Deny, their clicks.

The buttons carry only the request id (`value`); a click is a Bolt `block_actions`
request, acknowledged at once and handed to the core, which checks the clicker's rights
(the fail-closed `users.info` verdict) and claims the click's `trigger_id` once.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.admins import AdminVerdicts
from adapters.slack.blocks import APPROVE, ASK, DENY
from adapters.slack.sinks import CommandSink
from adapters.slack.translation import PLATFORM, team_of, workspace_id
from bot.boundary import Place, Sender
from bot.core import Core

logger = logging.getLogger(__name__)

_ACTIONS = re.compile(f"^({ASK}|{APPROVE}|{DENY})$")
_ID = re.compile(r"^[a-z2-7]{1,16}$")

Spawn = Callable[[Coroutine[Any, Any, None], str], None]
Ack = Callable[..., Awaitable[Any]]


class ApprovalActions:
    """The `block_actions` listener of the three buttons."""

    def __init__(
        self,
        core: Core,
        *,
        spawn: Spawn,
        session: Callable[[], aiohttp.ClientSession | None],
        admins: AdminVerdicts,
    ) -> None:
        self._core = core
        self._spawn = spawn
        self._session = session
        self._admins = admins

    def register(self, app: AsyncApp) -> None:
        """Attach the listener to `app`."""
        app.action(_ACTIONS)(self.on_action)

    async def on_action(
        self, ack: Ack, body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
    ) -> None:
        """Ack at once; the core acts after (rights checked, the click claimed once)."""
        await ack()
        team = context.team_id or team_of(body)
        user = str((body.get("user") or {}).get("id", ""))
        actions = body.get("actions") or []
        if not team or not user or not actions or not isinstance(actions[0], dict):
            return
        action_id = str(actions[0].get("action_id", ""))
        request_id = str(actions[0].get("value", ""))
        if not _ID.match(request_id):
            return
        channel = str((body.get("channel") or {}).get("id", "")) or str(
            (body.get("container") or {}).get("channel_id", "")
        )
        trigger = body.get("trigger_id")

        async def run() -> None:
            standing = await self._admins.standing(
                client, team_id=team, user_id=user, enterprise_id=context.enterprise_id
            )
            sender = Sender.with_standing(standing, user_id=user)
            place = Place(
                workspace_id=workspace_id(team),
                platform=PLATFORM,
                channel_id=channel,
                is_direct=channel.startswith("D"),
            )
            response_url = body.get("response_url")
            sink = CommandSink(
                client,
                self._session(),
                channel_id=channel,
                user_id=user,
                response_url=response_url if isinstance(response_url, str) else None,
                trigger_id=None,
            )
            click = trigger if isinstance(trigger, str) and trigger else None
            if action_id == ASK:
                await self._core.ask_admin(
                    request_id, place=place, sender=sender, sink=sink, click_id=click
                )
            else:
                await self._core.decide_request(
                    request_id,
                    approve=action_id == APPROVE,
                    place=place,
                    sender=sender,
                    sink=sink,
                    click_id=click,
                )

        self._spawn(run(), "approval")
