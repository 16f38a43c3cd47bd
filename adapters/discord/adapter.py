"""The Discord adapter: a discord.py gateway client in a background task, talking to the core.

Mentions, `--all-messages` channels and DMs become `IncomingMessage`s (the core routes
and deduplicates them by message id, so a replayed gateway event is answered once);
`/byok` app commands become `CommandRequest`s answered ephemerally. A key form's
submission is finished from the token its custom_id carries (`Core.submit_form`), so
it works whichever process opened the form.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import discord

from adapters.discord import translation as tr
from adapters.discord.approvals import ApprovalButtons
from adapters.discord.buttons import Click
from adapters.discord.client import (
    ByokClient,
    ShardedByokClient,
    configure_gateway,
    configure_rest,
    quiet_library_loggers,
)
from adapters.discord.commands import build_group
from adapters.discord.direct import HINT, DirectWorkspaces
from adapters.discord.files import DiscordFiles
from adapters.discord.history import reply_chain
from adapters.discord.poster import DiscordPoster
from adapters.discord.secret_form import submitted_secret
from adapters.discord.sinks import InteractionSink, MessageSink
from adapters.discord.streaming import DISCORD_ERRORS, error_reason
from bot.background import BackgroundWork
from bot.boundary import (
    ChannelPoster,
    CommandRequest,
    IncomingMessage,
    Place,
    SecretForm,
    Sender,
)
from bot.core import Core
from bot.services import Services

logger = logging.getLogger(__name__)

LOGIN_RETRY_MAX_SECONDS = 60.0
_HUMAN_TYPES = frozenset({discord.MessageType.default, discord.MessageType.reply})
NOT_IN_GUILD = "Use `/byok` in a channel of your server."


class DiscordAdapter:
    """Runs byokbot on Discord through the gateway (no HTTP routes of its own)."""

    name = "discord"

    def __init__(self, core: Core, services: Services) -> None:
        self._core = core
        self._settings = services.settings
        self._client: ByokClient | None = None
        self._runner: asyncio.Task[None] | None = None
        self._background = BackgroundWork("discord")
        self._direct = DirectWorkspaces()
        self._poster = DiscordPoster(lambda: self._client)
        self._files = DiscordFiles(services.settings)

    # -- plug-in contract ----------------------------------------------------------------
    def routes(self) -> list[Any]:
        """Discord talks to the bot over the gateway: no HTTP routes."""
        return []

    def poster(self) -> ChannelPoster | None:
        """Posts digests and alerts to guild channels."""
        return self._poster

    async def start(self) -> None:
        """Create the client and log in / connect in a background task."""
        quiet_library_loggers()
        configure_rest(self._settings.discord_api_url)
        self._client = self._new_client()
        self._runner = asyncio.get_running_loop().create_task(self._run(self._client))
        logger.info("discord adapter started")

    def _new_client(self) -> ByokClient:
        """One connection, or (DISCORD_SHARD_COUNT) this replica's shards only."""
        group = build_group(self._run_command)
        count = self._settings.discord_shard_count
        if count is None:
            return ByokClient(
                group=group,
                on_chat_message=self._on_message,
                on_form_submit=self._on_form_submit,
                on_button=self._on_button,
            )
        ids = list(self._settings.discord_shard_ids or range(count))
        logger.info("discord shards %s of %d", ",".join(map(str, ids)), count)
        return ShardedByokClient(
            group=group,
            on_chat_message=self._on_message,
            on_form_submit=self._on_form_submit,
            on_button=self._on_button,
            sync_commands=0 in ids,  # app commands are global: one replica syncs them
            shard_count=count,
            shard_ids=ids,
        )

    async def stop(self) -> None:
        """Close the gateway, let running answers finish briefly, then cancel the rest."""
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.close()
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
            self._runner = None
        await self._background.drain()
        await self._files.close()

    async def _run(self, client: ByokClient) -> None:
        try:
            await self._connect(client)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the adapter dies, the process (other adapters) must not
            logger.error("discord adapter stopped (%s)", type(exc).__name__)

    async def _connect(self, client: ByokClient) -> None:
        token = self._settings.discord_bot_token
        assert token is not None
        delay = 1.0
        while True:
            try:
                await client.login(token.get_secret_value())
                _shards, gateway, _limits = await client.http.get_bot_gateway()
                configure_gateway(gateway)
                break
            except discord.LoginFailure:
                logger.error("Discord refused DISCORD_BOT_TOKEN; the Discord adapter is off")
                return
            except DISCORD_ERRORS as exc:
                logger.warning(
                    "discord login failed (%s); retrying in %.0fs", error_reason(exc), delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, LOGIN_RETRY_MAX_SECONDS)
        try:
            await client.connect(reconnect=True)
        except DISCORD_ERRORS as exc:
            logger.error("discord gateway connection ended (%s)", error_reason(exc))

    # -- commands ------------------------------------------------------------------------
    async def _run_command(
        self, interaction: discord.Interaction[Any], words: list[str], *, form: bool = False
    ) -> None:
        place, sender = self._who(interaction)
        if place is None:
            await InteractionSink(interaction).send(NOT_IN_GUILD)
            return
        if not form:
            # Discord wants a first response within three seconds; a form must be that
            # first response, so only commands that cannot open one are deferred.
            try:
                await interaction.response.defer(ephemeral=True, thinking=True)
            except DISCORD_ERRORS as exc:
                logger.warning("could not acknowledge an interaction (%s)", error_reason(exc))
                return
        request = CommandRequest(
            place=place, sender=sender, text=tr.command_text(words), event_id=str(interaction.id)
        )

        async def open_form(secret_form: SecretForm) -> str:
            return await self._core.open_form(secret_form, place=place, sender=sender)

        sink = InteractionSink(interaction, open_form=open_form)
        await self._core.handle_command(request, sink)

    # -- approval buttons ----------------------------------------------------------------
    async def _on_button(self, interaction: discord.Interaction[Any], click: Click) -> None:
        """Ask an admin / Approve / Deny: acknowledged within Discord's three seconds, in a
        tracked task like a key form."""
        buttons = ApprovalButtons(self._core, who=self._who)
        self._background.spawn(buttons.handle(interaction, click), kind="button", bounded=False)

    # -- key forms -----------------------------------------------------------------------
    async def _on_form_submit(self, interaction: discord.Interaction[Any], token: str) -> None:
        """A key form was submitted: finish it in a tracked task (a stop lets a key being
        verified and stored finish), not queued behind answers: Discord wants the
        submission acknowledged within three seconds."""
        self._background.spawn(self._submit_form(interaction, token), kind="form", bounded=False)

    async def _submit_form(self, interaction: discord.Interaction[Any], token: str) -> None:
        sink = InteractionSink(interaction)
        place, sender = self._who(interaction)
        secret = submitted_secret(interaction.data)
        if place is None or not secret:
            await sink.send(NOT_IN_GUILD if place is None else "Paste the API key.")
            return
        try:
            await interaction.response.defer(ephemeral=True, thinking=True)
        except DISCORD_ERRORS as exc:
            logger.warning("could not acknowledge the key form (%s)", error_reason(exc))
            return
        await self._core.submit_form(token, secret, place=place, sender=sender, sink=sink)

    def _who(self, interaction: discord.Interaction[Any]) -> tuple[Place | None, Sender]:
        guild = interaction.guild_id
        perms = interaction.permissions
        user = interaction.user
        sender = tr.sender(
            user_id=user.id,
            name=user.name,
            admin=tr.is_admin(
                administrator=perms.administrator,
                manage_guild=perms.manage_guild,
                in_guild=guild is not None,
            ),
        )
        if guild is None or interaction.channel_id is None:
            return None, sender
        name = interaction.guild.name if interaction.guild is not None else ""
        return tr.place(guild_id=guild, channel_id=interaction.channel_id, workspace_name=name), (
            sender
        )

    # -- messages ------------------------------------------------------------------------
    async def _on_message(self, message: discord.Message) -> None:
        client = self._client
        if client is None or client.user is None:
            return
        author = message.author
        if author.bot or author.id == client.user.id or message.webhook_id is not None:
            return
        if message.type not in _HUMAN_TYPES:
            return
        self._background.spawn(self._answer(message, client.user.id), kind="message")

    async def _answer(self, message: discord.Message, bot_id: int) -> None:
        client = self._client
        if client is None:
            return
        guild = message.guild
        sink = MessageSink(message)
        mentioned = tr.mentions(message.content, bot_id) or any(
            user.id == bot_id for user in message.mentions
        )
        if guild is None:
            workspace = await self._direct.workspace_of(client, message.author.id)
            if workspace is None:
                await sink.send(HINT)
                return
            place = tr.place(guild_id=None, channel_id=message.channel.id, workspace=workspace)
            admin = False  # no guild permissions apply in a DM
        else:
            place = tr.place(
                guild_id=guild.id, channel_id=message.channel.id, workspace_name=guild.name
            )
            perms = getattr(message.author, "guild_permissions", None)
            admin = perms is not None and tr.is_admin(
                administrator=perms.administrator, manage_guild=perms.manage_guild, in_guild=True
            )
        incoming = IncomingMessage(
            place=place,
            sender=tr.sender(user_id=message.author.id, name=message.author.name, admin=admin),
            text=tr.strip_mention(message.content, bot_id),
            event_id=str(message.id),
            message_id=str(message.id),
            mentions_bot=mentioned,
            history=reply_chain(message, bot_id=bot_id),
            files=tr.incoming_files(
                [
                    tr.AttachmentRef(
                        filename=item.filename,
                        content_type=item.content_type,
                        size=item.size,
                        url=item.url,
                    )
                    for item in message.attachments
                ],
                fetcher=self._files.fetcher(),
            ),
        )
        await self._core.handle_message(incoming, sink)
