"""Guarantee 8 across processes: many replicas, one database, exactly one digest per day."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import multiprocessing
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from bot.digest.schedule import run_due_digests
from storage.engine import make_engine, session_scope
from storage.models import DigestRun
from tests.digest.test_digest_support import (
    RecordingPoster,
    add_usage,
    add_workspace,
    engine_on,
    make_services,
)

REPLICAS = 6
NOW = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)  # 10:00 UTC
CRASH_EXIT = 86


def replica(
    url: str, log_path: str, results_path: str, now_iso: str, barrier: Any, crash: bool
) -> None:
    """One bot process: wait for the others, then run the digest check once."""
    logging.basicConfig(
        filename=str(Path(log_path).with_name("replicas.log")),
        level=logging.INFO,
        format="%(process)d %(name)s %(levelname)s %(message)s",
    )
    engine = make_engine(url)
    poster = RecordingPoster(log_path=Path(log_path))
    if crash:
        # Dies in the middle of posting, leaving its claim behind like a killed replica.
        poster.on_post = lambda: os._exit(CRASH_EXIT)
    services = make_services(
        engine, posters={"slack": poster}, now=dt.datetime.fromisoformat(now_iso)
    )
    if barrier is not None:
        barrier.wait(timeout=120)
    posted = asyncio.run(run_due_digests(services))
    fd = os.open(results_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{os.getpid()}\t{posted}\n".encode())
    finally:
        os.close(fd)
    engine.dispose()


def run_replicas(
    url: str, tmp: Path, *, count: int, now: dt.datetime, crash: bool = False
) -> list[int]:
    """Start `count` processes that call run_due_digests at the same moment; their exit codes."""
    # forkserver: each replica is a fresh process with no inherited threads or connections,
    # forked from a server that imported the bot once (spawn would re-import it every time).
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__, "matplotlib.figure", "matplotlib.backends.backend_agg"])
    barrier = ctx.Barrier(count) if count > 1 else None
    args = (url, str(tmp / "posts.log"), str(tmp / "results.log"), now.isoformat(), barrier, crash)
    processes = [ctx.Process(target=replica, args=args) for _ in range(count)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=180)
    codes = [process.exitcode for process in processes]
    assert None not in codes, "a replica hung"
    return [code for code in codes if code is not None]


def posts(tmp: Path) -> list[tuple[str, str, str]]:
    log = tmp / "posts.log"
    if not log.exists():
        return []
    return [
        (ws, channel, name)
        for _pid, ws, channel, name in (
            line.split("\t") for line in log.read_text().splitlines() if line
        )
    ]


def replica_log(tmp: Path) -> str:
    """What the replicas logged (shown when an assertion fails)."""
    log = tmp / "replicas.log"
    return log.read_text() if log.exists() else "(no log)"


def reported(tmp: Path) -> list[int]:
    return [int(line.split("\t")[1]) for line in (tmp / "results.log").read_text().splitlines()]


def digest_runs(engine: Engine) -> dict[tuple[str, str], DigestRun]:
    with session_scope(engine) as session:
        return {(run.workspace_id, run.day): run for run in session.exec(select(DigestRun)).all()}


@pytest.fixture(params=["sqlite", "postgres"])
def shared_url(request: pytest.FixtureRequest) -> str:
    """One database that every replica process shares."""
    url: str = request.getfixturevalue("pg_url" if request.param == "postgres" else "sqlite_url")
    return url


def plant(engine: Engine) -> None:
    for ws in ("slack:A", "slack:B", "slack:C"):
        add_workspace(engine, ws, channel=f"C-{ws[-1]}")
        add_usage(engine, ws, at=dt.datetime(2026, 11, 26, 12), cost_pusd=10**12)
    add_workspace(engine, "slack:LATER", at="11:00")
    add_workspace(engine, "slack:NOCHAN", channel=None)


def test_replicas_racing_post_each_digest_exactly_once(shared_url: str, tmp_path: Path) -> None:
    with engine_on(shared_url) as engine:
        plant(engine)
        # A claim a replica is still working on (fresh): nobody may take it over.
        with session_scope(engine) as session:
            session.add(
                DigestRun(
                    workspace_id="slack:C",
                    day="2026-11-26",
                    claimed_by="busy:1",
                    claimed_at=NOW.replace(tzinfo=None) - dt.timedelta(minutes=2),
                )
            )

        codes = run_replicas(shared_url, tmp_path, count=REPLICAS, now=NOW)
        assert codes == [0] * REPLICAS, replica_log(tmp_path)
        assert sorted(posts(tmp_path)) == [
            ("slack:A", "C-A", "digest-2026-11-26.png"),
            ("slack:B", "C-B", "digest-2026-11-26.png"),
        ]
        assert len(reported(tmp_path)) == REPLICAS and sum(reported(tmp_path)) == 2
        found = digest_runs(engine)
        assert set(found) == {(ws, "2026-11-26") for ws in ("slack:A", "slack:B", "slack:C")}
        assert found[("slack:A", "2026-11-26")].status == "posted"
        assert found[("slack:C", "2026-11-26")].claimed_by == "busy:1"

        # The same replicas an hour later: C's claim is stale and LATER is due; A and B are done.
        codes = run_replicas(shared_url, tmp_path, count=REPLICAS, now=NOW + dt.timedelta(hours=1))
        assert codes == [0] * REPLICAS, replica_log(tmp_path)
        counted = Counter(ws for ws, _, _ in posts(tmp_path))
        assert counted == {"slack:A": 1, "slack:B": 1, "slack:C": 1, "slack:LATER": 1}, replica_log(
            tmp_path
        )
        assert sum(reported(tmp_path)) == 4
        assert {run.status for run in digest_runs(engine).values()} == {"posted"}


def test_a_replica_killed_mid_post_is_replaced_after_the_lease(
    shared_url: str, tmp_path: Path
) -> None:
    with engine_on(shared_url) as engine:
        add_workspace(engine, "slack:A", channel="C-A")
        add_usage(engine, "slack:A", at=dt.datetime(2026, 11, 26, 12), cost_pusd=10**12)

        crashed = run_replicas(shared_url, tmp_path, count=1, now=NOW, crash=True)
        assert crashed == [CRASH_EXIT], replica_log(tmp_path)
        [run] = digest_runs(engine).values()
        assert run.status == "claimed" and posts(tmp_path) == []

        soon = NOW + dt.timedelta(minutes=9, seconds=59)
        assert run_replicas(shared_url, tmp_path, count=3, now=soon) == [0, 0, 0]
        assert posts(tmp_path) == [] and sum(reported(tmp_path)) == 0, replica_log(tmp_path)

        later = NOW + dt.timedelta(minutes=10, seconds=1)
        assert run_replicas(shared_url, tmp_path, count=REPLICAS, now=later) == [0] * REPLICAS
        assert posts(tmp_path) == [("slack:A", "C-A", "digest-2026-11-26.png")], replica_log(
            tmp_path
        )
        assert sum(reported(tmp_path)) == 1
        [run] = digest_runs(engine).values()
        assert run.status == "posted"
