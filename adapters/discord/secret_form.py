"""The `key add` / `key rotate` modal: one hidden-from-the-channel text input for the secret.

What the form is for is kept by the core in the database under a token; the modal's
custom_id carries only that token (`byok-key-form:<token>`). The modal is not kept in
discord.py's in-memory view store: its submission is handled from the token by the
adapter's interaction handler, so it survives a restart of `byokbot serve` between the
modal opening and its submission, and it is handled exactly once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import discord

from bot.boundary import SecretForm
from bot.forms import FORM_TIMEOUT_SECONDS, valid_token

logger = logging.getLogger(__name__)

__all__ = [
    "FORM_PREFIX",
    "FORM_TIMEOUT_SECONDS",
    "SECRET_INPUT_ID",
    "SecretModal",
    "form_custom_id",
    "form_title",
    "form_token",
    "submitted_secret",
]

FORM_PREFIX = "byok-key-form:"
SECRET_INPUT_ID = "byok_secret_value"
CUSTOM_ID_LIMIT = 100  # Discord's limit on a custom_id


def form_title(form: SecretForm) -> str:
    """The modal's title (Discord allows 45 characters)."""
    verb = "Add" if form.action == "add" else "Rotate"
    return f"{verb} key {form.key_name}"[:45]


def form_custom_id(token: str) -> str:
    """The modal's custom_id for the pending form `token`."""
    custom_id = FORM_PREFIX + token
    if len(custom_id) > CUSTOM_ID_LIMIT:
        raise ValueError("a key form token too long for a Discord custom_id")
    return custom_id


def form_token(custom_id: object) -> str | None:
    """The pending form's token of a key form's custom_id; None for any other custom_id."""
    if not isinstance(custom_id, str) or not custom_id.startswith(FORM_PREFIX):
        return None
    token = custom_id[len(FORM_PREFIX) :]
    return token if valid_token(token) else None


def submitted_secret(data: Mapping[str, Any] | None) -> str:
    """The value typed into the secret input of a MODAL_SUBMIT's `data` ("" if absent).

    Inputs come in action rows (`components`), or in label components (`component`).
    """

    def walk(components: Iterable[Any]) -> str | None:
        for component in components:
            if not isinstance(component, Mapping):
                continue
            if component.get("custom_id") == SECRET_INPUT_ID and "value" in component:
                return str(component.get("value") or "")
            nested = component.get("components")
            if isinstance(nested, list):
                found = walk(nested)
                if found is not None:
                    return found
            inner = component.get("component")
            if isinstance(inner, Mapping):
                found = walk([inner])
                if found is not None:
                    return found
        return None

    components = (data or {}).get("components")
    found = walk(components) if isinstance(components, list) else None
    return (found or "").strip()


class SecretModal(discord.ui.Modal):
    """Asks for a provider key privately; the value never passes through command text.

    Only a description of the modal: it has no submit behaviour of its own, and the sink
    stops it once sent, so discord.py keeps nothing of it in memory.
    """

    def __init__(self, form: SecretForm, *, token: str) -> None:
        super().__init__(title=form_title(form), timeout=None, custom_id=form_custom_id(token))
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

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        """Never handle a submission here: the adapter handles it from the token (once)."""
        return False

    # discord.py's Modal.on_error drops BaseView's `item` argument; mypy sees a mismatch.
    async def on_error(  # type: ignore[override]
        self, interaction: discord.Interaction[Any], error: Exception, /
    ) -> None:
        """Log the error class only: the traceback's locals could hold the secret."""
        logger.error("key form failed (%s)", type(error).__name__)
