"""Per-call client overhead: our stream parsing + pricing vs a bare httpx request.

Run from the repository root: ``python bench/providers.py [--calls N]``.
Both sides hit the same zero-latency fake provider on 127.0.0.1; the difference between the
medians is what our client adds to a call. Target: < 0.5 ms at p50. Takes well under 60 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _bare(client: Any, url: str, headers: dict[str, str], body: bytes) -> None:
    async with client.stream("POST", url, headers=headers, content=body) as response:
        async for _ in response.aiter_bytes():
            pass


async def _ours(providers: Any, key: Any, request: Any, price_call: Any) -> None:
    from bot.providers.types import Completion

    async for item in providers.stream_chat(key, request):
        if isinstance(item, Completion) and item.usage is not None:
            price_call(provider=key.provider, model=request.model, usage=item.usage)


async def _bench_family(family: str, fake: Any, calls: int, budget: float) -> dict[str, float]:
    import httpx

    from bot.pricing import price_call
    from bot.providers import Providers
    from bot.providers.types import ChatMessage, ChatRequest, KeySpec

    models = {
        "openai": "gpt-4o-mini",
        "anthropic": "claude-sonnet-4-5",
        "gemini": "gemini-2.5-flash",
    }
    model = models[family]
    key = KeySpec(family, "test-key", fake.base_url)
    request = ChatRequest(model=model, messages=(ChatMessage("user", "Say hello."),))
    providers = Providers(allow_private_base_urls=True)
    # Reuse exactly the request our client sends, so both sides move the same bytes.
    call = providers.family(family).chat_call(key, request)
    body = call.body or b""
    headers = dict(call.headers)
    bare_client = httpx.AsyncClient()
    wall: tuple[list[float], list[float]] = ([], [])
    cpu: tuple[list[float], list[float]] = ([], [])
    try:
        for _ in range(30):  # warm up connections, caches and the pricing snapshot
            await _bare(bare_client, str(call.url), headers, body)
            await _ours(providers, key, request, price_call)
        stop_at = time.monotonic() + budget
        for i in range(calls):
            if time.monotonic() > stop_at:
                break
            # Alternate the order so drift and GC hit both sides alike.
            for side in (0, 1) if i % 2 else (1, 0):
                start, start_cpu = time.perf_counter(), time.process_time()
                if side == 0:
                    await _bare(bare_client, str(call.url), headers, body)
                else:
                    await _ours(providers, key, request, price_call)
                wall[side].append(time.perf_counter() - start)
                cpu[side].append(time.process_time() - start_cpu)
    finally:
        await bare_client.aclose()
        await providers.aclose()
    return {
        "n": len(wall[0]),
        "bare_p50": _percentile(wall[0], 0.50) * 1e3,
        "bare_p99": _percentile(wall[0], 0.99) * 1e3,
        "ours_p50": _percentile(wall[1], 0.50) * 1e3,
        "ours_p99": _percentile(wall[1], 0.99) * 1e3,
        "mean_delta": (statistics.fmean(wall[1]) - statistics.fmean(wall[0])) * 1e3,
        # CPU time of this process only (the fake runs in another): robust to a busy machine.
        "cpu_bare_p50": _percentile(cpu[0], 0.50) * 1e3,
        "cpu_ours_p50": _percentile(cpu[1], 0.50) * 1e3,
    }


def _cpu_only(iterations: int) -> dict[str, float]:
    """Parse a recorded OpenAI stream and price it, with no I/O: the pure CPU cost."""
    import httpx

    from bot.pricing import price_call
    from bot.providers.openai import OpenAIFlavor, OpenAIStream
    from bot.providers.types import Completion

    chunk = {"id": "x", "object": "chat.completion.chunk", "model": "gpt-4o-mini"}
    events = [
        {**chunk, "choices": [{"index": 0, "delta": {"content": f" word{i}"}}]} for i in range(40)
    ]
    events.append({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    usage = {
        "prompt_tokens": 900,
        "completion_tokens": 40,
        "prompt_tokens_details": {"cached_tokens": 100},
    }
    events.append({**chunk, "choices": [], "usage": usage})
    raw = b"".join(f"data: {json.dumps(e)}\n\n".encode() for e in events) + b"data: [DONE]\n\n"
    headers, flavor = httpx.Headers(), OpenAIFlavor(None)
    times: list[float] = []
    for _ in range(iterations):
        start = time.perf_counter()
        parser = OpenAIStream("openai", headers, flavor)
        items = parser.feed(raw) + parser.finish()
        done = items[-1]
        assert isinstance(done, Completion) and done.usage is not None
        price_call(provider="openai", model="gpt-4o-mini", usage=done.usage)
        times.append(time.perf_counter() - start)
    return {"p50": _percentile(times, 0.5) * 1e6, "p99": _percentile(times, 0.99) * 1e6}


class _RemoteFake:
    """A fake provider in a child process, so its thread never competes for our GIL."""

    def __init__(self, family: str) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(family, child), daemon=True)

    def __enter__(self) -> _RemoteFake:
        self._proc.start()
        self.base_url: str = self._conn.recv()
        return self

    def __exit__(self, *exc: object) -> None:
        self._conn.send("stop")
        self._proc.join(10)


def _serve(family: str, conn: Any) -> None:
    from tests.fakes.providers import FakeAnthropic, FakeGemini, FakeOpenAI

    cls = {"openai": FakeOpenAI, "anthropic": FakeAnthropic, "gemini": FakeGemini}[family]
    with cls(valid_keys=["test-key"], reply=" ".join(["word"] * 40)) as fake:
        conn.send(fake.base_url)
        conn.recv()


def main() -> int:
    """Run the benchmark and print the figures."""
    root = Path(__file__).resolve().parent.parent
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=1000, help="measured calls per side")
    parser.add_argument("--budget", type=float, default=14.0, help="seconds per provider, max")
    args = parser.parse_args()
    print(f"machine load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

    cpu = _cpu_only(3000)
    print(
        f"parse+price only (41-event OpenAI stream): p50 {cpu['p50']:.0f} µs  "
        f"p99 {cpu['p99']:.0f} µs"
    )
    worst = worst_cpu = 0.0
    for family in ("openai", "anthropic", "gemini"):
        with _RemoteFake(family) as fake:
            r = asyncio.run(_bench_family(family, fake, args.calls, args.budget))
        overhead = r["ours_p50"] - r["bare_p50"]
        cpu_overhead = r["cpu_ours_p50"] - r["cpu_bare_p50"]
        worst = max(worst, overhead)
        worst_cpu = max(worst_cpu, cpu_overhead)
        print(
            f"{family:9s} n={r['n']:.0f} | wall: bare p50 {r['bare_p50']:.3f} p99 "
            f"{r['bare_p99']:.3f} | ours p50 {r['ours_p50']:.3f} p99 {r['ours_p99']:.3f} | "
            f"overhead p50 {overhead:+.3f} (mean {r['mean_delta']:+.3f}) ms, "
            f"ratio {r['ours_p50'] / r['bare_p50']:.2f}x | cpu p50: bare "
            f"{r['cpu_bare_p50']:.3f} ours {r['cpu_ours_p50']:.3f} (+{cpu_overhead:.3f}) ms"
        )
    verdict = "OK" if worst < 0.5 else "OVER TARGET"
    print(
        f"worst p50 overhead: wall {worst:.3f} ms, cpu {worst_cpu:.3f} ms "
        f"(target < 0.5 ms): {verdict}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
