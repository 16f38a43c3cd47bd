"""Benchmark: one workspace's daily digest (figures + chart) over a large usage table.

    .venv/bin/python bench/digest.py [--rows 1000000] [--small 10000] [--days 60]
                                     [--backend sqlite|postgres|both] [--pg-url URL]

Each backend gets a fresh migrated database holding two workspaces: BIG with `--rows`
usage rows and SMALL with `--small` rows, both spread evenly over `--days` days (6
agents, 4 keys, 5 models, 40 members, 3% failed calls), plus budgets and a failing key.
Rows are bulk-loaded (COPY on PostgreSQL, executemany on SQLite), then ANALYZEd.

The measured digest is the real on-demand path, `bot.digest.schedule.post_digest(force=True)`
with a poster that discards the post: the report's queries, the text and the PNG. A
warm-up digest of SMALL first imports matplotlib and opens the pool, so the figures are
the digest's own. Reported per workspace: the median of 3 runs in
seconds, and peak RSS growth (sampled every 2 ms from /proc/self/statm, against the RSS
just before the run). Targets at BIG on PostgreSQL: <= 1 s and <= 50 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy.engine import Engine  # noqa: E402

from bot.digest.schedule import post_digest  # noqa: E402
from storage.engine import make_engine  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from tests.digest.test_digest_support import (  # noqa: E402
    add_agent,
    add_budget,
    add_key,
    add_workspace,
    make_services,
)

NOW = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)
TARGET_SECONDS, TARGET_MB = 1.0, 50.0
AGENTS = ("writer", "coder", "support", "research", "sales", "legal")
KEYS = (
    ("openai-prod", "openai"),
    ("anthropic-main", "anthropic"),
    ("groq", "groq"),
    ("old", "openai"),
)
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5", "llama-3.3-70b", "o3-mini")
COLUMNS = (
    "workspace_id", "agent_name", "key_name", "provider", "model", "user_id", "channel_id",
    "status", "error_kind", "input_tokens", "output_tokens", "cost_pusd", "priced",
    "estimated", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "created_at",
)  # fmt: skip


class _Discard:
    async def post(self, **_: Any) -> None:
        return None


class _PeakRss:
    """Samples this process's resident set size on a thread; `growth_mb` after `stop`."""

    def __init__(self) -> None:
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._base = self._peak = self._rss()
        self._running = True
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _rss(self) -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * self._page

    def _sample(self) -> None:
        while self._running:
            self._peak = max(self._peak, self._rss())
            time.sleep(0.002)

    def stop(self) -> float:
        self._running = False
        self._thread.join()
        self._peak = max(self._peak, self._rss())
        return (self._peak - self._base) / 2**20


def _rows(workspace: str, count: int, *, days: int, seed: int) -> Iterator[tuple[Any, ...]]:
    rng = random.Random(seed)
    start = NOW.replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
    start -= dt.timedelta(days=days - 1)
    span = days * 86_400 - 9 * 3600  # up to "now" on the last day
    for _ in range(count):
        key, provider = KEYS[rng.randrange(len(KEYS))]
        failed = rng.random() < 0.03
        kind = rng.choice(("key_rejected", "rate_limited", "timeout")) if failed else None
        tokens_in, tokens_out = rng.randrange(50, 4000), rng.randrange(10, 1500)
        yield (
            workspace,
            AGENTS[rng.randrange(len(AGENTS))],
            key,
            provider,
            MODELS[rng.randrange(len(MODELS))],
            f"U{rng.randrange(40):03d}",
            "C1",
            kind or "ok",
            kind,
            0 if failed else tokens_in,
            0 if failed else tokens_out,
            0 if failed else tokens_in * 150_000 + tokens_out * 600_000,
            True,
            False,
            0,
            0,
            0,
            start + dt.timedelta(seconds=rng.randrange(span)),
        )


