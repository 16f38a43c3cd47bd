"""The reads of a chat turn: the answering agent with its key, the workspace's settings.

Each is one statement, built once with bind parameters (they run on every message):
an agent is read together with its key — which must belong to the same workspace — by
name, by channel binding, or as the workspace's default; the workspace's timezone and
digest channel come together with the budgets that cover one agent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, func, literal, select, true, union_all
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection

from storage.budgets import BUDGET_COLUMNS, COVERS, BudgetRow
from storage.events import claim_event
from storage.models import Agent, Budget, ChannelBinding, ProcessedEvent, ProviderKey, Workspace
from storage.rawsql import Prepared

_AGENTS = Agent.__table__  # type: ignore[attr-defined]
_BUDGETS = Budget.__table__  # type: ignore[attr-defined]
_BINDINGS = ChannelBinding.__table__  # type: ignore[attr-defined]
_KEYS = ProviderKey.__table__  # type: ignore[attr-defined]
_WORKSPACES = Workspace.__table__  # type: ignore[attr-defined]
_EVENTS = ProcessedEvent.__table__  # type: ignore[attr-defined]
# An agent with its key, read in the same statement; the key must be the workspace's own.
_AGENT_AND_KEY = _AGENTS.outerjoin(
    _KEYS, and_(_KEYS.c.id == _AGENTS.c.key_id, _KEYS.c.workspace_id == _AGENTS.c.workspace_id)
)


@dataclass(frozen=True, slots=True)
class KeyRow:
    """The agent's key as stored: still sealed (ciphertext, nonce, master-key version)."""

    id: str
    name: str
    provider: str
    base_url: str | None
    ciphertext: bytes = field(repr=False)
    nonce: bytes = field(repr=False)
    key_version: str
    status: str  # active | failing | revoked
    last_used_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class AgentRow:
    """The agent settings a turn needs, with its key (None when it has none)."""

    id: str
    name: str
    model: str
    prompt: str | None
    max_tokens: int
    temperature: float | None
    show_cost: bool
    key: KeyRow | None


@dataclass(frozen=True, slots=True)
class WorkspaceRow:
    """The workspace settings a turn needs."""

    timezone: str = "UTC"
    digest_channel: str | None = None


def _agent_columns() -> list[ColumnElement[Any]]:
    a, k = _AGENTS.c, _KEYS.c
    return [
        *(a.id, a.name, a.model, a.prompt, a.max_tokens, a.temperature, a.show_cost),
        k.id.label("k_id"),
        k.name.label("k_name"),
        k.provider.label("k_provider"),
        k.base_url.label("k_base_url"),
        k.ciphertext.label("k_ciphertext"),
        k.nonce.label("k_nonce"),
        k.key_version.label("k_version"),
        k.status.label("k_status"),
        k.last_used_at.label("k_last_used_at"),
    ]


def _first(rows: list[Any]) -> Any:
    return rows[0] if rows else None


def _row(found: Any) -> AgentRow | None:
    if found is None:
        return None
    key = None
    if found.k_id is not None:
        key = KeyRow(
            id=found.k_id,
            name=found.k_name,
            provider=found.k_provider,
            base_url=found.k_base_url,
            ciphertext=bytes(found.k_ciphertext),
            nonce=bytes(found.k_nonce),
            key_version=found.k_version,
            status=found.k_status,
            last_used_at=found.k_last_used_at,
        )
    return AgentRow(
        id=found.id,
        name=found.name,
        model=found.model,
        prompt=found.prompt,
        max_tokens=found.max_tokens,
        temperature=found.temperature,
        show_cost=bool(found.show_cost),
        key=key,
    )


