"""Signed request bodies: into a bolt request, or the reason they are malformed (a 400).

A correctly signed body can still be garbage (a replayed test, a broken proxy, a bug at
Slack): not JSON, a JSON array, `payload=` that is not a JSON object, a slash command
without its fields. Bolt assumes Slack's shapes and would raise deep inside; the shapes
byokbot and bolt rely on are checked here first, so such a body gets a 400 and one log
line that names the reason — never the body, which may hold a key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.request.internals import parse_body

#: What parsing or dispatching a body of an unexpected shape raises inside bolt.
SHAPE_ERRORS: tuple[type[Exception], ...] = (
    ValueError,  # json.JSONDecodeError included
    TypeError,
    AttributeError,
    KeyError,
    IndexError,
)

_COMMAND_FIELDS = ("command", "team_id", "user_id", "channel_id", "trigger_id")
# Top-level fields bolt reads while building its context, with the types it can handle.
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "type": (str,),
    "team_id": (str,),
    "user_id": (str,),
    "channel_id": (str,),
    "trigger_id": (str,),
    "event_id": (str,),
    "response_url": (str,),
    "enterprise_id": (str,),
    "enterprise": (str, dict),
    "team": (str, dict),
    "user": (str, dict),
    "channel": (str, dict),
    "event": (dict,),
    "view": (dict,),
    "container": (dict,),
    "message": (dict,),
    "actions": (list,),
    "authorizations": (list,),
}
_NESTED_IDS = ("enterprise", "team", "user", "channel")


def bolt_request(
    text: str, *, query: str, headers: Mapping[str, str | Sequence[str]]
) -> AsyncBoltRequest | str:
    """The bolt request for a signed body, or a short reason (no content) why it is malformed."""
    try:
        request = AsyncBoltRequest(body=text, query=query, headers=dict(headers))
    except SHAPE_ERRORS as exc:
        return f"unparsable body ({type(exc).__name__})"
    body: object = request.body
    if not isinstance(body, dict):
        return f"body is a JSON {type(body).__name__}, not an object"
    problem = shape_problem(body)
    return problem if problem is not None else request


def parse(text: str, *, content_type: str | None) -> dict[str, Any] | str:
    """The body as bolt reads it, or a short reason (no content) why it is malformed."""
    try:
        body: object = parse_body(text, content_type)
    except SHAPE_ERRORS as exc:
        return f"unparsable body ({type(exc).__name__})"
    if not isinstance(body, dict):
        return f"body is a JSON {type(body).__name__}, not an object"
    problem = shape_problem(body)
    return problem if problem is not None else body


def shape_problem(body: Mapping[str, Any]) -> str | None:
    """Why a parsed body does not have the shape of any Slack request, or None."""
    for name, types in _FIELD_TYPES.items():
        value = body.get(name)
        if value is not None and not isinstance(value, types):
            return f"field {name} has the wrong type"
    for name in _NESTED_IDS:
        nested = body.get(name)
        if isinstance(nested, dict) and not isinstance(nested.get("id", ""), str):
            return f"field {name}.id has the wrong type"
    authorizations = body.get("authorizations") or []
    if not all(isinstance(item, dict) for item in authorizations):
        return "field authorizations has the wrong type"
    if "command" in body:
        missing = [name for name in _COMMAND_FIELDS if not body.get(name)]
        if missing:
            return "slash command without " + ", ".join(missing)
    kind = body.get("type")
    if kind == "event_callback":
        event = body.get("event")
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            return "event callback without an event type"
        if not body.get("event_id"):
            return "event callback without an event id"
    elif kind in ("view_submission", "view_closed") and not isinstance(body.get("view"), dict):
        return f"{kind} without a view"
    return None
