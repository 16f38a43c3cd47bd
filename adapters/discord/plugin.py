"""The `byokbot.adapters` entry point for Discord: on when DISCORD_BOT_TOKEN is set."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.errors import ConfigError

# discord.py is imported only when the adapter is created: every start (a shell, a Slack
# bot) loads this entry point, and only one with a Discord token runs the adapter.
if TYPE_CHECKING:
    from adapters.discord.adapter import DiscordAdapter
    from bot.config import Settings
    from bot.core import Core
    from bot.services import Services


class DiscordPlugin:
    """Creates the Discord adapter when a bot token is configured."""

    name = "discord"

    def is_configured(self, settings: Settings, *, interactive: bool) -> bool:
        """True when DISCORD_BOT_TOKEN is set (and not empty)."""
        token = settings.discord_bot_token
        return token is not None and bool(token.get_secret_value().strip())

    def create(self, core: Core, services: Services) -> DiscordAdapter:
        """Build the adapter (no network I/O until `start`); ConfigError without a token."""
        if not self.is_configured(services.settings, interactive=False):
            raise ConfigError("Discord needs DISCORD_BOT_TOKEN", setting="DISCORD_BOT_TOKEN")
        from adapters.discord.adapter import DiscordAdapter

        return DiscordAdapter(core, services)
