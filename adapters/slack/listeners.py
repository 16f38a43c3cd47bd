"""slack-bolt listeners: acknowledge at once, then hand the work to the core in a task.

Every listener acks before any I/O (Slack wants an answer within three seconds); the
admin look-up, thread history and the core's work all run after the ack in tasks the
adapter tracks, so `stop()` can wait for them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.admins import AdminVerdicts
from adapters.slack.approvals import ApprovalActions
from adapters.slack.files import SlackFiles
from adapters.slack.installations import SqlInstallationStore
from adapters.slack.secret_form import BLOCK_ID, CALLBACK_ID, read_submission
from adapters.slack.sinks import CommandSink, MessageSink
from adapters.slack.streaming import SLACK_ERRORS, error_reason
from adapters.slack.translation import (
    PLATFORM,
    command_request,
    history_from_replies,
    incoming_files,
    incoming_message,
    is_human_message,
    mentions,
    team_of,
    workspace_id,
)
from bot.boundary import CommandRequest, IncomingFile, Place, Sender, Standing
from bot.core import Core
from bot.errors import InvalidValue
from bot.providers.types import ChatMessage

logger = logging.getLogger(__name__)

COMMAND = "/byok"
HISTORY_LIMIT = 50  # thread turns handed to the core (it trims further to fit the model)
HISTORY_PAGE = 200
HISTORY_PAGES = 3
_CHANNEL_TYPES = frozenset({"channel", "group"})

Spawn = Callable[[Coroutine[Any, Any, None], str], None]
Ack = Callable[..., Awaitable[Any]]


class SlackListeners:
    """Translates bolt requests into core calls; registered on one `AsyncApp`."""

    def __init__(
        self,
        core: Core,
        *,
        spawn: Spawn,
        session: Callable[[], aiohttp.ClientSession | None],
        installations: SqlInstallationStore | None,
        admins: AdminVerdicts | None = None,
        files: SlackFiles | None = None,
    ) -> None:
        self._core = core
        self._spawn = spawn
        self._session = session
        self._installations = installations
        self._admins = admins or AdminVerdicts()
        self._files = files

    def register(self, app: AsyncApp) -> None:
        """Attach every listener to `app`."""
        app.command(COMMAND)(self.on_command)
        app.view_submission(CALLBACK_ID)(self.on_secret_form)
        ApprovalActions(
            self._core, spawn=self._spawn, session=self._session, admins=self._admins
        ).register(app)
        app.event("app_mention")(self.on_mention)
        app.event("message")(self.on_message)
        app.event("app_uninstalled")(self.on_uninstalled)
        app.event("tokens_revoked")(self.on_tokens_revoked)
        app.error(self.on_error)

    # -- commands ----------------------------------------------------------------------
    async def on_command(
        self, ack: Ack, body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
    ) -> None:
        """`/byok …`: ack empty (nothing shows in the channel), answer privately later."""
        await ack()
        team = context.team_id or team_of(body)
        if not team:
            return
        self._spawn(self._run_command(body, team, context.enterprise_id, client), "command")

    async def _run_command(
        self, body: Mapping[str, Any], team: str, enterprise: str | None, client: AsyncWebClient
    ) -> None:
        user = str(body.get("user_id", ""))
        standing = await self._admins.standing(
            client, team_id=team, user_id=user, enterprise_id=enterprise
        )
        request = _with_verdict(
            command_request(body, team_id=team, is_admin=standing is Standing.PLATFORM_ADMIN),
            standing,
            trigger_id=_opt(body.get("trigger_id")),
        )
        sink = CommandSink(
            client,
            self._session(),
            channel_id=request.place.channel_id,
            user_id=user,
            response_url=_opt(body.get("response_url")),
            trigger_id=_opt(body.get("trigger_id")),
        )
        await self._core.handle_command(request, sink)

    async def on_secret_form(
        self,
        ack: Ack,
        body: dict[str, Any],
        view: dict[str, Any],
        context: AsyncBoltContext,
        client: AsyncWebClient,
    ) -> None:
        """The key modal was submitted: close it, then let the core store the secret."""
        try:
            form, where, secret = read_submission(view)
        except InvalidValue:
            await ack(response_action="errors", errors={BLOCK_ID: "This form is out of date."})
            return
        if not secret:
            await ack(response_action="errors", errors={BLOCK_ID: "Paste the API key."})
            return
        await ack()
        team = context.team_id or team_of(body)
        user = str((body.get("user") or {}).get("id", ""))
        if not team or not user:
            return

        trigger = _opt(body.get("trigger_id"))

        async def run() -> None:
            standing = await self._admins.standing(
                client, team_id=team, user_id=user, enterprise_id=context.enterprise_id
            )
            place = Place(
                workspace_id=workspace_id(team),
                platform=PLATFORM,
                channel_id=where.channel_id,
                is_direct=where.channel_id.startswith("D"),
            )
            sender = Sender.with_standing(standing, user_id=user)
            sink = CommandSink(
                client,
                self._session(),
                channel_id=where.channel_id,
                user_id=user,
                response_url=where.response_url,
                trigger_id=None,
            )
            await self._core.submit_secret(
                form, secret, place=place, sender=sender, sink=sink, request_id=trigger
            )

        self._spawn(run(), "secret form")

    # -- messages ----------------------------------------------------------------------
    async def on_mention(
        self,
        body: dict[str, Any],
        event: dict[str, Any],
        context: AsyncBoltContext,
        client: AsyncWebClient,
    ) -> None:
        """`@byokbot …` in a channel (DMs arrive as `message.im` instead)."""
        self.take_message_event(body, event, bot=_bot_of(context, client), client=client)

    async def on_message(
        self,
        body: dict[str, Any],
        event: dict[str, Any],
        context: AsyncBoltContext,
        client: AsyncWebClient,
    ) -> None:
        """DMs, and channel messages for `--all-messages` bindings (the core decides)."""
        self.take_message_event(body, event, bot=_bot_of(context, client), client=client)

    def take_message_event(
        self,
        body: Mapping[str, Any],
        event: Mapping[str, Any],
        *,
        bot: BotContext,
        client: AsyncWebClient,
    ) -> None:
        """An `app_mention` or `message` event, from bolt or `adapters.slack.direct`."""
        kind = event.get("type")
        if kind == "app_mention":
            if str(event.get("channel", "")).startswith("D"):
                return
            self._dispatch(body, event, bot, client, mentions_bot=True)
            return
        if kind != "message":
            return
        channel_type = event.get("channel_type")
        if channel_type == "im":
            self._dispatch(
                body,
                event,
                bot,
                client,
                mentions_bot=mentions(str(event.get("text") or ""), bot.bot_user_id),
            )
        elif channel_type in _CHANNEL_TYPES:
            # A message mentioning the bot also arrives as app_mention: answer that one only.
            if mentions(str(event.get("text") or ""), bot.bot_user_id):
                return
            self._dispatch(body, event, bot, client, mentions_bot=False)

    def _dispatch(
        self,
        body: Mapping[str, Any],
        event: Mapping[str, Any],
        bot: BotContext,
        client: AsyncWebClient,
        *,
        mentions_bot: bool,
    ) -> None:
        bot_user = bot.bot_user_id
        if not is_human_message(event, bot_user_id=bot_user):
            return
        team = bot.team_id or team_of(body)
        event_id = _opt(body.get("event_id"))
        if not team or not event_id:
            return
        message = incoming_message(
            event,
            team_id=team,
            event_id=event_id,
            bot_user_id=bot_user,
            mentions_bot=mentions_bot,
            history=self._history(event, client, bot_user_id=bot_user, bot_id=bot.bot_id),
            files=self._message_files(event, bot.token or client.token),
        )
        sink = MessageSink(
            client,
            team_id=team,
            channel_id=message.place.channel_id,
            thread_ts=message.place.thread_id or message.message_id,
            user_id=message.sender.user_id,
        )
        self._spawn(self._core.handle_message(message, sink), "message")

    def _message_files(
        self, event: Mapping[str, Any], token: str | None
    ) -> tuple[IncomingFile, ...]:
        """This message's files, each fetched (if the core wants it) with this workspace's
        token from Slack's file host only."""
        if self._files is None:
            return ()
        return incoming_files(event, fetcher=self._files.fetcher(token))

    def _history(
        self,
        event: Mapping[str, Any],
        client: AsyncWebClient,
        *,
        bot_user_id: str | None,
        bot_id: str | None,
    ) -> Callable[[], Awaitable[Sequence[ChatMessage]]] | None:
        thread_ts = event.get("thread_ts")
        current = str(event.get("ts", ""))
        if not thread_ts or thread_ts == current:
            return None  # a new top-level message has no context yet
        channel = str(event.get("channel", ""))

        async def fetch() -> Sequence[ChatMessage]:
            messages: list[Mapping[str, Any]] = []
            cursor: str | None = None
            try:
                for _page in range(HISTORY_PAGES):
                    response = await client.conversations_replies(
                        channel=channel, ts=str(thread_ts), limit=HISTORY_PAGE, cursor=cursor
                    )
                    messages.extend(response.get("messages") or [])
                    cursor = (response.get("response_metadata") or {}).get("next_cursor")
                    if not cursor:
                        break
            except SLACK_ERRORS as exc:
                logger.info("thread history unavailable in %s (%s)", channel, error_reason(exc))
                return []
            return history_from_replies(
                messages,
                current_ts=current,
                bot_user_id=bot_user_id,
                bot_id=bot_id,
                limit=HISTORY_LIMIT,
            )

        return fetch

    # -- lifecycle events ----------------------------------------------------------------
    async def on_uninstalled(self, body: dict[str, Any], context: AsyncBoltContext) -> None:
        """The app was removed from a workspace: forget its tokens."""
        await self._forget(body, context, why="app_uninstalled")

    async def on_tokens_revoked(
        self, body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        """Tokens were revoked: if the bot token is among them, forget the workspace's tokens."""
        if (event.get("tokens") or {}).get("bot"):
            await self._forget(body, context, why="tokens_revoked")

    async def _forget(
        self, body: Mapping[str, Any], context: AsyncBoltContext, *, why: str
    ) -> None:
        team = context.team_id or team_of(body)
        if self._installations is None:
            logger.warning("%s for team %s: remove SLACK_BOT_TOKEN from the settings", why, team)
            return
        await self._installations.async_delete_all(
            enterprise_id=context.enterprise_id, team_id=team
        )

    async def on_error(self, error: Exception, body: dict[str, Any]) -> None:
        """Bolt's error hook: log the error class only (payloads may hold secrets)."""
        logger.error(
            "slack listener failed (%s) for a %s request",
            type(error).__name__,
            body.get("type", "?") if isinstance(body, dict) else "?",
        )


@dataclass(frozen=True, slots=True)
class BotContext:
    """What a message event's handling needs to know of the bot in the event's workspace."""

    team_id: str | None
    bot_user_id: str | None
    bot_id: str | None
    token: str | None


def _bot_of(context: AsyncBoltContext, client: AsyncWebClient) -> BotContext:
    return BotContext(
        team_id=context.team_id,
        bot_user_id=context.bot_user_id,
        bot_id=context.bot_id,
        token=context.bot_token or client.token,
    )


def _opt(value: object) -> str | None:
    return str(value) if value else None


def _with_verdict(
    request: CommandRequest, standing: Standing, *, trigger_id: str | None
) -> CommandRequest:
    """`request` carrying the tri-state admin verdict, and its `trigger_id` as the claim id
    that makes a replayed command act once."""
    sender = Sender.with_standing(
        standing, user_id=request.sender.user_id, display_name=request.sender.display_name
    )
    return replace(request, sender=sender, event_id=trigger_id)
