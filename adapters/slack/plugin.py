"""The `byokbot.adapters` entry point for Slack: which mode the settings ask for."""

from __future__ import annotations

from adapters.slack.adapter import SlackAdapter, SlackMode
from bot.config import Settings
from bot.core import Core
from bot.errors import ConfigError
from bot.services import Services


def slack_mode(settings: Settings) -> SlackMode | None:
    """The mode the credentials allow, or None when Slack is not configured.

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
    return SlackMode(oauth=oauth, socket=socket, http=http)


class SlackPlugin:
    """Creates the Slack adapter when Slack credentials are configured."""

    name = "slack"

    def is_configured(self, settings: Settings, *, interactive: bool) -> bool:
        """True when some Slack mode has all of its credentials."""
        return slack_mode(settings) is not None

    def create(self, core: Core, services: Services) -> SlackAdapter:
        """Build the adapter (no network I/O until `start`)."""
        mode = slack_mode(services.settings)
        if mode is None:
            raise ConfigError("Slack is not configured", setting="SLACK_BOT_TOKEN")
        return SlackAdapter(core, services, mode=mode)
