"""The hot statements run as cached text (storage/rawsql.py) answer as SQLAlchemy would."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from storage import events, lookups
from storage.rawsql import Prepared
from tests.fakes.fixtures import *  # noqa: F403
from tests.kits.turnkit import World

HOT = {
    "by_name": lookups._BY_NAME,
    "bound": lookups._BOUND,
    "default": lookups._DEFAULT,
    "named_or_bound": lookups._NAMED_OR_BOUND,
    "workspace_and_budgets": lookups._WORKSPACE_AND_BUDGETS,
    "claim_and_load": lookups._CLAIM_AND_LOAD,
    "claim_sqlite": events._CLAIM["sqlite"],
    "claim_postgresql": events._CLAIM["postgresql"],
}


def test_the_text_is_the_statement_compiled_for_the_dialect(engine: Engine) -> None:
    """One source of truth: the text sent is SQLAlchemy's own compilation of the statement."""
    dialect = engine.dialect
    postgres_only = {"claim_and_load", "claim_postgresql"}
    runs_here = {
        name
        for name in HOT
        if name != "claim_sqlite" or dialect.name == "sqlite"
        if name not in postgres_only or dialect.name == "postgresql"
    }
    assert len(runs_here) == (7 if dialect.name == "postgresql" else 6)
    for name in sorted(runs_here):
        expected = HOT[name].statement.compile(dialect=dialect)  # type: ignore[attr-defined]
        assert HOT[name].compiled(dialect).sql == expected.string, name


def _both(
    engine: Engine, prepared: Prepared, params: dict[str, Any]
) -> tuple[list[Any], list[Any]]:
    with engine.begin() as conn:
        raw = [tuple(row) for row in prepared.rows(conn, params)]
        through = [tuple(row) for row in conn.execute(prepared.statement, params).all()]
    return raw, through


def test_rows_match_sqlalchemy_execute(engine: Engine, world: World) -> None:
    """Same values and types (dates, bytes, booleans, floats) as `Connection.execute`."""
    key_id = world.key("k", secret="sk-test-1234567890abcdef", base_url="http://127.0.0.1:9/v1")
    agent_id = world.agent("writer", key_id=key_id, default=True)
    world.bind(agent_id, "C1", all_messages=True)
    world.budget("5")
    world.budget("7", agent_id=agent_id)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE provider_keys SET last_used_at = :at"),
            {"at": dt.datetime(2026, 1, 2, 3, 4, 5)},
        )
    w = world.workspace_id
    cases: list[tuple[Prepared, dict[str, Any]]] = [
        (lookups._NAMED_OR_BOUND, {"w": w, "name": "writer", "channel": "C1"}),
        (lookups._DEFAULT, {"w": w}),
        (lookups._WORKSPACE_AND_BUDGETS, {"w": w, "a": agent_id, "u": "U1"}),
    ]
    for prepared, params in cases:
        raw, through = _both(engine, prepared, params)
        assert raw and raw == through
        assert [[type(v) for v in row] for row in raw] == [
            [type(v) for v in row] for row in through
        ]
    found = lookups.default_agent(engine.connect(), workspace_id=w)
    assert found is not None and found.key is not None
    assert found.key.last_used_at == dt.datetime(2026, 1, 2, 3, 4, 5)


def test_claims_once_and_stores_the_time_as_sqlalchemy_does(engine: Engine) -> None:
    """The claim's datetime is bound with the dialect's processor: prune still finds it."""
    at = dt.datetime(2026, 1, 1, 12, 0, 0)
    with engine.begin() as conn:
        assert events.claim_event(conn, event_key="T1:Ev1", at=at)
        assert not events.claim_event(conn, event_key="T1:Ev1", at=at)
    with engine.begin() as conn:
        assert events.prune_events(conn, older_than=at + dt.timedelta(seconds=1)) == 1


def test_driver_errors_leave_as_sqlalchemy_errors(engine: Engine) -> None:
    """A failing statement raises SQLAlchemy's DBAPIError (what outage handling looks at)."""
    broken = Prepared(text("SELECT * FROM no_such_table"))
    with engine.connect() as conn, pytest.raises(DBAPIError) as raised:
        broken.rows(conn, {})
    assert not raised.value.connection_invalidated
