"""Reservations are leases: a crashed process leaves nothing held past the lease (Guarantee 6).

The real crash: `byokbot shell` is killed with SIGKILL while its provider call hangs
mid-stream. Its reservation stays held (a second process is refused) until the lease
expires; then a call from another process succeeds and the counter's reserved is back
to 0. Expiry is reached by running the other process's `Services.clock` past the
lease's stored `expires_at`, not by waiting three minutes. Also: concurrent sweepers
release a lease exactly once, and a slow call settling after its lease was swept is
charged once and not taken back from reserved twice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import subprocess
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlmodel import col

from bot.budgets import leases
from bot.budgets.leases import LEASE, run_sweep, sweep_expired
from bot.core import Core
from bot.money import to_pico
from bot.providers import Providers
from bot.providers.http import RetryPolicy
from bot.providers.types import Usage
from bot.turns.records import CallFacts, CallResult, row_values
from storage.accounting import CounterSettlement, settle_call
from storage.budgets import ensure_counter, read_counter, try_reserve
from storage.counters import Release, mark_statement, release_marked
from storage.engine import make_engine
from storage.models import BudgetLease
from tests.fakes.fixtures import *  # noqa: F403
from tests.fakes.fixtures import TEST_KEY
from tests.fakes.providers import FakeOpenAI, Fault
from tests.kits.helpers import byokbot_command, clean_env, run_byokbot
from tests.kits.turnkit import Clock, World, make_services, talk

UTC = dt.UTC
SECRET = "sk-proj-LeaseSecretValue0123456789abcdefXYZ"
REPLY = "Zebras graze at dawn."
NOW = dt.datetime(2026, 11, 27, 12, tzinfo=UTC)
AT = NOW.replace(tzinfo=None)
PERIOD = "2026-11-27"


def test_the_lease_ends_within_the_call_deadline_plus_one_minute() -> None:
    """SPEC: released within 120 s + 60 s; the periodic sweep runs within that too."""
    deadline = inspect.signature(Providers).parameters["timeout"].default
    assert leases.CALL_DEADLINE_SECONDS == deadline == RetryPolicy().timeout == 120
    assert LEASE + dt.timedelta(seconds=leases.SWEEP_INTERVAL_SECONDS) == dt.timedelta(minutes=3)
    assert dt.timedelta(seconds=leases.CALL_DEADLINE_SECONDS) < LEASE  # a live call settles


def _scalar(engine: Engine, sql: str) -> object:
    with engine.connect() as conn:
        return conn.execute(text(sql)).scalar()


def _lease(
    engine: Engine, budget_id: int, lease_id: str, amount: int, expires: dt.datetime
) -> None:
    with engine.begin() as conn:
        ensure_counter(conn, budget_id=budget_id, period_start=PERIOD, since=AT.replace(hour=0))
        assert try_reserve(
            conn,
            budget_id=budget_id,
            period_start=PERIOD,
            amount_pusd=amount,
            limit_pusd=10**15,
            lease_id=lease_id,
            expires_at=expires,
        )


def _counter(engine: Engine, budget_id: int) -> tuple[int, int]:
    with engine.connect() as conn:
        state = read_counter(conn, budget_id=budget_id, period_start=PERIOD)
    return state.spent_pusd, state.reserved_pusd


async def test_concurrent_sweeps_release_once_and_a_late_settlement_charges_once(
    engine: Engine, world: World
) -> None:
    budget_id = world.budget("5")
    _lease(engine, budget_id, "crashed1", 100, AT - dt.timedelta(seconds=1))
    _lease(engine, budget_id, "slow2", 200, AT - dt.timedelta(seconds=1))
    _lease(engine, budget_id, "live3", 50, AT + LEASE)
    assert _counter(engine, budget_id) == (0, 350)

    # Eight sweepers (replicas' scheduler jobs) at once: each expired lease released once.
    start = threading.Barrier(8)
    released: list[int] = []

    def sweeper() -> None:
        own = make_engine(str(engine.url))
        try:
            start.wait()
            released.append(sweep_expired(own, now=NOW))
        finally:
            own.dispose()

    threads = [threading.Thread(target=sweeper) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    # PostgreSQL sweepers skip leases another one holds, so the two expired leases may be
    # released by two sweepers; each amount is taken back once all the same.
    assert 1 <= sum(released) <= 2
    assert _counter(engine, budget_id) == (0, 50)
    assert _scalar(engine, "SELECT id FROM budget_leases") == "live3"
    world.services.clock = lambda: NOW
    assert await run_sweep(world.services) == 0  # the scheduler's job: nothing left to do

    # The slow call was alive after all: it settles after its lease was swept. Its cost
    # is charged; reserved is not taken back a second time.
    facts = CallFacts(
        workspace_id=world.workspace_id,
        agent_id=None,
        agent_name="writer",
        key_id=None,
        key_name="k",
        provider="openai",
        model="gpt-4o-mini",
        user_id="U1",
        channel_id="C1",
        event_id="Ev1",
    )
    for lease_id, cost in (("slow2", 180), ("live3", 40)):
        result = CallResult(status="ok", cost=Decimal(cost) / 10**12)
        with engine.begin() as conn:
            state = settle_call(
                conn,
                usage_row=row_values(facts, result, at=AT),
                touch_key=None,
                at=AT,
                counter=CounterSettlement(
                    budget_id=budget_id,
                    period_start=PERIOD,
                    reserved_pusd=200 if lease_id == "slow2" else 50,
                    spent_pusd=cost,
                    lease_id=lease_id,
                ),
            )
        assert state is not None
    assert _counter(engine, budget_id) == (220, 0)
    assert _scalar(engine, "SELECT count(*) FROM budget_leases") == 0


def test_a_settlement_in_two_steps_is_charged_once_when_its_second_step_is_lost(
    engine: Engine, world: World
) -> None:
    """The cost recorded on the lease (step one) reaches the counter exactly once.

    Step two (the counters) never ran, as when its process or its relaxed commit was
    lost: the sweep charges the recorded cost. A step two that runs after the sweep
    then charges nothing, and one that finds its lease gone before step one charges
    its cost itself.
    """
    budget_id = world.budget("5")
    expired = AT - dt.timedelta(seconds=1)
    _lease(engine, budget_id, "lost1", 100, expired)
    _lease(engine, budget_id, "late2", 200, expired)
    _lease(engine, budget_id, "live3", 50, AT + LEASE)
    release = [Release(budget_id, PERIOD, "", 0)]

    def mark(lease_id: str, cost: int) -> set[int]:
        with engine.begin() as conn:
            found = conn.execute(mark_statement(), {"lease": lease_id, "s": cost})
            return {row.budget_id for row in found}

    assert mark("lost1", 70) == {budget_id}
    assert mark("late2", 150) == {budget_id}
    assert _counter(engine, budget_id) == (0, 350)  # a marked lease still holds its amount
    assert sweep_expired(engine, now=NOW) == 1
    assert _counter(engine, budget_id) == (220, 50)
    with engine.begin() as conn:  # late2's step two, after the sweep: nothing more
        release_marked(conn, release, lease_id="late2", spent_pusd=150, marked={budget_id})
    assert _counter(engine, budget_id) == (220, 50)

    assert mark("live3", 30) == {budget_id}
    assert mark("gone4", 9) == set()  # swept before its step one
    with engine.begin() as conn:
        states = release_marked(conn, release, lease_id="live3", spent_pusd=30, marked={budget_id})
        gone = release_marked(conn, release, lease_id="gone4", spent_pusd=9, marked=set())
        if conn.dialect.name == "postgresql":  # in a transaction: its commit stays durable
            assert conn.execute(text("SHOW synchronous_commit")).scalar() == "on"
    assert [s.spent_pusd for s in states if s] == [250] and states[0] is not None
    assert states[0].reserved_pusd == 0
    assert [s.spent_pusd for s in gone if s] == [259]
    assert _counter(engine, budget_id) == (259, 0)
    assert _scalar(engine, "SELECT count(*) FROM budget_leases") == 0


@pytest.fixture
def two_replicas(
    database_url: str, master_key: str
) -> Iterator[tuple[World, Core, Core, Clock, Clock]]:
    """Two replicas (own engine, own clock) on one database, with a workspace to talk in."""
    clocks = Clock(NOW), Clock(NOW)
    engines = [make_engine(database_url) for _ in clocks]
    services = [
        make_services(engine, master_key, clock=clock)
        for engine, clock in zip(engines, clocks, strict=True)
    ]
    try:
        yield World(services[0]), Core(services[0]), Core(services[1]), *clocks
    finally:
        for engine in engines:
            engine.dispose()


async def test_a_live_call_settling_after_its_lease_expired_is_charged_once(
    two_replicas: tuple[World, Core, Core, Clock, Clock], openai_fake: FakeOpenAI
) -> None:
    world, slow_core, other_core, _slow_clock, other_clock = two_replicas
    world.workspace()
    key_id = world.key("k", secret=TEST_KEY, base_url=openai_fake.base_url)
    world.bind(world.agent("writer", key_id=key_id, max_tokens=1000), "C1")
    budget_id = world.budget("0.001")  # room for one worst case ($0.0006), not two
    openai_fake.usage = Usage(input_tokens=10, output_tokens=5)
    openai_fake.script(Fault.hang(after=1, endpoint="chat"))

    slow = asyncio.create_task(talk(slow_core, world, "<@UBOT> hi"))
    for _ in range(500):
        if _scalar(world.engine, "SELECT count(*) FROM budget_leases") == 1:
            break
        await asyncio.sleep(0.01)
    held = _counter(world.engine, budget_id)[1]
    assert held > to_pico(Decimal("0.0005"))
    # Still leased: the other replica is refused.
    other_clock.now = NOW + LEASE - dt.timedelta(seconds=5)
    assert (await talk(other_core, world, "<@UBOT> hi")).last.text.startswith("Over budget")
    # The lease has expired: the other replica's call sweeps it and goes through.
    other_clock.now = NOW + LEASE + dt.timedelta(seconds=1)
    assert (await talk(other_core, world, "<@UBOT> hi")).last.kind == "stream"
    # The slow call hits its deadline after text: charged its reserved estimate, once.
    await asyncio.wait_for(slow, 30)
    rows = world.usage_rows()
    assert sorted(r.status for r in rows) == ["estimated", "ok", "refused"]
    spent, reserved = _counter(world.engine, budget_id)
    assert reserved == 0
    assert spent == sum(r.cost_pusd or 0 for r in rows)
    assert next(r.cost_pusd for r in rows if r.status == "estimated") == held
    assert _scalar(world.engine, "SELECT count(*) FROM budget_leases") == 0


# ----- the real crash: `byokbot shell` killed with SIGKILL mid-call ----------------------


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(valid_keys=[SECRET], reply=REPLY) as server:
        yield server


def _wait_for(engine: Engine, sql: str, proc: subprocess.Popen[str], *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not _scalar(engine, sql):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"timed out waiting for {sql}"
        time.sleep(0.05)


def test_a_killed_process_leaves_its_reservation_until_the_lease_expires(
    fake: FakeOpenAI, database_url: str, master_key: str, tmp_path: Path
) -> None:
    fake.reset()
    env = {
        "BYOKBOT_DATABASE_URL": database_url,
        "BYOKBOT_MASTER_KEY": master_key,
        "BYOKBOT_ALLOW_PRIVATE_BASE_URLS": "true",
        "USER": "tester",
    }
    setup = run_byokbot(
        "shell",
        env=env,
        cwd=tmp_path,
        stdin="\n".join(
            [
                f"/byok key add openai openai-prod --base-url {fake.base_url}",
                SECRET,
                "/byok agent create writer --key openai-prod --model gpt-4o-mini --max-tokens 1000",
                "/byok agent bind writer",
                # Room for one call's worst case ($0.0006), not for two.
                "/byok limit set workspace 0.001 --per month",
            ]
        )
        + "\n",
        timeout=120,
    )
    assert setup.returncode == 0 and "Traceback" not in setup.stderr, setup.stderr
    fake.script(Fault.hang(after=1, endpoint="chat"))

    engine = make_engine(database_url)
    proc = subprocess.Popen(
        [*byokbot_command(), "shell"],
        env=clean_env(env),
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        asked = dt.datetime.now(UTC).replace(tzinfo=None)
        assert proc.stdin is not None
        proc.stdin.write("Write a haiku about zebras\n")
        proc.stdin.flush()  # stdin stays open: the shell is mid-call, not at its end
        _wait_for(engine, "SELECT count(*) FROM budget_leases", proc, timeout=60)
        _wait_for(engine, "SELECT max(reserved_pusd) FROM budget_counters", proc, timeout=10)
        deadline = time.monotonic() + 30
        while not fake.chat_requests:  # the call is under way: killed mid-call
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.02)
        time.sleep(0.5)  # its first text has arrived; the provider now hangs
        proc.kill()  # SIGKILL: no settlement, no clean-up
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    try:
        held = int(str(_scalar(engine, "SELECT reserved_pusd FROM budget_counters")))
        assert held > to_pico(Decimal("0.0005"))
        with engine.connect() as conn:
            expires = conn.execute(select(col(BudgetLease.expires_at))).scalar_one()
        seen = dt.datetime.now(UTC).replace(tzinfo=None)
        assert asked + LEASE - dt.timedelta(seconds=2) <= expires <= seen + LEASE

        # Before expiry the reservation holds: another real process is refused.
        refused = run_byokbot("shell", env=env, cwd=tmp_path, stdin="One about lions\n")
        assert "Over budget" in refused.stdout, refused.stdout + refused.stderr
        assert int(str(_scalar(engine, "SELECT reserved_pusd FROM budget_counters"))) == held

        # Another replica whose clock is past the lease: its call sweeps the lease and goes
        # through, and nothing stays reserved.
        async def call_at(now: dt.datetime) -> str:
            services = make_services(engine, master_key, clock=Clock(now.replace(tzinfo=UTC)))
            world = World(services, workspace_id="console", platform="console")
            try:
                sink = await talk(
                    Core(services), world, "hi", channel="console", event_id=f"at-{now}"
                )
            finally:
                await services.providers.aclose()
            return sink.last.kind if sink.last.kind == "stream" else sink.last.text

        assert asyncio.run(call_at(expires - dt.timedelta(seconds=5))).startswith("Over budget")
        if (expires + dt.timedelta(seconds=1)).month != expires.month:
            pytest.skip("the lease ends in the next month's budget period")
        assert asyncio.run(call_at(expires + dt.timedelta(seconds=1))) == "stream"
        spent, reserved = (
            int(str(v))
            for v in _scalar_row(engine, "SELECT spent_pusd, reserved_pusd FROM budget_counters")
        )
        assert reserved == 0
        assert spent == int(str(_scalar(engine, "SELECT sum(cost_pusd) FROM usage_events")))
        assert _scalar(engine, "SELECT count(*) FROM budget_leases") == 0

        # And a real process now has the room again.
        again = run_byokbot("shell", env=env, cwd=tmp_path, stdin="One about lions\n")
        assert REPLY in again.stdout, again.stdout + again.stderr
    finally:
        engine.dispose()


def _scalar_row(engine: Engine, sql: str) -> tuple[object, ...]:
    with engine.connect() as conn:
        row = conn.execute(text(sql)).one()
    return tuple(row)
