"""Workspace rows: created on first contact, read for timezone and digest settings."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from storage.models import Workspace


def ensure_workspace(
    session: Session, *, workspace_id: str, platform: str, name: str = ""
) -> Workspace:
    """Return the workspace, inserting it first if it is new (safe under concurrency)."""
    found = session.get(Workspace, workspace_id)
    if found is not None:
        return found
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = (
        insert(Workspace)
        .values(id=workspace_id, platform=platform, name=name[:200])
        .on_conflict_do_nothing(index_elements=["id"])
    )
    session.execute(stmt)
    session.flush()
    workspace = session.get(Workspace, workspace_id)
    assert workspace is not None  # inserted above or by a concurrent writer
    return workspace
