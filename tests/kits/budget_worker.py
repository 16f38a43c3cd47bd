"""One process of the budget concurrency test: N concurrent turns through a real Core.

    python -m tests.kits.budget_worker <database url> <workspace> <go file> <turns>

Reads the master key from BYOKBOT_MASTER_KEY, waits until the go file exists (so every
process starts its turns together), then prints one JSON line of outcome counts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
import uuid
from pathlib import Path

from bot.boundary import IncomingMessage, Place, Sender
from bot.core import Core
from storage.engine import make_engine
from tests.kits.turnkit import RecordingSink, make_services


async def run(url: str, workspace: str, go: Path, turns: int) -> dict[str, object]:
    engine = make_engine(url)
    services = make_services(engine, os.environ["BYOKBOT_MASTER_KEY"])
    core = Core(services)
    tag = uuid.uuid4().hex[:8]
    sinks = [RecordingSink() for _ in range(turns)]
    messages = [
        IncomingMessage(
            place=Place(workspace_id=workspace, platform="slack", channel_id="C1"),
            sender=Sender(user_id=f"U{i}"),
            text="<@UBOT> hi",
            event_id=f"{tag}-{i}",
            mentions_bot=True,
        )
        for i in range(turns)
    ]
    # Warm up (imports, pool, provider client) before reporting ready.
    with engine.connect():
        pass
    go.with_name(f"ready-{tag}").touch()
    deadline = time.monotonic() + 120
    while not go.exists():
        if time.monotonic() > deadline:
            raise SystemExit("never told to go")
        await asyncio.sleep(0.002)
    await asyncio.gather(*(core.handle_message(m, s) for m, s in zip(messages, sinks, strict=True)))
    ok = refused = 0
    odd: list[str] = []
    for sink in sinks:
        if [r.kind for r in sink.replies] == ["stream"]:
            ok += 1
        elif len(sink.replies) == 1 and sink.last.text.startswith("Over budget"):
            refused += 1
        else:
            odd.append(" | ".join(r.text[:120] for r in sink.replies))
    counts = {"ok": ok, "refused": refused, "other": len(odd), "odd": sorted(set(odd))}
    await services.providers.aclose()
    engine.dispose()
    return counts


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    url, workspace, go, turns = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
    print(json.dumps(asyncio.run(run(url, workspace, go, turns))), flush=True)


if __name__ == "__main__":
    main()
