"""Block Kit for Ask an admin: the refusal's button and the request's Approve / Deny.

Buttons carry the approval request id only (`value`), never anything of the message.
"""

from __future__ import annotations

from typing import Any

from adapters.mentions import slack_safe

ASK = "byok_ask"
APPROVE = "byok_approve"
DENY = "byok_deny"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": slack_safe(text)[:3000]}}


def _button(
    label: str, action_id: str, request_id: str, style: str | None = None
) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": label},
        "action_id": action_id,
        "value": request_id,
    }
    if style is not None:
        button["style"] = style
    return button


def refusal_blocks(text: str, request_id: str) -> list[dict[str, Any]]:
    """The private refusal with its **Ask an admin** button."""
    return [
        _section(text),
        {"type": "actions", "elements": [_button("Ask an admin", ASK, request_id)]},
    ]


def decision_blocks(text: str, request_id: str) -> list[dict[str, Any]]:
    """The digest-channel post of a request with **Approve** / **Deny**."""
    buttons = [
        _button("Approve", APPROVE, request_id, "primary"),
        _button("Deny", DENY, request_id, "danger"),
    ]
    return [_section(text), {"type": "actions", "elements": buttons}]
