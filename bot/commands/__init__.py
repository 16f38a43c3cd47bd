"""The `/byok` command set: the registry, grammar, help, permissions, handlers, dispatcher."""

from __future__ import annotations

from bot.commands.dispatcher import UNAVAILABLE, CommandDispatcher

__all__ = ["UNAVAILABLE", "CommandDispatcher"]