_BY_NAME = Prepared(
    select(*_agent_columns())
    .select_from(_AGENT_AND_KEY)
    .where(_AGENTS.c.workspace_id == bindparam("w"), _AGENTS.c.name == bindparam("name"))
)
_BOUND = Prepared(
    select(*_agent_columns(), _BINDINGS.c.all_messages)
    .select_from(_AGENT_AND_KEY)
    .join(_BINDINGS, _BINDINGS.c.agent_id == _AGENTS.c.id)
    .where(
        _BINDINGS.c.workspace_id == bindparam("w"),
        _BINDINGS.c.channel_id == bindparam("channel"),
        _AGENTS.c.workspace_id == bindparam("w"),
    )
)
_DEFAULT = Prepared(
    select(*_agent_columns())
    .select_from(_AGENT_AND_KEY)
    .join(_WORKSPACES, _WORKSPACES.c.default_agent_id == _AGENTS.c.id)
    .where(_WORKSPACES.c.id == bindparam("w"), _AGENTS.c.workspace_id == bindparam("w"))
)


# A mention in a channel: the agent its first word may name, and the channel's bound agent,
# in one round trip (most mentions name none, and the binding answers them).
_NAMED_OR_BOUND = Prepared(
    union_all(
        select(literal(1).label("via"), *_agent_columns(), literal(False).label("all_messages"))
        .select_from(_AGENT_AND_KEY)
        .where(_AGENTS.c.workspace_id == bindparam("w"), _AGENTS.c.name == bindparam("name")),
        select(literal(2).label("via"), *_agent_columns(), _BINDINGS.c.all_messages)
        .select_from(_AGENT_AND_KEY)
        .join(_BINDINGS, _BINDINGS.c.agent_id == _AGENTS.c.id)
        .where(
            _BINDINGS.c.workspace_id == bindparam("w"),
            _BINDINGS.c.channel_id == bindparam("channel"),
            _AGENTS.c.workspace_id == bindparam("w"),
        ),
    )
)


def agent_by_name(conn: Connection, *, workspace_id: str, name: str) -> AgentRow | None:
    """The workspace's agent called `name`."""
    return _row(_first(_BY_NAME.rows(conn, {"w": workspace_id, "name": name})))


def bound_agent(
    conn: Connection, *, workspace_id: str, channel_id: str
) -> tuple[AgentRow, bool] | None:
    """The agent bound to the channel and whether it takes every message."""
    found = _first(_BOUND.rows(conn, {"w": workspace_id, "channel": channel_id}))
    agent = _row(found)
    if found is None or agent is None:
        return None
    return agent, bool(found.all_messages)


def named_or_bound(
    conn: Connection, *, workspace_id: str, name: str, channel_id: str
) -> tuple[AgentRow | None, tuple[AgentRow, bool] | None]:
    """`agent_by_name` and `bound_agent` together, in one statement."""
    named: AgentRow | None = None
    bound: tuple[AgentRow, bool] | None = None
    params = {"w": workspace_id, "name": name, "channel": channel_id}
    for found in _NAMED_OR_BOUND.rows(conn, params):
        agent = _row(found)
        if agent is None:
            continue
        if found.via == 1:
            named = agent
        else:
            bound = agent, bool(found.all_messages)
    return named, bound


def default_agent(conn: Connection, *, workspace_id: str) -> AgentRow | None:
    """The workspace's default agent (answers DMs and console lines)."""
    return _row(_first(_DEFAULT.rows(conn, {"w": workspace_id})))


_SETTINGS = (
    _WORKSPACES.c.timezone,
    _WORKSPACES.c.digest_channel,
    *BUDGET_COLUMNS,
)
_COVERING = and_(_BUDGETS.c.workspace_id == _WORKSPACES.c.id, COVERS)
# The workspace's settings and the budgets covering one agent and member, in one round trip.
_WORKSPACE_AND_BUDGETS = Prepared(
    select(*_SETTINGS)
    .select_from(_WORKSPACES.outerjoin(_BUDGETS, _COVERING))
    .where(_WORKSPACES.c.id == bindparam("w"))
    .order_by(_BUDGETS.c.id)  # the lock order of reservations
)


