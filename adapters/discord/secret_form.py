"""The `key add` / `key rotate` modal: one hidden-from-the-channel text input for the secret.

The modal is kept in discord.py's in-memory view store until it is submitted or times
out; its submission is handed to the core with the interaction that submitted it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import discord

from bot.boundary import SecretForm

logger = logging.getLogger(__name__)

FORM_TIMEOUT_SECONDS = 15 * 60.0
SECRET_INPUT_ID = "byok_secret_value"

Submit = Callable[[SecretForm, str, discord.Interaction[Any]], Awaitable[None]]


def form_title(form: SecretForm) -> str:
    """The modal's title (Discord allows 45 characters)."""
    verb = "Add" if form.action == "add" else "Rotate"
    return f"{verb} key {form.key_name}"[:45]


class SecretModal(discord.ui.Modal):
    """Asks for a provider key privately; the value never passes through command text."""

    def __init__(self, form: SecretForm, *, submit: Submit) -> None:
        super().__init__(title=form_title(form), timeout=FORM_TIMEOUT_SECONDS)
        self.form = form
        self._submit = submit
        label = f"{form.provider} API key" if form.provider else "API key"
        self.secret: discord.ui.TextInput[SecretModal] = discord.ui.TextInput(
            label=label[:45],
            custom_id=SECRET_INPUT_ID,
            style=discord.TextStyle.short,
            placeholder="Paste the key; it is stored encrypted and never shown again.",
            required=True,
            max_length=4_000,
        )
        self.add_item(self.secret)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        """Hand the secret to the core (which checks admin rights again and verifies it)."""
        value = (self.secret.value or "").strip()
        await self._submit(self.form, value, interaction)

    # discord.py's Modal.on_error drops BaseView's `item` argument; mypy sees a mismatch.
    async def on_error(  # type: ignore[override]
        self, interaction: discord.Interaction[Any], error: Exception, /
    ) -> None:
        """Log the error class only: the traceback's locals could hold the secret."""
        logger.error("key form submission failed (%s)", type(error).__name__)
