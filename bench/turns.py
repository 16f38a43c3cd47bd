"""Benchmark: routed messages through the core (console path, in process).

    .venv/bin/python bench/turns.py [--messages 400] [--backend sqlite|postgres|both]
                                    [--pg-url URL] [--concurrency 16]

A zero-latency fake OpenAI runs in its own process (pinned to another core when there
is one); this process is pinned to one core. Each backend gets a fresh migrated
database with a key, a default agent and a workspace budget, so every message takes
the full path: route + dedupe claim, reserve, stream, settle + usage row.

Reported per backend:
- bare provider request (the baseline, measured in the same run with the same client);
- per-message overhead = the whole console turn minus the time inside the provider
  stream, per message (p50, p99) — the core's own cost (routing, database, pricing);
- messages per second one at a time, and with `--concurrency` turns in flight;
- SQL statements per message (each a round trip to a PostgreSQL server).
Targets: overhead p50 <= 2 ms, p99 <= 10 ms; >= 300 messages/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy.engine import Engine  # noqa: E402

from adapters.console import ConsoleAdapter  # noqa: E402
from bot.core import Core  # noqa: E402
from bot.providers.types import ChatMessage, ChatRequest, KeySpec  # noqa: E402
from bot.vault.masterkey import generate_key  # noqa: E402
from storage.engine import make_engine  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from tests.kits.turnkit import World, make_services  # noqa: E402

KEY = "bench-key"
TARGET_P50_MS, TARGET_P99_MS, TARGET_RATE = 2.0, 10.0, 300.0
_FAKE = """
import sys, time
sys.path.insert(0, {repo!r})
from tests.fakes.providers import FakeOpenAI
fake = FakeOpenAI(valid_keys=[{key!r}], reply="Hello from the bench fake, four words.").start()
print(fake.base_url, flush=True)
sys.stdin.read()
"""


@contextlib.contextmanager
def fake_provider() -> Iterator[str]:
    """A zero-latency fake OpenAI in its own process; yields its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _FAKE.format(repo=str(REPO), key=KEY)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
            os.sched_setaffinity(proc.pid, {1})
        yield base_url
    finally:
        proc.terminate()
        proc.wait(10)


