"""Benchmark: budget reservations + settlements per second on PostgreSQL.

    .venv/bin/python bench/budgets.py [--calls 6000] [--processes 2] [--in-flight 16]
                                      [--pg-url URL]

Each call does what a turn does with its budgets, with the bot's own code: plan and
reserve its worst case against every budget that applies (one statement: the counters
locked in one order, checked, and all reserved with their lease rows, or none), then
settle with the turn's own call (`storage.accounting.settle_call_counters`: the usage
row and every counter). `--in-flight` calls run at once, spread over `--processes`
processes (threads inside each, one connection each).

Two runs on one fresh migrated database:
- three budgets per call: the workspace's, the agent's and `each-user` (64 members);
- one budget per call: the workspace's (the figure to compare with).
The limits are set so that the last part of each run is refused: every counter is then
checked for overspend (spent + reserved never above its limit, nothing left reserved).
Target: >= 1,000 calls/s with three budgets and zero overspend.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import Connection, Engine  # noqa: E402

from bot.budgets import reservations  # noqa: E402
from bot.clock import aware_utcnow  # noqa: E402
from bot.errors import BudgetExceeded  # noqa: E402
from storage.accounting import CounterSettlement, settle_call_counters  # noqa: E402
from storage.budgets import applicable_budgets  # noqa: E402
from storage.engine import make_engine  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from tests.kits.turnkit import World, make_services  # noqa: E402

MEMBERS = 64
WORST, COST = 1_000_000, 800_000  # pico-dollars reserved / spent per call
TARGET_RATE = 1000.0


@contextlib.contextmanager
def database(pg_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards."""
    import psycopg
    from sqlalchemy.engine import make_url

    admin = make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"byok_bench_budgets_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def prepare(engine: Engine, *, workspace: str, calls: int, three: bool) -> str:
    """A workspace with an agent and its budgets; the agent id. ~90% of the calls fit."""
    from bot.vault.masterkey import generate_key

    world = World(make_services(engine, generate_key()), workspace_id=workspace)
    world.workspace()
    agent = world.agent("writer", key_id=None)
    fits = calls * 9 // 10
    world.budget(str(fits * COST / 10**12), period="month")
    if three:
        world.budget(str(calls * COST / 10**12), agent_id=agent)  # roomy: always reserved
        world.budget(str((calls // MEMBERS) * COST * 19 // 20 / 10**12), each_user=True)
    return agent


def one_call(conn: Connection, *, workspace: str, agent: str, member: str) -> bool:
    """Reserve against every budget, then settle like a turn's bookkeeping; False if refused."""
    now = aware_utcnow()
    rows = applicable_budgets(conn, workspace_id=workspace, agent_id=agent, user_id=member)
    held = reservations.plan(
        rows, agent_name="writer", amount_pusd=WORST, now=now, tz="UTC", member=member
    )
    try:
        reservation = reservations.reserve(conn, held, amount_pusd=WORST, relax_commit=True)
    except BudgetExceeded:
        return False
    settlements = [
        CounterSettlement(
            budget_id=item.budget_id,
            period_start=item.period_key,
            reserved_pusd=item.amount_pusd,
            spent_pusd=COST,
            lease_id=item.lease_id,
            member=item.member,
        )
        for item in reservation.held
    ]
    usage = {
        "workspace_id": workspace,
        "agent_id": agent,
        "user_id": member,
        "status": "ok",
        "cost_pusd": COST,
        "created_at": now.replace(tzinfo=None),
    }
    settle_call_counters(
        conn, usage_row=usage, touch_key=None, at=now.replace(tzinfo=None), counters=settlements
    )
    return True


def worker(
    url: str, workspace: str, agent: str, calls: list[int], threads: int, go: Any, out: Any
) -> None:
    """One process: `threads` threads, each with its own autocommit connection."""
    engine = make_engine(url)
    ok = refused = 0
    lock = threading.Lock()
    chunks = [calls[i::threads] for i in range(threads)]

    def run(chunk: list[int]) -> None:
        nonlocal ok, refused
        mine_ok = mine_refused = 0
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            go.wait()
            for i in chunk:
                if one_call(conn, workspace=workspace, agent=agent, member=f"U{i % MEMBERS}"):
                    mine_ok += 1
                else:
                    mine_refused += 1
        with lock:
            ok += mine_ok
            refused += mine_refused

    # Warm the pool and the statement caches before the clock starts.
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    pool = [threading.Thread(target=run, args=(chunk,)) for chunk in chunks]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    out.put((ok, refused))
    engine.dispose()


def run(
    url: str, *, workspace: str, agent: str, calls: int, processes: int, in_flight: int
) -> dict[str, float]:
    """Run `calls` calls, `in_flight` at once; rate and outcome counts."""
    ctx = mp.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    threads = max(1, in_flight // processes)
    shares = [list(range(calls))[p::processes] for p in range(processes)]
    procs = [
        ctx.Process(target=worker, args=(url, workspace, agent, share, threads, go, out))
        for share in shares
    ]
    for proc in procs:
        proc.start()
    time.sleep(3)  # imports and connections
    start = time.perf_counter()
    go.set()
    results = [out.get(timeout=600) for _ in procs]
    elapsed = time.perf_counter() - start
    for proc in procs:
        proc.join()
    ok = sum(r[0] for r in results)
    refused = sum(r[1] for r in results)
    return {"rate": calls / elapsed, "ok": ok, "refused": refused, "seconds": elapsed}


def overspend(engine: Engine) -> int:
    """Counters whose spent + reserved passed their limit, or that still hold a reservation."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM budget_counters c JOIN budgets b ON b.id = c.budget_id"
                    " WHERE c.spent_pusd + c.reserved_pusd > b.limit_pusd OR c.reserved_pusd <> 0"
                )
            ).scalar_one()
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=6000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--in-flight", type=int, default=16)
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(
            "BYOKBOT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args(argv)
    with database(args.pg_url) as url:
        engine = make_engine(url)
        upgrade(engine)
        runs = {}
        for name, three in (("three budgets", True), ("one budget", False)):
            workspace = f"console-{'three' if three else 'one'}"
            agent = prepare(engine, workspace=workspace, calls=args.calls, three=three)
            runs[name] = run(
                url,
                workspace=workspace,
                agent=agent,
                calls=args.calls,
                processes=args.processes,
                in_flight=args.in_flight,
            )
        over = overspend(engine)
        engine.dispose()
    print(f"{args.calls} calls per run, {args.in_flight} in flight over {args.processes} processes")
    for name, r in runs.items():
        print(
            f"  {name:>13}: {r['rate']:8.0f} calls/s  ({r['ok']:.0f} settled,"
            f" {r['refused']:.0f} refused, {r['seconds']:.2f} s)"
        )
    print(f"  overspent or still reserved counters: {over}")
    three_rate = runs["three budgets"]["rate"]
    verdict = "ok" if three_rate >= TARGET_RATE and over == 0 else "BELOW TARGET"
    print(f"  target >= {TARGET_RATE:.0f} calls/s with three budgets, zero overspend: {verdict}")
    return 0 if verdict == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
