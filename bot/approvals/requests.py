"""Opening an approval request when a hard budget refuses a call, and the words around it.

The request holds who, which agent and budget, the period and the call's worst case —
never the message: the member sends it again once an admin approves.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from collections.abc import Sequence

from sqlalchemy.engine import Connection

from bot.budgets.reservations import Held, adjective
from bot.clock import to_naive_utc
from bot.errors import BudgetExceeded
from bot.money import format_usd, from_pico
from storage import approvals as store
from storage.approvals import ApprovalRow

LIFETIME = dt.timedelta(hours=1)
ID_LENGTH = 8


def new_request_id() -> str:
    """8 random base32 characters (40 bits): short to type, not guessable."""
    return base64.b32encode(secrets.token_bytes(5)).decode("ascii").lower()[:ID_LENGTH]


def normalise_id(text: str) -> str:
    """A request id as typed (any case, surrounding spaces) in its stored form."""
    return text.strip().lower()[:16]


def open_for_refusal(
    conn: Connection,
    exc: BudgetExceeded,
    held: Sequence[Held],
    *,
    workspace_id: str,
    member_id: str,
    agent_name: str,
    worst_pusd: int,
    now: dt.datetime,
) -> str | None:
    """Store a pending request for the budget that refused; its id (None if unknown)."""
    refusing = next((item for item in held if item.budget_id == exc.budget_id), None)
    if refusing is None and len(held) == 1:
        refusing = held[0]
    if refusing is None:
        return None
    at = to_naive_utc(now)
    request_id = new_request_id()
    store.open_request(
        conn,
        ApprovalRow(
            id=request_id,
            workspace_id=workspace_id,
            member_id=member_id[:64],
            agent_name=agent_name[:64],
            budget_id=refusing.budget_id,
            budget_label=f"the {adjective(refusing.period)} budget of {refusing.label}"[:120],
            period_start=refusing.period_key,
            worst_pusd=worst_pusd,
            state=store.PENDING,
            allowance_pusd=None,
            decided_by=None,
            created_at=at,
            expires_at=at + LIFETIME,
        ),
    )
    return request_id


def console_hint(request_id: str) -> str:
    """What the console adds to a refusal: the id and how an admin approves it."""
    return (
        f"Request {request_id}: an admin can allow this call once with "
        f"/byok approve {request_id} (or refuse with /byok deny {request_id}); "
        "it expires in an hour."
    )


def ask_text(row: ApprovalRow, *, member: str) -> str:
    """The digest-channel post of a request: who, agent, budget, worst case."""
    worst = format_usd(from_pico(row.worst_pusd))
    return (
        f"Approval request {row.id}: {member} asks to pass {row.budget_label} once "
        f"(agent {row.agent_name}, this call costs at most {worst})."
        f" Approve or deny below, or with /byok approve {row.id} [<usd>] | deny {row.id};"
        " it expires in an hour."
    )


def approved_text(row: ApprovalRow) -> str:
    """What the member is told when an admin approves."""
    allowance = format_usd(from_pico(row.allowance_pusd or row.worst_pusd))
    return (
        f"An admin approved request {row.id}: you have a one-off allowance of {allowance} on "
        f"{row.budget_label} until it resets. Send your message again."
    )


def denied_text(row: ApprovalRow) -> str:
    """What the member is told when an admin denies."""
    return f"An admin denied request {row.id} to pass {row.budget_label}."
