"""Processed event ids: one claimer per event across engines (replicas), old ids pruned."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from bot.dedupe import RETENTION, Deduper, event_key
from storage.engine import make_engine

NOW = dt.datetime(2026, 11, 27, 12, tzinfo=dt.UTC)


@pytest.mark.parametrize("with_settings", [False, True], ids=["claim", "claim-and-load"])
def test_one_claim_wins_across_replicas(database_url: str, with_settings: bool) -> None:
    """Both ways a turn claims (alone, or with the settings read in the same statement)."""
    engines = [make_engine(database_url) for _ in range(6)]
    start = threading.Barrier(len(engines))
    wins: list[bool] = []

    def claim(deduper: Deduper, conn: Connection, event_id: str) -> bool:
        if with_settings:
            claimed, _workspace, _budgets = deduper.claim_and_load(
                conn, workspace_id="slack:T1", event_id=event_id, agent_id="a1", now=NOW
            )
            return claimed
        return deduper.claim(conn, workspace_id="slack:T1", event_id=event_id, now=NOW)

    def replica(index: int) -> None:
        deduper = Deduper()
        start.wait()
        for i in range(30):
            with engines[index].connect() as conn:
                # Autocommit on PostgreSQL, as a turn's planning unit runs.
                conn.execution_options(isolation_level="AUTOCOMMIT")
                won = claim(deduper, conn, f"Ev{i}")
                conn.commit()
            wins.append(won)

    threads = [threading.Thread(target=replica, args=(i,)) for i in range(len(engines))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for engine in engines:
        engine.dispose()
    assert len(wins) == 6 * 30
    assert wins.count(True) == 30  # each of the 30 events claimed exactly once


def test_same_event_id_in_two_workspaces_are_two_events(engine: Engine) -> None:
    deduper = Deduper()
    with engine.begin() as conn:
        assert deduper.claim(conn, workspace_id="slack:T1", event_id="Ev1", now=NOW)
        assert deduper.claim(conn, workspace_id="slack:T2", event_id="Ev1", now=NOW)
        assert not deduper.claim(conn, workspace_id="slack:T2", event_id="Ev1", now=NOW)


def test_long_ids_are_hashed_and_still_distinct() -> None:
    one = event_key(workspace_id="discord:1", event_id="x" * 500 + "a")
    two = event_key(workspace_id="discord:1", event_id="x" * 500 + "b")
    assert one != two and len(one) <= 200 and len(two) <= 200


def test_prune_removes_only_old_claims(engine: Engine) -> None:
    deduper = Deduper()
    old = NOW - RETENTION - dt.timedelta(minutes=1)
    with engine.begin() as conn:
        assert deduper.claim(conn, workspace_id="w", event_id="old", now=old)
        assert deduper.claim(conn, workspace_id="w", event_id="new", now=NOW)
        assert deduper.prune_due(NOW)
        assert deduper.prune(conn, now=NOW) == 1
        assert not deduper.prune_due(NOW + dt.timedelta(minutes=1))
        assert deduper.prune_due(NOW + dt.timedelta(minutes=11))
        keys = conn.execute(text("SELECT event_key FROM processed_events")).scalars().all()
    assert keys == ["w:new"]
