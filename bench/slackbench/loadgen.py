"""The load generator of `bench/slack.py`: signed `app_mention` events from an aiohttp client.

    python -m bench.slackbench.loadgen '<json config>'

Config: `url` (the events endpoint), `secret` (signing secret), `events`, `senders`,
`keepalive` (false: one connection per request), `base` (makes event ids and message
timestamps unique across rounds). Each sender posts its next event as soon as the
previous one is acknowledged: answers stay in flight, nothing waits for them. Every
request is signed at send time with Slack's v0 scheme (`tests.fakes.slack_signing`).

Prints one JSON object: the wall-clock start and end, every ack latency (seconds; with
kept-alive connections each sender's first request, which opens its connection, is left
out), every event's thread ts with the wall-clock time it was sent, failures and this
process's CPU seconds.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

import aiohttp

from tests.fakes.slack_signing import event_body, message_event, sign

TEAM = "T0001"
CHANNEL = "C0001"
USER = "UMEMBER"


def build_events(count: int, base: int) -> list[tuple[str, bytes]]:
    """`count` distinct signed-to-be mention bodies: (message ts, JSON body)."""
    events = []
    for i in range(count):
        n = base + i
        ts = f"{1_800_000_000 + n}.{n % 1_000_000:06d}"
        event = message_event(
            user=USER,
            text="<@UBOT> benchmark question",
            channel=CHANNEL,
            ts=ts,
            event_type="app_mention",
            team=TEAM,
        )
        body, _eid = event_body(event, team_id=TEAM, event_id=f"Ev{n:010d}")
        events.append((ts, body))
    return events


async def run(config: dict[str, Any]) -> dict[str, Any]:
    """Send every event with `senders` concurrent senders; return what was measured."""
    events = build_events(int(config["events"]), int(config["base"]))
    url, secret = str(config["url"]), str(config["secret"])
    keepalive = bool(config["keepalive"])
    pending = iter(events)
    acks: list[float] = []
    sent: list[tuple[str, float]] = []
    failures: list[str] = []

    async def sender(session: aiohttp.ClientSession) -> None:
        first = True
        for ts, body in pending:
            headers = {"Content-Type": "application/json", **sign(secret, body)}
            wall = time.time()
            started = time.perf_counter()
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                failures.append(type(exc).__name__)
                continue
            latency = time.perf_counter() - started
            if status != 200:
                failures.append(f"HTTP {status}")
                continue
            sent.append((ts, wall))
            if not (first and keepalive):
                acks.append(latency)
            first = False

    connector = aiohttp.TCPConnector(limit=0, force_close=not keepalive)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.time()
        await asyncio.gather(*(sender(session) for _ in range(int(config["senders"]))))
        finished = time.time()
    times = os.times()
    return {
        "started": started,
        "finished": finished,
        "acks": acks,
        "sent": sent,
        "failures": failures,
        "cpu": times.user + times.system,
    }


def main() -> int:
    """Run the configuration given as the first argument; print the result as JSON."""
    result = asyncio.run(run(json.loads(sys.argv[1])))
    sys.stdout.write(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
