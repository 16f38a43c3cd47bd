"""The discord.py client: configured REST base URL, gateway address, intents, quiet loggers.

discord.py logs REST request bodies and gateway payloads (message content, interaction
options that may hold a key) at DEBUG. Its loggers are pinned to INFO here, so no log
level setting can make them leak content.

discord.py builds every REST URL from the class attribute `discord.http.Route.BASE` and
connects a plain `Client` to the class attribute `DiscordWebSocket.DEFAULT_GATEWAY`; both
are process-wide, so they are set once from the settings before the client logs in.

With DISCORD_SHARD_COUNT the process runs a `ShardedByokClient` (discord.py's
`AutoShardedClient`) holding only its DISCORD_SHARD_IDS, so guilds are split across
replicas; only the replica holding shard 0 syncs the app commands (they are global).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import discord
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

from adapters.discord.buttons import Click, parse_click
from adapters.discord.secret_form import form_token
from adapters.discord.streaming import NO_PINGS

logger = logging.getLogger(__name__)

LIBRARY_LOGGERS = (
    "discord",
    "discord.client",
    "discord.gateway",
    "discord.http",
    "discord.state",
    "discord.webhook",
    "discord.webhook.async_",
    "discord.app_commands",
    "discord.ui",
)

MessageHandler = Callable[[discord.Message], Awaitable[None]]
# A key form's submission and the pending form's token its custom_id carries.
FormHandler = Callable[[discord.Interaction[Any], str], Awaitable[None]]
# A click on an approval button (Ask an admin, Approve, Deny).
ButtonHandler = Callable[[discord.Interaction[Any], Click], Awaitable[None]]


def quiet_library_loggers() -> None:
    """Pin discord.py's loggers to INFO (their DEBUG lines hold payloads)."""
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)


def configure_rest(api_url: str) -> None:
    """Send every REST call of this process to `api_url` (BYOKBOT_DISCORD_API_URL)."""
    Route.BASE = api_url.rstrip("/")


def configure_gateway(url: str) -> None:
    """Connect (and reconnect after an invalidated session) to the gateway `url`."""
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)


def intents() -> discord.Intents:
    """Guilds, guild and DM messages, and message content (a privileged intent)."""
    wanted = discord.Intents.none()
    wanted.guilds = True
    wanted.guild_messages = True
    wanted.dm_messages = True
    wanted.message_content = True
    return wanted


class ByokClient(discord.Client):
    """A `discord.Client` with the `/byok` command tree; messages go to `on_chat_message`,
    key form submissions to `on_form_submit`."""

    def __init__(
        self,
        *,
        group: app_commands.Group,
        on_chat_message: MessageHandler,
        on_form_submit: FormHandler,
        sync_commands: bool = True,
        on_button: ButtonHandler | None = None,
        **options: Any,
    ) -> None:
        # No message cache: message content stays in memory only while it is answered.
        super().__init__(intents=intents(), allowed_mentions=NO_PINGS, max_messages=None, **options)
        self.tree: app_commands.CommandTree[ByokClient] = app_commands.CommandTree(self)
        self.tree.add_command(group)
        self.tree.on_error = self._on_command_error  # type: ignore[method-assign]
        self._on_chat_message = on_chat_message
        self._on_form_submit = on_form_submit
        self._on_button = on_button
        self._sync_commands = sync_commands
        self.synced = False

    async def setup_hook(self) -> None:
        """Register the `/byok` commands with Discord (globally, guild-only) once per login."""
        if not self._sync_commands:
            logger.info("discord commands are synced by the replica holding shard 0")
            return
        try:
            await self.tree.sync()
            self.synced = True
            logger.info("discord commands synced")
        except discord.DiscordException as exc:
            logger.warning("discord command sync failed (%s)", type(exc).__name__)

    async def on_ready(self) -> None:
        """Log the connection (ids only)."""
        user = self.user
        logger.info(
            "discord connected as %s in %d guild(s)", user.id if user else "?", len(self.guilds)
        )

    async def on_message(self, message: discord.Message) -> None:
        """Every message the intents deliver; edits arrive as another event and are ignored."""
        await self._on_chat_message(message)

    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        """Every interaction (discord.py dispatches each once); key form submissions are
        handled here from their custom_id's token, never by an in-memory modal; so are the
        approval buttons (`adapters/discord/buttons.py`), from their custom ids."""
        data: Mapping[str, Any] = interaction.data or {}
        if interaction.type is discord.InteractionType.component:
            click = parse_click(data.get("custom_id"))
            if click is not None and self._on_button is not None:
                await self._on_button(interaction, click)
            return
        if interaction.type is not discord.InteractionType.modal_submit:
            return
        token = form_token(data.get("custom_id"))
        if token is not None:
            await self._on_form_submit(interaction, token)

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        """Log the failing event and error class only (arguments hold message content)."""
        logger.error("discord event %s failed (%s)", event_method, type(sys.exc_info()[1]).__name__)

    async def _on_command_error(
        self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        cause = error.original if isinstance(error, app_commands.CommandInvokeError) else error
        logger.error("discord command failed (%s)", type(cause).__name__)


class ShardedByokClient(ByokClient, discord.AutoShardedClient):
    """The same client over the shards given (`shard_count=`, `shard_ids=`) only."""
