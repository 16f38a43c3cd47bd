"""Processed platform event ids: a unique insert claims an event once across replicas."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import bindparam, delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from storage.models import ProcessedEvent
from storage.rawsql import Prepared

_EVENTS = ProcessedEvent.__table__  # type: ignore[attr-defined]


def _claim_stmt(insert: Any) -> Any:
    # ON CONFLICT DO NOTHING returns no row when the key was already there (rowcount is
    # not reliable across drivers); the primary key serialises concurrent claimers.
    return (
        insert(_EVENTS)
        .values(event_key=bindparam("k"), created_at=bindparam("at"))
        .on_conflict_do_nothing(index_elements=["event_key"])
        .returning(_EVENTS.c.event_key)
    )


_CLAIM = {
    "postgresql": Prepared(_claim_stmt(pg_insert)),
    "sqlite": Prepared(_claim_stmt(sqlite_insert)),
}
_PRUNE = delete(_EVENTS).where(_EVENTS.c.created_at < bindparam("cutoff"))


def claim_event(conn: Connection, *, event_key: str, at: dt.datetime) -> bool:
    """Insert `event_key`; True if this call inserted it, False if someone already had."""
    return bool(_CLAIM[conn.dialect.name].rows(conn, {"k": event_key, "at": at}))


def prune_events(conn: Connection, *, older_than: dt.datetime) -> int:
    """Delete claims older than `older_than`; return how many were removed."""
    return int(conn.execute(_PRUNE, {"cutoff": older_than}).rowcount)
