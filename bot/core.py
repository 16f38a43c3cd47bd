"""The core's single entry point for adapters: commands, messages, secret forms."""

from __future__ import annotations

from bot.boundary import CommandRequest, IncomingMessage, Place, ReplySink, SecretForm, Sender
from bot.services import Services


class Core:
    """Platform-neutral bot: adapters call these three coroutines and nothing else."""

    def __init__(self, services: Services) -> None:
        self.services = services

    async def handle_command(self, request: CommandRequest, sink: ReplySink) -> None:
        """Run one `/byok …` command and answer privately through `sink`."""
        raise NotImplementedError

    async def handle_message(self, message: IncomingMessage, sink: ReplySink) -> None:
        """Route one chat message to its agent (or ignore it) and answer through `sink`."""
        raise NotImplementedError

    async def submit_secret(
        self, form: SecretForm, secret: str, *, place: Place, sender: Sender, sink: ReplySink
    ) -> None:
        """Finish a `key add`/`key rotate` whose secret came through a private form."""
        raise NotImplementedError
