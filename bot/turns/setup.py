"""Everything a turn needs from the database, read in its first short transaction.

One transaction routes the message (reading the agent with its key in one statement),
claims its event id (only for messages the bot answers, so channel chatter writes
nothing), and loads the workspace's timezone and digest channel and the budgets that
cover the call.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy.engine import Connection

from bot.boundary import IncomingMessage
from bot.dedupe import Deduper
from bot.errors import KeyUnavailable
from bot.turns import routing
from bot.turns.records import CallFacts
from bot.turns.routing import Route
from storage.budgets import BudgetRow
from storage.lookups import AgentRow, KeyRow, WorkspaceRow, workspace_and_budgets


@dataclass(frozen=True, slots=True)
class Setup:
    """The routing verdict plus, when an agent answers, its key, workspace and budgets."""

    route: Route
    workspace_id: str
    platform: str
    key: KeyRow | None = None
    workspace: WorkspaceRow = field(default_factory=WorkspaceRow)
    budgets: tuple[BudgetRow, ...] = ()

    def facts(self, message: IncomingMessage) -> CallFacts:
        """The usage-row metadata of a call made for `message`."""
        agent = self.route.agent
        key = self.key
        return CallFacts(
            workspace_id=message.place.workspace_id,
            agent_id=None if agent is None else agent.id,
            agent_name="" if agent is None else agent.name,
            key_id=None if key is None else key.id,
            key_name="" if key is None else key.name,
            provider="" if key is None else key.provider,
            model="" if agent is None else agent.model,
            user_id=message.sender.user_id,
            channel_id=message.place.channel_id,
            event_id=message.event_id or None,
        )


def load_setup(
    conn: Connection, message: IncomingMessage, *, deduper: Deduper, now: dt.datetime
) -> Setup | None:
    """Route `message` and load what its turn needs; None when it is ignored or a duplicate."""
    route = routing.route(conn, message)
    if route.ignored:
        return None
    workspace_id, agent, event_id = message.place.workspace_id, route.agent, message.event_id
    workspace: WorkspaceRow = WorkspaceRow()
    budgets: tuple[BudgetRow, ...] = ()
    if agent is not None and event_id:
        # The claim and the settings in one statement where the backend allows.
        claimed, workspace, budgets = deduper.claim_and_load(
            conn, workspace_id=workspace_id, event_id=event_id, agent_id=agent.id, now=now
        )
    else:
        claimed = not event_id or deduper.claim(
            conn, workspace_id=workspace_id, event_id=event_id, now=now
        )
        if claimed and agent is not None:
            workspace, budgets = workspace_and_budgets(
                conn, workspace_id=workspace_id, agent_id=agent.id
            )
    if not claimed:
        return None
    if deduper.prune_due(now):
        deduper.prune(conn, now=now)
    if agent is None:
        return Setup(route=route, workspace_id=workspace_id, platform=message.place.platform)
    return Setup(
        route=route,
        workspace_id=workspace_id,
        platform=message.place.platform,
        key=agent.key,
        workspace=workspace,
        budgets=budgets,
    )


def key_problem(agent: AgentRow, key: KeyRow | None) -> KeyUnavailable | None:
    """Why the agent's key cannot be used, as the one line the user sees; None if usable."""
    fix = f"/byok agent set {agent.name} --key …"
    if key is None:
        return KeyUnavailable(
            f"Agent {agent.name} has no key; an admin must set one with {fix}",
            key_name=None,
            status="missing",
        )
    if key.status == "revoked":
        return KeyUnavailable(
            f"Agent {agent.name}'s key {key.name} was revoked; "
            f"an admin must set another with {fix}",
            key_name=key.name,
            status="revoked",
        )
    if key.status != "active":
        return KeyUnavailable(
            f"Agent {agent.name}'s key {key.name} is failing (the provider rejected it); "
            f"an admin must rotate it with /byok key rotate {key.name} or set another "
            f"with {fix}",
            key_name=key.name,
            status=key.status,
        )
    return None
