"""Slack adapter (slack-bolt): slash commands, modals, mentions, DMs, threads, streaming."""

from __future__ import annotations

from adapters.slack.plugin import SlackPlugin

plugin = SlackPlugin()

__all__ = ["SlackPlugin", "plugin"]