class TimedProviders:
    """Wraps the real providers client and records the time spent inside each stream."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.spent: list[float] = []

    async def stream_chat(self, key: KeySpec, request: ChatRequest) -> AsyncIterator[Any]:
        started = time.perf_counter()
        try:
            async for item in self.inner.stream_chat(key, request):
                paused = time.perf_counter()
                yield item  # the consumer's time between items is not the provider's
                started += time.perf_counter() - paused
        finally:
            self.spent.append(time.perf_counter() - started)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


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


def prepare(engine: Engine, base_url: str) -> Any:
    upgrade(engine)
    services = make_services(engine, generate_key())
    world = World(services, workspace_id="console", platform="console")
    world.workspace()
    key_id = world.key("bench", secret=KEY, base_url=base_url)
    world.agent("writer", key_id=key_id, default=True, max_tokens=256)
    world.budget("1000000", period="month")
    return services


async def bench_backend(
    url: str, base_url: str, *, messages: int, concurrency: int
) -> dict[str, float]:
    engine = make_engine(url)
    services = prepare(engine, base_url)
    timed = TimedProviders(services.providers)
    services.providers = timed
    core = Core(services)
    console = ConsoleAdapter(core, services, stdin=io.StringIO(), stdout=io.StringIO())
    spec = KeySpec("openai", KEY, base_url)
    request = ChatRequest(model="gpt-4o-mini", messages=(ChatMessage("user", "hello"),))
    try:
        for _ in range(50):  # warm-up: connections, caches, code paths
            await console.handle_line("warm up")
        commit_ms = durable_commit_ms(engine)
        bare: list[float] = []
        cpu = time.process_time()
        for _ in range(messages):
            started = time.perf_counter()
            async for _item in timed.inner.stream_chat(spec, request):
                pass
            bare.append(time.perf_counter() - started)
        bare_cpu = (time.process_time() - cpu) / messages
        timed.spent.clear()
        statements = StatementCount(engine)
        totals: list[float] = []
        cpu = time.process_time()
        began = time.perf_counter()
        for i in range(messages):
            console.out = io.StringIO()
            started = time.perf_counter()
            await console.handle_line(f"question number {i}")
            totals.append(time.perf_counter() - started)
        sequential = messages / (time.perf_counter() - began)
        turn_cpu = (time.process_time() - cpu) / messages
        statements.stop()
        assert len(timed.spent) == messages, "some messages never reached the provider"
        overhead = [t - p for t, p in zip(totals, timed.spent, strict=True)]
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with gate:
                await console.handle_line(f"parallel question {i}")

        began = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(messages)))
        parallel = messages / (time.perf_counter() - began)
    finally:
        await timed.inner.aclose()
        engine.dispose()
    return {
        "bare_p50": pct(bare, 50) * 1000,
        "bare_p99": pct(bare, 99) * 1000,
        "turn_p50": pct(totals, 50) * 1000,
        "turn_p99": pct(totals, 99) * 1000,
        "over_p50": pct(overhead, 50) * 1000,
        "over_p99": pct(overhead, 99) * 1000,
        "over_mean": statistics.fmean(overhead) * 1000,
        "seq_rate": sequential,
        "par_rate": parallel,
        "bare_rate": 1000 / statistics.fmean(x * 1000 for x in bare),
        "bare_cpu": bare_cpu * 1000,
        "turn_cpu": turn_cpu * 1000,
        "commit": commit_ms,
        "statements": statements.count / messages,
    }


class StatementCount:
    """SQL statements an engine sends while counting (each a round trip to a server)."""

    def __init__(self, engine: Engine) -> None:
        from sqlalchemy import event

        self.engine, self.count = engine, 0
        event.listen(engine, "before_cursor_execute", self._statement)

    def _statement(self, *_args: object) -> None:
        self.count += 1

    def stop(self) -> None:
        from sqlalchemy import event

        event.remove(self.engine, "before_cursor_execute", self._statement)


def durable_commit_ms(engine: Engine) -> float:
    """What one durable one-row commit costs on this database right now (a reference)."""
    from sqlalchemy import text

    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE bench_commit (x INTEGER)"))
    started = time.perf_counter()
    for i in range(100):
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO bench_commit (x) VALUES (:x)"), {"x": i})
    return (time.perf_counter() - started) / 100 * 1000


def report(backend: str, r: dict[str, float], concurrency: int) -> bool:
    ok = r["over_p50"] <= TARGET_P50_MS and r["over_p99"] <= TARGET_P99_MS
    ok = ok and max(r["seq_rate"], r["par_rate"]) >= TARGET_RATE
    print(f"\n== {backend} ==")
    print(
        f"bare provider request   p50 {r['bare_p50']:7.3f} ms   p99 {r['bare_p99']:7.3f} ms"
        f"   ({r['bare_rate']:.0f}/s one at a time)"
    )
    print(
        f"whole console turn      p50 {r['turn_p50']:7.3f} ms   p99 {r['turn_p99']:7.3f} ms"
        f"   ({r['turn_p50'] / r['bare_p50']:.2f}x the bare request at p50)"
    )
    print(
        f"overhead beyond request p50 {r['over_p50']:7.3f} ms   p99 {r['over_p99']:7.3f} ms"
        f"   (targets {TARGET_P50_MS:g} / {TARGET_P99_MS:g} ms: "
        f"{r['over_p50'] / TARGET_P50_MS:.2f}x / {r['over_p99'] / TARGET_P99_MS:.2f}x)"
    )
    print(
        f"messages per second     {r['seq_rate']:7.0f} one at a time, "
        f"{r['par_rate']:.0f} with {concurrency} in flight "
        f"(target {TARGET_RATE:.0f}: {max(r['seq_rate'], r['par_rate']) / TARGET_RATE:.2f}x)"
    )
    print(
        f"cpu per message         {r['turn_cpu']:7.3f} ms in this process "
        f"(bare request {r['bare_cpu']:.3f} ms, so {r['turn_cpu'] - r['bare_cpu']:.3f} ms is ours)"
    )
    print(
        f"statements per message  {r['statements']:7.1f} (on PostgreSQL each its own round trip "
        "and commit: see docs/DESIGN.md)"
    )
    print(
        f"reference: one durable commit on this database takes {r['commit']:.3f} ms "
        "(a turn waits for one)"
    )
    print("result:", "meets targets" if ok else "MISSES targets")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(
            "BYOKBOT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args(argv)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    with fake_provider() as base_url:
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {0})  # "on one core"
        os.environ["BYOKBOT_ALLOW_PRIVATE_BASE_URLS"] = "true"
        print(f"{args.messages} messages per run; fake provider at {base_url}")
        results = []
        for backend in backends:
            with database(backend, args.pg_url) as url:
                stats = asyncio.run(
                    bench_backend(
                        url, base_url, messages=args.messages, concurrency=args.concurrency
                    )
                )
            results.append(report(backend, stats, args.concurrency))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
