"""Signed Slack events per second through `/slack/events`, and the ack latency under load.

Run from the repository root: ``python bench/slack.py [--events N] [--senders N]``.
Starts the real `byokbot serve` (pinned to one CPU core) against the fake Slack Web API
and a zero-latency fake OpenAI, creates an agent bound to a channel, then has N
concurrent senders deliver signed `app_mention` events. It reports the ack latency
(p50/p99, what Slack waits for) and routed events per second (events answered in their
thread, end to end). Targets: ack p99 <= 100 ms, >= 150 routed events/s on one core.
Bounded: a fixed number of events, and a deadline; takes well under a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SECRET = "bench-signing-secret"
DEADLINE_SECONDS = 120.0


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _start_serve(
    env: dict[str, str], workdir: Path, *, core: int | None
) -> subprocess.Popen[bytes]:
    from tests.helpers import byokbot_command, clean_env

    def pin() -> None:
        if core is not None and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {core})

    return subprocess.Popen(
        [*byokbot_command(), "serve", "--port-file", str(workdir / "port")],
        env=clean_env(env),
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        stdout=(workdir / "serve.log").open("wb"),
        stderr=subprocess.STDOUT,
        preexec_fn=pin,  # only sets the CPU affinity of the child
    )


def _wait_port(proc: subprocess.Popen[bytes], workdir: Path) -> int:
    port_file = workdir / "port"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if port_file.exists() and port_file.read_text().strip():
            return int(port_file.read_text())
        if proc.poll() is not None:
            raise SystemExit((workdir / "serve.log").read_text())
        time.sleep(0.05)
    raise SystemExit("serve did not start")


async def _send_all(url: str, bodies: list[bytes], senders: int) -> list[float]:
    import aiohttp

    from tests.fakes.slack_signing import sign

    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    latencies: list[float] = []
    failures = 0

    async def sender(session: aiohttp.ClientSession) -> None:
        nonlocal failures
        first = True  # its latency includes opening the connection: left out
        while not queue.empty():
            body = queue.get_nowait()
            headers = {"Content-Type": "application/json", **sign(SECRET, body)}
            started = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    failures += 1
            if not first:
                latencies.append(time.perf_counter() - started)
            first = False

    connector = aiohttp.TCPConnector(limit=senders)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(sender(session) for _ in range(senders)))
    if failures:
        raise SystemExit(f"{failures} events were not acknowledged with 200")
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1500)
    parser.add_argument("--senders", type=int, default=50)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--core", type=int, default=0, help="CPU core for serve (-1: any)")
    args = parser.parse_args()

    from bot.masterkey import generate_key
    from tests.fakes.providers import FakeOpenAI
    from tests.fakes.slack_api import FakeSlackAPI
    from tests.fakes.slack_driver import SlackDriver, serve_env
    from tests.fakes.slack_signing import event_body, message_event

    if args.core >= 0 and hasattr(os, "sched_getaffinity") and len(os.sched_getaffinity(0)) > 1:
        # The load generator and the fakes stay off the bot's core.
        os.sched_setaffinity(0, os.sched_getaffinity(0) - {args.core})
    workdir = Path(tempfile.mkdtemp(prefix="byokbot-bench-"))
    database_url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
    with FakeSlackAPI() as fake, FakeOpenAI(reply="OK, done.") as provider:
        env = serve_env(
            database_url=database_url,
            master_key=generate_key(),
            fake=fake,
            secret=SECRET,
            BYOKBOT_LOG_LEVEL="WARNING",
            BYOKBOT_HTTP_HOST="127.0.0.1",
            BYOKBOT_HTTP_PORT="0",
        )
        proc = _start_serve(env, workdir, core=None if args.core < 0 else args.core)
        try:
            url = f"http://127.0.0.1:{_wait_port(proc, workdir)}"
            driver = SlackDriver(url, secret=SECRET, fake=fake)
            driver.create_agent(provider.base_url)
            driver.close()
            bodies = [
                event_body(
                    message_event(
                        user="UMEMBER",
                        text="<@UBOT> benchmark question",
                        channel="C0001",
                        event_type="app_mention",
                    ),
                    team_id="T0001",
                )[0]
                for _ in range(args.events)
            ]
            answered_before = len(fake.calls_to("chat.stopStream"))
            started = time.perf_counter()
            latencies = asyncio.run(_send_all(url + "/slack/events", bodies, args.senders))
            acked = time.perf_counter() - started
            deadline = time.monotonic() + DEADLINE_SECONDS
            target = answered_before + args.events
            while len(fake.calls_to("chat.stopStream")) < target and time.monotonic() < deadline:
                time.sleep(0.01)
            done = len(fake.calls_to("chat.stopStream")) - answered_before
            elapsed = time.perf_counter() - started
        finally:
            proc.terminate()
            proc.wait(30)
        calls = len(provider.chat_requests)

    p50, p99 = _percentile(latencies, 0.50) * 1000, _percentile(latencies, 0.99) * 1000
    routed = done / elapsed
    print(f"events sent          {args.events} by {args.senders} concurrent senders")
    print(f"acknowledged         {args.events} in {acked:.2f} s ({args.events / acked:.0f}/s)")
    print(
        f"ack latency          p50 {p50:.1f} ms   p99 {p99:.1f} ms   "
        f"mean {statistics.mean(latencies) * 1000:.1f} ms"
    )
    print(f"answered in thread   {done} ({calls} provider calls) in {elapsed:.2f} s")
    print(f"routed events/s      {routed:.0f}")
    ok = p99 <= 100 and routed >= 150 and done == args.events
    print(f"targets (p99 <= 100 ms, >= 150 routed/s): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
