"""Several budgets reserve all or none (one statement on PostgreSQL) and settle together.

The reservation locks every counter in one order, checks each has room and only then
reserves on all of them: a budget without room anywhere in that order leaves nothing
held, in one process or across many.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from bot.budgets import reservations
from bot.errors import BudgetExceeded
from bot.money import to_pico
from bot.services import Services
from storage.accounting import CounterSettlement, settle_call_counters
from storage.budgets import applicable_budgets
from storage.engine import make_engine
from storage.leases import held_leases
from tests.budgets.test_budgets_concurrency import Watcher
from tests.kits import racers
from tests.kits import reserve_all_worker as worker
from tests.kits.turnkit import World, make_services

NOW = dt.datetime(2026, 11, 27, 12, tzinfo=dt.UTC)


@contextlib.contextmanager
def unit(engine: Engine) -> Iterator[Connection]:
    """A turn's planning or settling unit: autocommit on PostgreSQL, a transaction on SQLite."""
    if engine.dialect.name != "postgresql":
        with engine.begin() as conn:
            yield conn
        return
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        yield conn


def call(world: World, agent: str, usd: str) -> tuple[reservations.Held, ...]:
    with world.engine.connect() as conn:
        rows = applicable_budgets(
            conn, workspace_id=world.workspace_id, agent_id=agent, user_id="U1"
        )
    amount = to_pico(Decimal(usd))
    return reservations.plan(
        rows, agent_name="writer", amount_pusd=amount, now=NOW, tz="UTC", member="U1"
    )


def settle(conn: Connection, world: World, agent: str, held: tuple[reservations.Held, ...]) -> None:
    usage = {
        "workspace_id": world.workspace_id,
        "agent_id": agent,
        "user_id": "U1",
        "status": "ok",
        "cost_pusd": held[0].amount_pusd,
        "created_at": NOW.replace(tzinfo=None),
    }
    counters = [
        CounterSettlement(
            budget_id=item.budget_id,
            period_start=item.period_key,
            reserved_pusd=item.amount_pusd,
            spent_pusd=item.amount_pusd,
            lease_id=item.lease_id,
            member=item.member,
        )
        for item in held
    ]
    states = settle_call_counters(
        conn, usage_row=usage, touch_key=None, at=NOW.replace(tzinfo=None), counters=counters
    )
    assert [state is not None and state.reserved_pusd == 0 for state in states] == [True] * 3


@pytest.mark.parametrize("lacking", ["each-user", "agent", "workspace"])
def test_any_budget_without_room_leaves_all_of_them_unheld(
    services: Services, lacking: str
) -> None:
    world = World(services)
    world.workspace()
    agent = world.agent("writer", key_id=None)
    tight = {
        name: "0.10" if name == lacking else "1.00" for name in ("each-user", "agent", "workspace")
    }
    ids = {
        "each-user": world.budget(tight["each-user"], each_user=True),
        "agent": world.budget(tight["agent"], agent_id=agent),
        "workspace": world.budget(tight["workspace"]),
    }
    # The period's first call creates every counter (all missing) and reserves on each,
    # in the lock order: each member's, the agent's, the workspace's last.
    first = call(world, agent, "0.05")
    assert [item.budget_id for item in first] == [ids["each-user"], ids["agent"], ids["workspace"]]
    with unit(world.engine) as conn:
        reservations.reserve(conn, first, amount_pusd=first[0].amount_pusd, relax_commit=True)
    for budget_id in ids.values():
        assert world.counter(budget_id).reserved_pusd == to_pico(Decimal("0.05"))
    with unit(world.engine) as conn:
        settle(conn, world, agent, first)  # every counter in one statement on PostgreSQL

    large = call(world, agent, "0.06")  # fits all but the tight one
    with unit(world.engine) as conn, pytest.raises(BudgetExceeded) as refused:
        reservations.reserve(conn, large, amount_pusd=large[0].amount_pusd, relax_commit=True)
    assert refused.value.budget_id == ids[lacking]
    assert refused.value.left == Decimal("0.05") and refused.value.limit == Decimal("0.10")
    for budget_id in ids.values():
        counter = world.counter(budget_id)
        assert (counter.spent_pusd, counter.reserved_pusd) == (to_pico(Decimal("0.05")), 0)
    with world.engine.connect() as conn:
        assert held_leases(conn) == 0


PROCESSES = 6
CALLS = 30
AGENT_ROOM = 20  # calls the agent's budget, second in the lock order, has room for


def race(url: str, master_key: str, tmp_path: Path) -> None:
    engine = make_engine(url)
    try:
        world = World(make_services(engine, master_key))
        world.workspace()
        agent = world.agent("writer", key_id=None)
        amount = Decimal(worker.AMOUNT) / 10**12
        each = world.budget(str(amount * 100), each_user=True)
        tight = world.budget(str(amount * AGENT_ROOM), agent_id=agent)
        roomy = world.budget(str(amount * 1000))
        go = tmp_path / "go"
        args = [url, world.workspace_id, agent, str(go), str(CALLS)]
        procs = racers.start("tests.kits.reserve_all_worker", args, count=PROCESSES)
        watcher = Watcher(url, tight)
        watcher.start()
        finished = racers.release(procs, folder=tmp_path, go=go)  # no deadlock either
        watcher.stop.set()
        watcher.join(10)

        passed = finished.total("passed")
        assert passed + finished.total("refused") == PROCESSES * CALLS
        # A refusal means the agent's budget was full of calls that all went through.
        assert passed == AGENT_ROOM
        assert watcher.highest <= to_pico(amount * AGENT_ROOM)
        spent = passed * worker.AMOUNT
        for budget_id in (tight, roomy):
            counter = world.counter(budget_id)
            assert (counter.spent_pusd, counter.reserved_pusd) == (spent, 0)
        with engine.connect() as conn:
            members = conn.execute(
                text(
                    "SELECT sum(spent_pusd), sum(reserved_pusd), count(*) FROM budget_counters"
                    " WHERE budget_id = :b"
                ),
                {"b": each},
            ).one()
            assert tuple(members) == (spent, 0, worker.MEMBERS)
            assert held_leases(conn) == 0
        assert len(world.usage_rows()) == passed
    finally:
        engine.dispose()


@pytest.mark.many_processes
def test_all_or_none_holds_across_processes_on_postgres(
    pg_url: str, master_key: str, tmp_path: Path
) -> None:
    race(pg_url, master_key, tmp_path)


@pytest.mark.many_processes
def test_all_or_none_holds_across_processes_on_sqlite(
    sqlite_url: str, master_key: str, tmp_path: Path
) -> None:
    race(sqlite_url, master_key, tmp_path)