def _load(engine: Engine, workspace: str, count: int, *, days: int, seed: int) -> float:
    began = time.perf_counter()
    rows = _rows(workspace, count, days=days, seed=seed)
    raw = engine.raw_connection()
    try:
        if engine.dialect.name == "postgresql":
            cursor = raw.cursor()
            with cursor.copy(f"COPY usage_events ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            sql = (
                f"INSERT INTO usage_events ({', '.join(COLUMNS)})"
                f" VALUES ({', '.join('?' * len(COLUMNS))})"
            )
            cursor = raw.cursor()
            batch: list[tuple[Any, ...]] = []
            for row in rows:
                batch.append((*row[:-1], row[-1].isoformat(sep=" ")))
                if len(batch) == 50_000:
                    cursor.executemany(sql, batch)
                    batch.clear()
            cursor.executemany(sql, batch)
        raw.commit()
    finally:
        raw.close()
    return time.perf_counter() - began


def _analyze(engine: Engine) -> None:
    raw = engine.raw_connection()
    try:
        raw.cursor().execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()


def _plant(engine: Engine, workspace: str) -> None:
    add_workspace(engine, workspace, timezone="Europe/Paris", name=f"Bench {workspace}")
    writer = add_agent(engine, workspace, "writer")
    add_budget(engine, workspace, period="day", limit_pusd=400 * 10**12)
    add_budget(engine, workspace, period="month", limit_pusd=50 * 10**12, agent_id=writer)
    add_key(engine, workspace, "old", status="failing")


@contextlib.contextmanager
def database(backend: str, pg_url: str) -> Iterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/bench.db"
        return
    import psycopg
    from sqlalchemy.engine import make_url

    admin = make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"byok_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _digest(services: Any, workspace: str) -> tuple[float, float]:
    rss = _PeakRss()
    began = time.perf_counter()
    outcome = await post_digest(services, workspace_id=workspace, force=True)
    seconds = time.perf_counter() - began
    growth = rss.stop()
    assert outcome.posted, outcome
    return seconds, growth


async def bench_backend(url: str, *, rows: int, small: int, days: int) -> dict[str, Any]:
    engine = make_engine(url)
    try:
        upgrade(engine)
        for workspace in ("slack:BIG", "slack:SMALL"):
            _plant(engine, workspace)
        load = _load(engine, "slack:BIG", rows, days=days, seed=1)
        load += _load(engine, "slack:SMALL", small, days=days, seed=2)
        _analyze(engine)
        services = make_services(engine, posters={"slack": _Discard()}, now=NOW)
        await _digest(services, "slack:SMALL")  # warm-up: matplotlib, pool, caches
        results: dict[str, Any] = {"load_seconds": load}
        for label, workspace in (("small", "slack:SMALL"), ("big", "slack:BIG")):
            runs = [await _digest(services, workspace) for _ in range(3)]
            results[label] = (
                statistics.median(s for s, _ in runs),
                max(g for _, g in runs),
            )
        return results
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(
            "BYOKBOT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args(argv)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    ok = True
    for backend in backends:
        with database(backend, args.pg_url) as url:
            found = asyncio.run(
                bench_backend(url, rows=args.rows, small=args.small, days=args.days)
            )
        print(f"{backend}: loaded {args.rows + args.small:,} rows in {found['load_seconds']:.1f} s")
        for label, count in (("small", args.small), ("big", args.rows)):
            seconds, growth = found[label]
            print(
                f"  digest over {count:>9,} rows: {seconds:6.3f} s,"
                f" peak RSS growth {growth:6.1f} MB"
            )
        if backend == "postgres":
            seconds, growth = found["big"]
            met = seconds <= TARGET_SECONDS and growth <= TARGET_MB
            ok = ok and met
            print(
                f"  target at {args.rows:,} rows: <= {TARGET_SECONDS} s and <= {TARGET_MB} MB:"
                f" {'met' if met else 'MISSED'}"
            )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
