"""Ask an admin on Discord: clicks on the approval buttons (`adapters/discord/buttons.py`).

Clicks are not answered by an in-memory view: the client hands every component
interaction whose custom id has the buttons' shape here, so a button keeps working after
a restart and on any replica.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import discord

from adapters.discord import translation as tr
from adapters.discord.buttons import APPROVE, ASK, Click
from adapters.discord.sinks import InteractionSink
from adapters.discord.streaming import DISCORD_ERRORS, error_reason
from bot.boundary import Place, Sender
from bot.core import Core

logger = logging.getLogger(__name__)

Who = Callable[[discord.Interaction[Any]], tuple[Place | None, Sender]]


class ApprovalButtons:
    """Turns approval button clicks into core calls (rights checked there, on every click)."""

    def __init__(self, core: Core, *, who: Who) -> None:
        self._core = core
        self._who = who

    async def handle(self, interaction: discord.Interaction[Any], click: Click) -> None:
        """Acknowledge privately, then ask or decide; the answer is an ephemeral follow-up."""
        place, sender = self._who(interaction)
        if place is None and click.action == ASK and click.guild_id is not None:
            # The refusal went to the member's DMs: its button names the guild.
            place = tr.place(
                guild_id=click.guild_id, channel_id=interaction.channel_id or 0, workspace_name=""
            )
        sink = InteractionSink(interaction)
        if place is None:
            await sink.send("This button only works in a server.")
            return
        try:
            await interaction.response.defer(ephemeral=True, thinking=True)
        except DISCORD_ERRORS as exc:
            logger.warning("could not acknowledge a button (%s)", error_reason(exc))
            return
        if click.action == ASK:
            await self._core.ask_admin(
                click.request_id,
                place=place,
                sender=sender,
                sink=sink,
                click_id=str(interaction.id),
            )
            return
        await self._core.decide_request(
            click.request_id,
            approve=click.action == APPROVE,
            place=place,
            sender=sender,
            sink=sink,
            click_id=str(interaction.id),
        )
