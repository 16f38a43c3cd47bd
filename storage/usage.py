"""Usage rows (one per provider call, metadata only) and the key bookkeeping beside them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from sqlalchemy import bindparam, insert, update
from sqlalchemy.engine import Connection

from storage.models import ProviderKey, UsageEvent

_USAGE = UsageEvent.__table__  # type: ignore[attr-defined]
_KEYS = ProviderKey.__table__  # type: ignore[attr-defined]
_INSERT = insert(_USAGE)
_TOUCH = update(_KEYS).where(_KEYS.c.id == bindparam("k")).values(last_used_at=bindparam("at"))
_FAILING = (
    update(_KEYS)
    .where(_KEYS.c.id == bindparam("k"), _KEYS.c.status == "active")
    .values(status="failing", status_reason=bindparam("reason"))
    .returning(_KEYS.c.id)
)


def insert_usage(conn: Connection, values: Mapping[str, object]) -> None:
    """Append one usage row; `values` holds column names of `usage_events`."""
    conn.execute(_INSERT, dict(values))


def touch_key(conn: Connection, *, key_id: str, at: dt.datetime) -> None:
    """Record when a key was last used for a call."""
    conn.execute(_TOUCH, {"k": key_id, "at": at})


def mark_key_failing(conn: Connection, *, key_id: str, reason: str) -> bool:
    """Mark an active key failing; True only for the caller that changed it (notify once)."""
    return conn.execute(_FAILING, {"k": key_id, "reason": reason[:200]}).first() is not None
