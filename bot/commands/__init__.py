"""The `/byok` command set: grammar, help, permissions, handlers and the dispatcher."""

from __future__ import annotations

from bot.commands.dispatcher import UNAVAILABLE, CommandDispatcher

__all__ = ["UNAVAILABLE", "CommandDispatcher"]
