"""Duplicate deliveries: each platform event is answered by exactly one claimer."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging

from sqlalchemy.engine import Connection

from bot.clock import to_naive_utc
from storage.budgets import BudgetRow
from storage.events import claim_event, prune_events
from storage.lookups import WorkspaceRow, claim_and_load

logger = logging.getLogger(__name__)

# Platforms redeliver within minutes (Slack retries for ~1 h at most); a day is ample.
RETENTION = dt.timedelta(days=1)
PRUNE_EVERY = dt.timedelta(minutes=10)
_MAX_KEY = 200


def event_key(*, workspace_id: str, event_id: str) -> str:
    """The processed-events key: workspace-scoped, hashed when too long for the column."""
    key = f"{workspace_id}:{event_id}"
    if len(key) <= _MAX_KEY:
        return key
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
    return f"{workspace_id[:64]}:#{digest}"


def request_key(*, workspace_id: str, request_id: str) -> str:
    """The claim key of a replayable request (a slash command's or a form's `trigger_id`,
    an interaction id): namespaced so it can never collide with a message event id."""
    return event_key(workspace_id=workspace_id, event_id=f"request:{request_id}")


def claim_request(
    conn: Connection, *, workspace_id: str, request_id: str, now: dt.datetime
) -> bool:
    """True the first time (across every process on this database) a request id is seen.

    A signed request replayed within Slack's five-minute window carries the same
    `trigger_id`: it loses this claim and is acknowledged without being acted on.
    """
    naive = to_naive_utc(now)
    claimed = claim_event(
        conn, event_key=request_key(workspace_id=workspace_id, request_id=request_id), at=naive
    )
    if not claimed:
        logger.info("replayed request ignored in workspace %s", workspace_id)
    return claimed


class Deduper:
    """Claims event ids with a unique insert and prunes old claims now and then."""

    def __init__(self) -> None:
        self._last_prune: dt.datetime | None = None

    def claim(
        self, conn: Connection, *, workspace_id: str, event_id: str, now: dt.datetime
    ) -> bool:
        """True the first time (across every process on this database) an event is seen."""
        naive = to_naive_utc(now)
        claimed = claim_event(
            conn, event_key=event_key(workspace_id=workspace_id, event_id=event_id), at=naive
        )
        if not claimed:
            logger.debug("duplicate event ignored in workspace %s", workspace_id)
        return claimed

    def claim_and_load(
        self,
        conn: Connection,
        *,
        workspace_id: str,
        event_id: str,
        agent_id: str,
        now: dt.datetime,
        user_id: str = "",
    ) -> tuple[bool, WorkspaceRow, tuple[BudgetRow, ...]]:
        """`claim`, and read the workspace's settings and the budgets of agent and member."""
        naive = to_naive_utc(now)
        claimed, workspace, budgets = claim_and_load(
            conn,
            event_key=event_key(workspace_id=workspace_id, event_id=event_id),
            at=naive,
            workspace_id=workspace_id,
            agent_id=agent_id,
            user_id=user_id,
        )
        if not claimed:
            logger.debug("duplicate event ignored in workspace %s", workspace_id)
        return claimed, workspace, budgets

    def prune_due(self, now: dt.datetime) -> bool:
        """True when it is time to prune (at most every PRUNE_EVERY per process)."""
        return self._last_prune is None or now - self._last_prune >= PRUNE_EVERY

    def prune(self, conn: Connection, *, now: dt.datetime) -> int:
        """Delete claims older than RETENTION."""
        self._last_prune = now
        cutoff = to_naive_utc(now) - RETENTION
        removed = prune_events(conn, older_than=cutoff)
        if removed:
            logger.debug("pruned %d processed event ids", removed)
        return removed
