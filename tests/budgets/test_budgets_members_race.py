"""Per-member budgets across processes: each-user caps, one member's own cap and a workspace cap.

8 processes x 50 concurrent turns; each process speaks as members U0..U49, so every
member makes 8 calls. Every call reserves exactly what it then costs. The `each-user`
budget has room for 2 calls per member, U0's own budget for 1, and the workspace's for
60 calls in all: watchers sample every counter's `spent + reserved` the whole time, and
none may ever pass its limit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.money import to_pico
from bot.providers.types import Usage
from storage.engine import make_engine
from storage.leases import held_leases
from tests.budgets.test_budgets_concurrency import CALL, PROCESSES, TURNS, Watcher
from tests.fakes.fixtures import TEST_KEY
from tests.fakes.providers import FakeOpenAI
from tests.kits import racers
from tests.kits.turnkit import World, make_services

EACH = CALL * 2
OWN = CALL
WORKSPACE = CALL * 60


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    # A little latency keeps many reservations in flight at once.
    with FakeOpenAI(
        valid_keys=[TEST_KEY], reply="!", usage=Usage(input_tokens=10, output_tokens=1), delay=0.02
    ) as server:
        yield server


def run_member_race(url: str, master_key: str, fake: FakeOpenAI, tmp_path: Path) -> None:
    engine = make_engine(url)
    try:
        world = World(make_services(engine, master_key))
        world.workspace()
        key_id = world.key("openai-prod", secret=TEST_KEY, base_url=fake.base_url)
        agent_id = world.agent("tiny", key_id=key_id, max_tokens=1)
        world.bind(agent_id, "C1")
        each = world.budget(str(EACH), each_user=True)
        own = world.budget(str(OWN), member="U0")
        workspace = world.budget(str(WORKSPACE))
        soft = world.budget(str(CALL), agent_id=agent_id, soft=True)  # never refuses
        go = tmp_path / "go"
        workers = racers.start(
            "tests.kits.budget_worker",
            [url, world.workspace_id, str(go), str(TURNS)],
            count=PROCESSES,
            env={"BYOKBOT_MASTER_KEY": master_key},
        )
        watchers = {budget: Watcher(url, budget) for budget in (each, own, workspace)}
        for watcher in watchers.values():
            watcher.start()
        finished = racers.release(workers, folder=tmp_path, go=go)
        for watcher in watchers.values():
            watcher.stop.set()
            watcher.join(10)

        assert finished.total("other") == 0, finished.results
        ok = finished.total("ok")
        assert ok + finished.total("refused") == PROCESSES * TURNS
        for budget, limit in ((each, EACH), (own, OWN), (workspace, WORKSPACE)):
            assert watchers[budget].samples > 5
            assert watchers[budget].highest <= to_pico(limit), (budget, watchers[budget].highest)
        # Settled: every member within the per-member cap, U0 within its own, all within
        # the workspace's; and the caps did bind (more calls were asked for than allowed).
        answered = Counter(
            row.user_id for row in world.usage_rows() if row.status in ("ok", "estimated")
        )
        assert sum(answered.values()) == ok == len(fake.chat_requests)
        assert 0 < ok <= 60 and max(answered.values()) <= 2 and answered["U0"] <= 1
        with engine.connect() as conn:
            per_member = dict(
                conn.execute(
                    text(
                        "SELECT member, spent_pusd + reserved_pusd FROM budget_counters"
                        " WHERE budget_id = :b"
                    ),
                    {"b": each},
                ).all()
            )
            assert all(value <= to_pico(EACH) for value in per_member.values())
            assert held_leases(conn) == 0  # every lease settled
        assert world.counter(workspace).spent_pusd == ok * to_pico(CALL)
        # The soft budget refused nothing and counted everything.
        assert world.counter(soft).spent_pusd == ok * to_pico(CALL) > to_pico(CALL)
    finally:
        engine.dispose()


@pytest.mark.many_processes
def test_member_budgets_hold_across_processes_on_postgres(
    pg_url: str, master_key: str, fake: FakeOpenAI, tmp_path: Path
) -> None:
    run_member_race(pg_url, master_key, fake, tmp_path)


@pytest.mark.many_processes
def test_member_budgets_hold_across_processes_on_sqlite(
    sqlite_url: str, master_key: str, fake: FakeOpenAI, tmp_path: Path
) -> None:
    run_member_race(sqlite_url, master_key, fake, tmp_path)
