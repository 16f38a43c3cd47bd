"""Discord adapter (discord.py): `/byok` app commands, modals, mentions, DMs, reply chains."""

from __future__ import annotations

from adapters.discord.plugin import DiscordPlugin

plugin = DiscordPlugin()

__all__ = ["DiscordPlugin", "plugin"]