def _claim_and_load() -> Any:
    # PostgreSQL: the event claim as a data-modifying CTE, and the settings read from a
    # one-row VALUES so that the answer has a row (saying whether the claim took) even
    # when the workspace has none.
    claim = (
        pg_insert(_EVENTS)
        .values(event_key=bindparam("k"), created_at=bindparam("at"))
        .on_conflict_do_nothing(index_elements=["event_key"])
        .returning(_EVENTS.c.event_key)
        .cte("claim")
    )
    one = select(literal(1).label("n")).subquery("one")  # (VALUES would not be cached)
    claimed = select(func.count()).select_from(claim).scalar_subquery().label("claimed")
    relaxed = func.set_config("synchronous_commit", "off", true()).label("relaxed")
    return (
        select(claimed, relaxed, *_SETTINGS)
        .select_from(
            one.outerjoin(_WORKSPACES, _WORKSPACES.c.id == bindparam("w")).outerjoin(
                _BUDGETS, _COVERING
            )
        )
        .order_by(_BUDGETS.c.id)
    )


_CLAIM_AND_LOAD = Prepared(_claim_and_load())


def workspace_and_budgets(
    conn: Connection, *, workspace_id: str, agent_id: str, user_id: str = ""
) -> tuple[WorkspaceRow, tuple[BudgetRow, ...]]:
    """The workspace's timezone and digest channel, and the budgets covering agent and member."""
    params = {"w": workspace_id, "a": agent_id, "u": user_id}
    return _settings(_WORKSPACE_AND_BUDGETS.rows(conn, params))


def claim_and_load(
    conn: Connection,
    *,
    event_key: str,
    at: dt.datetime,
    workspace_id: str,
    agent_id: str,
    user_id: str = "",
) -> tuple[bool, WorkspaceRow, tuple[BudgetRow, ...]]:
    """Claim a platform event id and read `workspace_and_budgets`; one statement on PostgreSQL.

    The first item says whether this call claimed the event (False: a duplicate, and
    the rest is not to be used). On PostgreSQL the statement also relaxes the commit of
    its transaction (no wait for the WAL flush): it is the first step of a turn, whose
    later writes — the settlement, or the record of a refusal — commit durably and
    flush the claim with them.
    """
    if conn.dialect.name != "postgresql":
        if not claim_event(conn, event_key=event_key, at=at):
            return False, WorkspaceRow(), ()
        return True, *workspace_and_budgets(
            conn, workspace_id=workspace_id, agent_id=agent_id, user_id=user_id
        )
    params = {"k": event_key, "at": at, "w": workspace_id, "a": agent_id, "u": user_id}
    rows = _CLAIM_AND_LOAD.rows(conn, params)
    if not rows[0].claimed:
        return False, WorkspaceRow(), ()
    return True, *_settings(rows)  # no workspace row: the defaults, no budgets


def _settings(rows: Sequence[Any]) -> tuple[WorkspaceRow, tuple[BudgetRow, ...]]:
    if not rows:
        return WorkspaceRow(), ()
    first = rows[0]
    workspace = WorkspaceRow(timezone=first.timezone or "UTC", digest_channel=first.digest_channel)
    found = tuple(BudgetRow.of(row) for row in rows if row.id is not None)
    return workspace, found


@dataclass(frozen=True, slots=True)
class SetupState:
    """How far a workspace is set up: its usable (not revoked) keys and its agents, by name."""

    keys: tuple[str, ...]
    agents: tuple[str, ...]


_SETUP_LIMIT = 500  # names for a hint and its did-you-mean; a workspace rarely has more


def setup_state(conn: Connection, *, workspace_id: str) -> SetupState:
    """The names a no-matching-agent hint needs (read only when no agent answers)."""
    keys = conn.execute(
        select(_KEYS.c.name)
        .where(_KEYS.c.workspace_id == workspace_id, _KEYS.c.status != "revoked")
        .order_by(_KEYS.c.name)
        .limit(_SETUP_LIMIT)
    ).scalars()
    agents = conn.execute(
        select(_AGENTS.c.name)
        .where(_AGENTS.c.workspace_id == workspace_id)
        .order_by(_AGENTS.c.name)
        .limit(_SETUP_LIMIT)
    ).scalars()
    return SetupState(keys=tuple(keys), agents=tuple(agents))
