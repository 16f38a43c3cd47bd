"""The key modal: its custom_id, its submission data, and that it handles nothing itself."""

from __future__ import annotations

import secrets
from typing import Any

from adapters.discord.secret_form import (
    SECRET_INPUT_ID,
    SecretModal,
    form_custom_id,
    form_token,
    submitted_secret,
)
from bot.boundary import SecretForm
from bot.forms import TOKEN_BYTES


def test_the_custom_id_carries_the_token_under_discords_limit() -> None:
    token = secrets.token_urlsafe(TOKEN_BYTES)
    custom_id = form_custom_id(token)
    assert custom_id == f"byok-key-form:{token}" and len(custom_id) <= 100
    assert form_token(custom_id) == token


def test_other_custom_ids_are_not_key_forms() -> None:
    for custom_id in (None, 7, "", "byok-key-form:", "a1b2c3" * 5, "byok-key-form:bad token!"):
        assert form_token(custom_id) is None, custom_id


def test_the_secret_is_read_from_action_rows_and_label_components() -> None:
    typed = {"type": 4, "custom_id": SECRET_INPUT_ID, "value": "  sk-abc  "}
    rows = {"components": [{"type": 1, "components": [typed]}]}
    labels = {"components": [{"type": 18, "component": {**typed, "value": "sk-def"}}]}
    assert submitted_secret(rows) == "sk-abc"
    assert submitted_secret(labels) == "sk-def"
    assert submitted_secret({"components": [{"type": 4, "custom_id": "other", "value": "x"}]}) == ""
    assert submitted_secret(None) == submitted_secret({}) == ""


async def test_the_modal_itself_never_handles_a_submission() -> None:
    """Were it still in discord.py's view store, the store's dispatch would stop at the
    check: only the adapter's interaction handler finishes a form, so it runs once."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    modal = SecretModal(SecretForm(action="add", key_name="prod", provider="openai"), token=token)
    assert modal.custom_id == form_custom_id(token)
    assert modal.timeout is None  # the form's expiry is the database's, not the process's
    interaction: Any = object()
    assert await modal.interaction_check(interaction) is False
