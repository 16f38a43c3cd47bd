"""A call's hot budget statements keep one text whatever the call, so they stay prepared.

On PostgreSQL the planning, reservation and settlement statements run as cached SQL
text (storage.rawsql) with one scalar parameter per value: their text depends on the
number of budgets only, so psycopg prepares each once per connection. Calls by
different members with different amounts must reuse them, and the usage row still
gets its columns' defaults.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import text

from bot.budgets import reservations
from bot.money import to_pico
from bot.services import Services
from storage.accounting import CounterSettlement, settle_call_counters
from storage.budgets import applicable_budgets
from storage.leases import held_leases
from tests.budgets.test_budgets_all_or_none import unit
from tests.kits.turnkit import World

NOW = dt.datetime(2026, 11, 27, 12, tzinfo=dt.UTC)
CALLS = 12  # more than psycopg's prepare threshold (5)


def test_calls_reuse_one_prepared_statement_each(services: Services) -> None:
    world = World(services)
    world.workspace()
    agent = world.agent("writer", key_id=None)
    ids = [world.budget("100", each_user=True), world.budget("100", agent_id=agent)]
    ids.append(world.budget("100"))
    spent = 0
    with unit(world.engine) as conn:
        for i in range(CALLS):
            member, usd = f"U{i % 4}", Decimal(f"0.0{i % 9 + 1}")
            rows = applicable_budgets(
                conn, workspace_id=world.workspace_id, agent_id=agent, user_id=member
            )
            held = reservations.plan(
                rows,
                agent_name="writer",
                amount_pusd=to_pico(usd),
                now=NOW,
                tz="UTC",
                member=member,
            )
            assert len(held) == 3
            reservations.reserve(conn, held, amount_pusd=held[0].amount_pusd, relax_commit=True)
            usage = {
                "workspace_id": world.workspace_id,
                "agent_id": agent,
                "user_id": member,
                "status": "ok",
                "cost_pusd": to_pico(usd),
                "created_at": NOW.replace(tzinfo=None),
            }
            counters = [
                CounterSettlement(
                    budget_id=item.budget_id,
                    period_start=item.period_key,
                    reserved_pusd=item.amount_pusd,
                    spent_pusd=to_pico(usd),
                    lease_id=item.lease_id,
                    member=item.member,
                )
                for item in held
            ]
            states = settle_call_counters(
                conn,
                usage_row=usage,
                touch_key=None,
                at=NOW.replace(tzinfo=None),
                counters=counters,
            )
            assert all(state is not None for state in states)
            spent += to_pico(usd)
        if conn.dialect.name == "postgresql":
            prepared = [
                row[0] for row in conn.execute(text("SELECT statement FROM pg_prepared_statements"))
            ]
            reserving = [s for s in prepared if "INSERT INTO budget_leases" in s]
            settling = [s for s in prepared if "DELETE FROM budget_leases" in s]
            planning = [s for s in prepared if "FROM budgets" in s and "budgets.target" in s]
            # One each: a text that varied per call would never reach the threshold.
            assert (len(reserving), len(settling), len(planning)) == (1, 1, 1), prepared
    assert world.counter(ids[1]).spent_pusd == spent
    assert world.counter(ids[2]).spent_pusd == spent
    assert world.counter(ids[1]).reserved_pusd == world.counter(ids[2]).reserved_pusd == 0
    with world.engine.connect() as conn:
        assert held_leases(conn) == 0
        row = conn.execute(
            text("SELECT agent_name, outcome, priced, estimated, input_tokens FROM usage_events")
        ).first()
    assert row is not None
    assert (row.agent_name, row.outcome, bool(row.priced), bool(row.estimated)) == (
        "",
        "ok",
        True,
        False,
    )
    assert row.input_tokens == 0
