"""The `byokbot.adapters` entry point for Slack: which mode the settings ask for."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.errors import ConfigError

# slack_bolt (and its aiohttp adapter) is imported only when some Slack mode is configured:
# every start (a shell, a Discord bot) loads this entry point and asks `is_configured`.
if TYPE_CHECKING:
    from adapters.slack.adapter import SlackAdapter, SlackMode
    from bot.config import Settings
    from bot.core import Core
    from bot.services import Services

logger = logging.getLogger(__name__)


def slack_mode(settings: Settings) -> SlackMode | None:
    """The mode the credentials allow, or None when no mode has all it needs.

    - OAuth (multi-workspace): SLACK_CLIENT_ID + SLACK_CLIENT_SECRET + SLACK_SIGNING_SECRET.
    - Socket Mode: SLACK_APP_TOKEN + SLACK_BOT_TOKEN (no public URL needed).
    - HTTP (single workspace): SLACK_BOT_TOKEN + SLACK_SIGNING_SECRET.
    OAuth wins over a bot token; Socket Mode may run beside HTTP when both are set.
    """
    signing = settings.slack_signing_secret is not None
    oauth = bool(settings.slack_client_id and settings.slack_client_secret and signing)
    socket = bool(settings.slack_app_token and settings.slack_bot_token and not oauth)
    http = signing and (oauth or settings.slack_bot_token is not None)
    if not (oauth or socket or http):
        return None
    from adapters.slack.adapter import SlackMode

    return SlackMode(oauth=oauth, socket=socket, http=http)


def any_slack_setting(settings: Settings) -> bool:
    """True when any Slack credential is set (complete or not)."""
    return any(
        value is not None and value != ""
        for value in (
            settings.slack_bot_token,
            settings.slack_signing_secret,
            settings.slack_app_token,
            settings.slack_client_id,
            settings.slack_client_secret,
        )
    )


def what_is_missing(settings: Settings) -> ConfigError:
    """A one-line error naming what an incomplete Slack configuration lacks."""
    if settings.slack_client_id or settings.slack_client_secret:
        needed = ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "SLACK_SIGNING_SECRET")
        present = (
            settings.slack_client_id,
            settings.slack_client_secret,
            settings.slack_signing_secret,
        )
        missing = [name for name, value in zip(needed, present, strict=True) if not value]
        return ConfigError(f"Slack OAuth needs {', '.join(missing)} as well", setting=missing[0])
    if settings.slack_app_token is not None:
        return ConfigError("Slack Socket Mode needs SLACK_BOT_TOKEN too", setting="SLACK_BOT_TOKEN")
    if settings.slack_bot_token is not None:
        return ConfigError(
            "SLACK_BOT_TOKEN needs SLACK_SIGNING_SECRET (HTTP) or SLACK_APP_TOKEN (Socket Mode)",
            setting="SLACK_SIGNING_SECRET",
        )
    return ConfigError(
        "SLACK_SIGNING_SECRET needs SLACK_BOT_TOKEN, or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET",
        setting="SLACK_BOT_TOKEN",
    )


class SlackPlugin:
    """Creates the Slack adapter when Slack credentials are configured."""

    name = "slack"

    def is_configured(self, settings: Settings, *, interactive: bool) -> bool:
        """True when some Slack mode has all it needs; an incomplete set is logged and skipped."""
        if slack_mode(settings) is not None:
            return True
        if any_slack_setting(settings):
            logger.warning("Slack not started: %s", what_is_missing(settings))
        return False

    def create(self, core: Core, services: Services) -> SlackAdapter:
        """Build the adapter (no network I/O until `start`); ConfigError if incomplete."""
        mode = slack_mode(services.settings)
        if mode is None:
            raise what_is_missing(services.settings)
        from adapters.slack.adapter import SlackAdapter

        return SlackAdapter(core, services, mode=mode)
