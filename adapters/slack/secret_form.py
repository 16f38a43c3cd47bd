"""The `key add` / `key rotate` modal: building the view and reading its submission.

The modal's private metadata carries what the form is for and where to answer (channel,
response_url) — never the secret, which arrives only in the submission's state values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.boundary import SecretForm
from bot.errors import InvalidValue

CALLBACK_ID = "byok_secret_form"
BLOCK_ID = "secret_block"
ACTION_ID = "secret_value"
_METADATA_LIMIT = 3000  # Slack's cap on private_metadata


@dataclass(frozen=True, slots=True)
class FormContext:
    """Where the form was opened from: answers go back there."""

    channel_id: str
    response_url: str | None


def build_view(form: SecretForm, context: FormContext) -> dict[str, Any]:
    """The modal view for `form` (Block Kit JSON)."""
    verb = "Rotate" if form.action == "rotate" else "Add"
    subject = f"{form.provider} key" if form.provider else "key"
    metadata = json.dumps(
        {
            "action": form.action,
            "key_name": form.key_name,
            "provider": form.provider,
            "base_url": form.base_url,
            "verify": form.verify,
            "channel_id": context.channel_id,
            "response_url": context.response_url,
        },
        separators=(",", ":"),
    )
    if len(metadata) > _METADATA_LIMIT:
        raise InvalidValue("the key form cannot carry this much (base URL too long?)")
    return {
        "type": "modal",
        "callback_id": CALLBACK_ID,
        "private_metadata": metadata,
        "title": {"type": "plain_text", "text": f"{verb} {subject}"[:24]},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"Paste the API key for *{form.key_name}*. It is encrypted "
                    "before it is stored and never shown again.",
                },
            },
            {
                "type": "input",
                "block_id": BLOCK_ID,
                "label": {"type": "plain_text", "text": "API key"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": ACTION_ID,
                    "placeholder": {"type": "plain_text", "text": "sk-…"},
                },
            },
        ],
    }


def read_submission(view: Mapping[str, Any]) -> tuple[SecretForm, FormContext, str]:
    """Form, context and secret from a view_submission's `view`; InvalidValue if malformed."""
    try:
        meta = json.loads(str(view.get("private_metadata") or "{}"))
        action = str(meta["action"])
        key_name = str(meta["key_name"])
    except (ValueError, KeyError, TypeError):
        raise InvalidValue("malformed secret form metadata") from None
    if action not in ("add", "rotate") or not key_name:
        raise InvalidValue("malformed secret form metadata")
    form = SecretForm(
        action=action,
        key_name=key_name,
        provider=_optional(meta.get("provider")),
        base_url=_optional(meta.get("base_url")),
        verify=bool(meta.get("verify", True)),
    )
    context = FormContext(
        channel_id=str(meta.get("channel_id") or ""),
        response_url=_optional(meta.get("response_url")),
    )
    values = (view.get("state") or {}).get("values") or {}
    secret = ((values.get(BLOCK_ID) or {}).get(ACTION_ID) or {}).get("value")
    return form, context, str(secret or "").strip()


def _optional(value: object) -> str | None:
    return str(value) if value not in (None, "") else None
