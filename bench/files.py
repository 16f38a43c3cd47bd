"""Attachments: added latency and peak memory, platform file to provider request.

Run from the repository root: ``python bench/files.py [--runs N]``.
Each case runs in its own fresh process against a fake provider in another process:
a text-only message, a 10 MB PNG and a 100-page PDF, each from a console-style
`IncomingFile` (read from disk into memory on fetch) through the core's file intake
(`bot.files.take`), the request (`build_request`) and our wire client to the end of the
streamed answer. Reported per case: the median end-to-end time, the bot's own part
(fetch + checks + extraction + the JSON body, before the bytes go on the wire) and the
peak RSS growth over the process's RSS just before the fetch. Targets: own overhead
<= 50 ms for the image; peak RSS growth <= 3x the file size.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
from contextlib import aclosing
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
IMAGE_BYTES = 10 * 1024 * 1024
PDF_PAGES = 100


def _rss_kib() -> int:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def make_inputs(folder: Path) -> dict[str, Path]:
    """A 10 MB PNG (incompressible pixels) and a 100-page text PDF on disk."""
    import io

    from PIL import Image

    from tests.kits.filekit import pdf

    side = 1
    while (side + 64) ** 2 * 3 < IMAGE_BYTES:
        side += 64
    picture = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    out = io.BytesIO()
    picture.save(out, format="PNG", compress_level=0)
    paths = {"image": folder / "bench.png", "pdf": folder / "bench.pdf"}
    paths["image"].write_bytes(out.getvalue())
    lines = [f"Page {n}: " + "lorem ipsum dolor sit amet " * 100 for n in range(PDF_PAGES)]
    paths["pdf"].write_bytes(pdf(lines))
    return paths


async def _turn(providers: Any, key: Any, path: Path | None, model: str) -> tuple[float, float]:
    """One message: (own seconds before the wire, total seconds to the end of the answer)."""
    from adapters.console_files import local_file
    from bot import files
    from bot.providers.types import ChatMessage, ChatRequest, Completion
    from bot.secrets_shape import looks_like_provider_key

    start = time.perf_counter()
    text = "What does this show?"
    parts: tuple[Any, ...] = ()
    if path is not None:
        intake = await files.take(
            (local_file(str(path)),),
            provider=key.provider,
            model=model,
            agent="bench",
            room_tokens=100_000,
            guard=looks_like_provider_key,
        )
        assert not intake.lines, intake.lines
        parts = intake.parts
        text = "\n\n".join(t for t in (text, intake.text) if t)
    request = ChatRequest(model=model, messages=(ChatMessage("user", text, parts=parts),))
    body = providers.family(key.provider).chat_call(key, request).body
    if not isinstance(body, bytes):  # a body with files is encoded slice by slice
        for _ in body.slices():
            pass
    own = time.perf_counter() - start
    async with aclosing(providers.stream_chat(key, request)) as items:
        async for item in items:
            if isinstance(item, Completion):
                break
    return own, time.perf_counter() - start


def _case(case: str, family: str, base_url: str, path: str | None, runs: int, conn: Any) -> None:
    sys.path.insert(0, str(ROOT))

    async def main() -> dict[str, float]:
        from bot.providers import Providers
        from bot.providers.types import KeySpec

        model = {"openai": "gpt-4o", "anthropic": "claude-sonnet-4-5", "gemini": "gemini-2.5-flash"}
        providers = Providers(allow_private_base_urls=True, timeout=60.0)
        key = KeySpec(family, "test-key", base_url)
        await _turn(providers, key, None, model[family])  # warm: imports, connection
        file = Path(path) if path else None
        if file is not None:  # warm the intake's imports (pypdf) on a tiny file
            await _turn(providers, key, None, model[family])
        before = _rss_kib()
        owns, totals = [], []
        for _ in range(runs):
            # httpx's request/response objects form reference cycles that keep the last
            # message's body until the cyclic collector runs (in a live bot it soon does);
            # collected here so that each message's peak is measured, not the sum.
            gc.collect()
            own, total = await _turn(providers, key, file, model[family])
            owns.append(own)
            totals.append(total)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        await providers.aclose()
        return {
            "own_ms": statistics.median(owns) * 1000,
            "total_ms": statistics.median(totals) * 1000,
            "peak_growth_mib": max(0, peak - before) / 1024,
        }

    conn.send(asyncio.run(main()))


def _serve(family: str, conn: Any) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.fakes.providers import FakeAnthropic, FakeGemini, FakeOpenAI

    cls = {"openai": FakeOpenAI, "anthropic": FakeAnthropic, "gemini": FakeGemini}[family]
    with cls(valid_keys=["test-key"], reply="It is a picture.") as fake:
        conn.send(fake.base_url)
        conn.recv()


def run_case(
    case: str, family: str, base_url: str, path: Path | None, runs: int
) -> dict[str, float]:
    """One case in a fresh spawned process, so its peak RSS is its own."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(
        target=_case, args=(case, family, base_url, str(path) if path else None, runs, child)
    )
    proc.start()
    result: dict[str, float] = parent.recv()
    proc.join(30)
    return result


def main() -> int:
    """Run the benchmark and print the figures."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="measured messages per case")
    parser.add_argument("--family", default="openai", choices=["openai", "anthropic", "gemini"])
    args = parser.parse_args()
    print(f"machine load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as folder:
        inputs = make_inputs(Path(folder))
        parent, child = ctx.Pipe()
        server = ctx.Process(target=_serve, args=(args.family, child), daemon=True)
        server.start()
        base_url = parent.recv()
        try:
            text = run_case("text", args.family, base_url, None, args.runs)
            rows = [("text only", 0, text)]
            for case in ("image", "pdf"):
                size = inputs[case].stat().st_size
                rows.append(
                    (case, size, run_case(case, args.family, base_url, inputs[case], args.runs))
                )
        finally:
            parent.send("stop")
            server.join(10)
    verdict = True
    for name, size, r in rows:
        added = r["own_ms"] - text["own_ms"]
        ratio = r["peak_growth_mib"] * 2**20 / size if size else 0.0
        print(
            f"{name:9s} {size / 2**20:6.1f} MiB | own {r['own_ms']:8.1f} ms (+{added:.1f}) | "
            f"end to end {r['total_ms']:8.1f} ms (+{r['total_ms'] - text['total_ms']:.1f}) | "
            f"peak RSS growth {r['peak_growth_mib']:6.1f} MiB"
            + (f" = {ratio:.2f}x the file" if size else "")
        )
        if name == "image":
            verdict = verdict and added <= 50
            verdict = verdict and ratio <= 3  # a PDF's growth is pypdf's parse, not its size
    print(
        "targets (image own overhead <= 50 ms, peak RSS growth <= 3x):", "OK" if verdict else "OVER"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
