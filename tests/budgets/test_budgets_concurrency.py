"""Budgets across processes: 8 processes x 50 concurrent turns against room for 10 calls.

Every call reserves exactly what it then costs ($0.0000021: "hi" is 10 input tokens at
most, max_tokens is 1, and the fake provider reports exactly that), and the budget is
ten times that. A watcher samples `spent + reserved` the whole time.

Before the race, crashed processes' leases hold the whole budget, expired: the workers'
reservations must sweep them (concurrently, each released exactly once) to get room.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from bot.budgets import reservations
from bot.budgets.leases import sweep_expired
from bot.money import to_pico
from bot.providers.types import Usage
from storage.budgets import ensure_counter, try_reserve
from storage.engine import make_engine
from storage.leases import held_leases
from tests.fakes.fixtures import TEST_KEY
from tests.fakes.providers import FakeOpenAI
from tests.kits import racers
from tests.kits.turnkit import World, make_services

PROCESSES = 8
TURNS = 50
CALL = Decimal("0.0000021")
LIMIT = CALL * 10


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    # A little latency keeps many reservations in flight at once.
    with FakeOpenAI(
        valid_keys=[TEST_KEY], reply="!", usage=Usage(input_tokens=10, output_tokens=1), delay=0.02
    ) as server:
        yield server


class Watcher(threading.Thread):
    """Samples the budget counter until stopped; remembers the highest spent + reserved."""

    def __init__(self, url: str, budget_id: int) -> None:
        self.budget_id = budget_id
        super().__init__(daemon=True)
        self.engine = make_engine(url)
        self.stop = threading.Event()
        self.highest = 0
        self.samples = 0

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                with self.engine.connect() as conn:
                    value = conn.execute(
                        text(
                            "SELECT max(spent_pusd + reserved_pusd) FROM budget_counters"
                            " WHERE budget_id = :b"
                        ),
                        {"b": self.budget_id},
                    ).scalar()
                self.highest = max(self.highest, int(value or 0))
                self.samples += 1
                time.sleep(0.002)
        finally:
            self.engine.dispose()


def seed_crashed_leases(engine: Engine, budget_ids: list[int]) -> None:
    """Five crashed calls' expired leases on each budget: together the whole tight limit."""
    now = dt.datetime.now(dt.UTC)
    period, _resets = reservations.period_window("day", now=now, tz="UTC")
    expired = now.replace(tzinfo=None) - dt.timedelta(minutes=1)
    with engine.begin() as conn:
        for budget_id in budget_ids:
            since = reservations.period_start_utc("day", now=now, tz="UTC")
            ensure_counter(conn, budget_id=budget_id, period_start=period, since=since)
            for crashed in range(5):
                assert try_reserve(
                    conn,
                    budget_id=budget_id,
                    period_start=period,
                    amount_pusd=to_pico(LIMIT) // 5,
                    limit_pusd=to_pico(LIMIT),
                    lease_id=f"crashed{crashed}",
                    expires_at=expired,
                )


def run_race(
    url: str, master_key: str, fake: FakeOpenAI, tmp_path: Path, *, two_budgets: bool
) -> None:
    engine = make_engine(url)
    try:
        world = World(make_services(engine, master_key))
        world.workspace()
        key_id = world.key("openai-prod", secret=TEST_KEY, base_url=fake.base_url)
        agent_id = world.agent("tiny", key_id=key_id, max_tokens=1)
        world.bind(agent_id, "C1")
        # With two budgets the agent's is the tight one and the workspace's is reserved in
        # the same all-or-nothing block: refusals must leave nothing held on either.
        budget_id = world.budget(str(LIMIT), agent_id=agent_id if two_budgets else None)
        roomy = world.budget(str(LIMIT * 100)) if two_budgets else None
        seed_crashed_leases(engine, [budget_id] if roomy is None else [budget_id, roomy])
        go = tmp_path / "go"
        workers = racers.start(
            "tests.kits.budget_worker",
            [url, world.workspace_id, str(go), str(TURNS)],
            count=PROCESSES,
            env={"BYOKBOT_MASTER_KEY": master_key},
        )
        watcher = Watcher(url, budget_id)
        watcher.start()
        # Every worker has imported and connected before any starts its turns.
        finished = racers.release(workers, folder=tmp_path, go=go)
        watcher.stop.set()
        watcher.join(10)

        ok, refused = finished.total("ok"), finished.total("refused")
        assert finished.total("other") == 0, finished
        assert ok + refused == PROCESSES * TURNS
        assert 1 <= ok <= 10, finished.results
        assert len(fake.chat_requests) == ok
        assert watcher.samples > 10
        assert watcher.highest <= to_pico(LIMIT), (watcher.highest, to_pico(LIMIT))
        # The tight budget's crashed leases were swept by the reservations it would have
        # refused, each released once; the roomy one never refused, so the scheduler's
        # sweep releases its leases.
        assert world.counter(budget_id).reserved_pusd == 0
        sweep_expired(engine, now=dt.datetime.now(dt.UTC))
        for counted in (budget_id, roomy):
            if counted is None:
                continue
            counter = world.counter(counted)
            assert counter.reserved_pusd == 0
            assert counter.spent_pusd == ok * to_pico(CALL) <= to_pico(LIMIT)
        with engine.connect() as conn:
            assert held_leases(conn) == 0  # every lease settled or swept
        # Every call, refused or not, left exactly one usage row.
        statuses = [row.status for row in world.usage_rows()]
        assert len(statuses) == PROCESSES * TURNS
        assert statuses.count("ok") == ok and statuses.count("refused") == refused
    finally:
        engine.dispose()


@pytest.mark.parametrize("two_budgets", [False, True], ids=["one-budget", "two-budgets"])
@pytest.mark.many_processes
def test_budget_holds_across_processes_on_postgres(
    pg_url: str, master_key: str, fake: FakeOpenAI, tmp_path: Path, two_budgets: bool
) -> None:
    run_race(pg_url, master_key, fake, tmp_path, two_budgets=two_budgets)


@pytest.mark.parametrize("two_budgets", [False, True], ids=["one-budget", "two-budgets"])
@pytest.mark.many_processes
def test_budget_holds_across_processes_on_sqlite(
    sqlite_url: str, master_key: str, fake: FakeOpenAI, tmp_path: Path, two_budgets: bool
) -> None:
    run_race(sqlite_url, master_key, fake, tmp_path, two_budgets=two_budgets)
