"""Slack mentions answered per second and CPU per answer, measured from outside.

    PYTHONPATH=. .venv/bin/python bench/slack.py [--quick] [--db sqlite|postgres]
        [--events 3000] [--senders 10,50] [--modes keepalive,fresh] [--repeat 1] [--pin]
        [--profile PATH]

What runs where (every process on 127.0.0.1, nothing leaves loopback):
- this process: orchestration only; it reads /proc of the two targets (CPU from
  utime+stime in /proc/<pid>/stat, RSS from VmRSS in /proc/<pid>/status, sampled every
  50 ms) and takes no part in the traffic;
- the fakes process (`bench/slackbench/fakes.py`): the fake Slack Web API and the
  zero-latency fake OpenAI-format provider from `tests/fakes/`; the fake Slack notes when
  each thread's answer was finished (`chat.stopStream`, or `chat.postMessage` in the thread);
- a load-generator process per round (`bench/slackbench/loadgen.py`): an aiohttp client
  sending signed (Slack v0) `app_mention` events, each sender posting its next event as
  soon as the previous one is acked; the answers stay in flight;
- the two targets, each its own process, both pointed at the same fakes:
  byokbot = the real `byokbot serve` (SQLite, or a fresh PostgreSQL database with
  `--db postgres` at BYOKBOT_TEST_POSTGRES_URL, dropped afterwards), with an agent bound to
  the channel through real slash commands; baseline = `bench/slackbench/baseline.py`, a
  bare aiohttp app that checks the signature, acks, and answers each mention with one
  `chat.postMessage` (no database, no provider, no streaming).

Each configuration (kept-alive connections or one connection per request, x 10 and 50
senders) runs a round on each target, byokbot and baseline interleaved (the order
alternates). Per round: answered/s (answers seen by the fake Slack over the time from the
first event sent to the last answer), acks/s, ack p50/p99 (kept-alive: each sender's
first request, which opens its connection, is left out), e2e p50/p99 (event sent ->
answer finished at the fake Slack; with answers in flight this is mostly queueing), CPU
ms per answered event of the target process, RSS peak (idle RSS is taken after a warm-up),
and "fakes ms", the fakes process's CPU per answer (the machine's other load).
The ratio byokbot/baseline of CPU per answer and of answered/s is the figure to drive down.
Targets (issues 14, 15): ack p99 <= 100 ms at 50 senders; CPU per answer <= 2.5 ms on
SQLite, <= 3 ms on PostgreSQL. The exit status is 1 only when events went unacked or
unanswered (or, with `--strict`, a target was missed). Bounded: fixed counts, deadlines;
about 2 minutes by default, 30 s with `--quick`.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.benchkit.cli import (  # noqa: E402
    add_round_options,
    apply_pinning,
    check_round_options,
    pin_cpus,
)
from bench.benchkit.pyspy import by_package, profiled  # noqa: E402
from bench.slackbench.procs import (  # noqa: E402
    SECRET,
    FakeAt,
    Fakes,
    RssPeak,
    Target,
    cpu_seconds,
    database,
    python_env,
    rss_mib,
    start_baseline,
)
from tests.fakes.slack_driver import serve_env  # noqa: E402
from tests.kits.helpers import ServeProcess  # noqa: E402

STALL_SECONDS = 20.0  # no new answer for this long: the round ends with what it has
ROUND_LIMIT_SECONDS = 300.0


# -- one round --------------------------------------------------------------------------
@dataclass
class Round:
    """What one round on one target measured."""

    target: str
    mode: str
    senders: int
    events: int
    acked: int
    answered: int
    answered_per_s: float
    acks_per_s: float
    ack_ms: list[float]
    e2e_ms: list[float]
    cpu_ms_per_answer: float
    rss_peak: float
    fakes_ms_per_answer: float
    loadgen_ms_per_event: float
    calls: dict[str, int]
    provider_calls: int
    failures: list[str]


_bases = iter(range(1, 10_000))


def run_round(
    target: Target,
    fakes: Fakes,
    *,
    mode: str,
    senders: int,
    events: int,
    pin: int | None,
    profile: Path | None = None,
    gil: bool = False,
) -> Round:
    """Send `events` mentions to `target`, wait for the answers, and measure (sampled by
    py-spy into `profile`, if given)."""
    base = next(_bases) * 100_000
    config = {
        "url": target.url + "/slack/events",
        "secret": SECRET,
        "events": events,
        "senders": senders,
        "keepalive": mode == "keepalive",
        "base": base,
    }
    fakes_cpu0 = fakes.command("mark")["cpu"]
    sampler = RssPeak(target.pid)
    sampler.start()
    cpu0 = cpu_seconds(target.pid)
    with profiled(target.pid, profile, gil=gil):
        loadgen = subprocess.Popen(
            [sys.executable, "-m", "bench.slackbench.loadgen", json.dumps(config)],
            cwd=REPO,
            env=python_env(),
            stdout=subprocess.PIPE,
            preexec_fn=(lambda: os.sched_setaffinity(0, {pin})) if pin is not None else None,
        )
        out, _ = loadgen.communicate(timeout=ROUND_LIMIT_SECONDS)
        if loadgen.returncode != 0:
            raise SystemExit("the load generator failed")
        sent = json.loads(out)
        acked = len(sent["sent"])
        deadline = time.monotonic() + ROUND_LIMIT_SECONDS
        last, last_change = -1, time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - last_change < STALL_SECONDS:
            count = int(fakes.command("count")["answered"])
            if count >= acked:
                break
            if count != last:
                last, last_change = count, time.monotonic()
            time.sleep(0.1)
        time.sleep(0.5)  # work after the answer's last Slack call (settlement) counts too
    cpu1 = cpu_seconds(target.pid)
    rss_peak = sampler.stop()
    report = fakes.command("report")

    done: dict[str, float] = report["done"]
    e2e = [(done[ts] - wall) * 1000 for ts, wall in sent["sent"] if ts in done]
    answered = len(e2e)
    last_answer = max(done.values(), default=sent["started"])
    per = max(answered, 1)
    return Round(
        target=target.name,
        mode=mode,
        senders=senders,
        events=events,
        acked=acked,
        answered=answered,
        answered_per_s=answered / max(last_answer - sent["started"], 1e-9),
        acks_per_s=acked / max(sent["finished"] - sent["started"], 1e-9),
        ack_ms=[a * 1000 for a in sent["acks"]],
        e2e_ms=e2e,
        cpu_ms_per_answer=(cpu1 - cpu0) * 1000 / per,
        rss_peak=rss_peak,
        fakes_ms_per_answer=(report["cpu"] - fakes_cpu0) * 1000 / per,
        loadgen_ms_per_event=sent["cpu"] * 1000 / max(acked, 1),
        calls=report["calls"],
        provider_calls=int(report["provider_calls"]),
        failures=sent["failures"],
    )


# -- output -----------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


HEADER = (
    f"{'mode':<9} {'snd':>3} {'target':<8} {'answered':>11} {'ans/s':>6} {'acks/s':>6} "
    f"{'ack p50':>7} {'ack p99':>7} {'e2e p50':>7} {'e2e p99':>7} {'CPU ms/ans':>10} "
    f"{'RSS MiB':>7} {'fakes ms':>8}"
)


def row(r: Round) -> str:
    """One table line."""
    return (
        f"{r.mode:<9} {r.senders:>3} {r.target:<8} {f'{r.answered}/{r.events}':>11} "
        f"{r.answered_per_s:>6.0f} {r.acks_per_s:>6.0f} {pct(r.ack_ms, 0.5):>7.1f} "
        f"{pct(r.ack_ms, 0.99):>7.1f} {pct(r.e2e_ms, 0.5):>7.0f} {pct(r.e2e_ms, 0.99):>7.0f} "
        f"{r.cpu_ms_per_answer:>10.2f} {r.rss_peak:>7.0f} {r.fakes_ms_per_answer:>8.2f}"
    )


def oddities(r: Round) -> list[str]:
    """What in a round is not as it should be."""
    notes = []
    if r.failures:
        notes.append(f"{len(r.failures)} events not acked with 200 ({r.failures[0]}, ...)")
    if r.answered < r.acked:
        notes.append(f"{r.acked - r.answered} acked events got no answer")
    if r.target == "byokbot" and r.provider_calls != r.answered:
        notes.append(f"{r.provider_calls} provider calls for {r.answered} answers")
    return [f"  ! {r.target} {r.mode} x{r.senders}: {note}" for note in notes]


def parse_args() -> argparse.Namespace:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_round_options(
        parser,
        pin_help="targets on CPU 0, fakes and load generator on CPU 1",
        profile_help="py-spy byokbot's rounds into PATH.<mode>.x<senders> (collapsed stacks)",
    )
    parser.add_argument("--modes", default="keepalive,fresh", help="keepalive and/or fresh")
    parser.add_argument(
        "--profile-gil", action="store_true", help="--profile samples the GIL holder only"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument(
        "--serve-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for byokbot serve (repeatable)",
    )
    args = parser.parse_args()
    check_round_options(parser, args)
    args.modes = args.modes.split(",")
    if not set(args.modes) <= {"keepalive", "fresh"}:
        parser.error("--modes takes keepalive and/or fresh")
    return args


def main() -> int:
    """Run every configuration on both targets and print the table."""
    args = parse_args()
    pin_targets, pin_rest = pin_cpus(pin=args.pin)
    workdir = Path(tempfile.mkdtemp(prefix="byokbot-bench-slack-"))
    fakes = Fakes()
    serve: ServeProcess | None = None
    baseline: subprocess.Popen[bytes] | None = None
    rounds: list[Round] = []
    try:
        with database(args.db, workdir) as database_url:
            env = serve_env(
                database_url=database_url,
                master_key=base64.b64encode(os.urandom(32)).decode(),
                fake=cast(Any, FakeAt(fakes.info["slack"], fakes.info["token"])),
                secret=SECRET,
                BYOKBOT_LOG_LEVEL=args.log_level,
                **dict(item.split("=", 1) for item in args.serve_env),
            )
            serve = ServeProcess(env=env, cwd=workdir, startup_timeout=120).start()
            fakes.command("setup", url=serve.url, secret=SECRET)
            baseline, baseline_url = start_baseline(fakes, workdir)
            targets = [
                Target("byokbot", serve.process.pid, serve.url),
                Target("baseline", baseline.pid, baseline_url),
            ]
            if pin_targets is not None and pin_rest is not None:
                apply_pinning(
                    [t.pid for t in targets], [fakes.proc.pid], cpus=(pin_targets, pin_rest)
                )
            for t in targets:
                run_round(t, fakes, mode="keepalive", senders=10, events=args.warmup, pin=pin_rest)
                time.sleep(1.0)
                t.idle_rss = rss_mib(t.pid)
            print(
                f"bench/slack.py: {args.db}, {args.events} events a round, "
                f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
                f"{', pinned' if pin_targets is not None else ''}; "
                f"idle RSS byokbot {targets[0].idle_rss:.0f} MiB, "
                f"baseline {targets[1].idle_rss:.0f} MiB"
            )
            print(HEADER)
            rounds = run_matrix(targets, fakes, args, pin=pin_rest)
    except BaseException:
        log = workdir / "serve.log"
        if log.exists():
            print("last lines of serve.log:", *log.read_text().splitlines()[-20:], sep="\n")
        raise
    finally:
        if serve is not None:
            with contextlib.suppress(AssertionError):
                serve.stop()
        if baseline is not None:
            baseline.terminate()
            baseline.wait(15)
        fakes.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return summarize(rounds, args)


def run_matrix(
    targets: list[Target], fakes: Fakes, args: argparse.Namespace, *, pin: int | None
) -> list[Round]:
    """Every configuration, `--repeat` times, on each target (the order alternating)."""
    rounds: list[Round] = []
    flip = False
    for mode in args.modes:
        for senders in args.senders:
            for _ in range(args.repeat):
                for t in reversed(targets) if flip else targets:
                    profile = None
                    if args.profile is not None and t.name == "byokbot":
                        profile = args.profile.with_name(f"{args.profile.name}.{mode}.x{senders}")
                    r = run_round(
                        t,
                        fakes,
                        mode=mode,
                        senders=senders,
                        events=args.events,
                        pin=pin,
                        profile=profile,
                        gil=args.profile_gil,
                    )
                    if profile is not None and profile.exists():
                        shares = ", ".join(f"{p} {s:.0%}" for p, s in by_package(profile))
                        print(f"  byokbot samples by package (inclusive): {shares}", flush=True)
                    rounds.append(r)
                    print(row(r), flush=True)
                    for note in oddities(r):
                        print(note, flush=True)
                flip = not flip
    return rounds


def summarize(rounds: list[Round], args: argparse.Namespace) -> int:
    """Ratios per configuration, Web API calls per answer, and the targets."""
    print()
    print("byokbot / baseline (means over repeats)   CPU per answer   answered/s")
    configs = sorted({(r.mode, r.senders) for r in rounds}, key=lambda c: (c[0] != "keepalive", c))
    worst_cpu, worst_p99 = 0.0, 0.0
    for mode, senders in configs:

        def mean(target: str, attr: str, mode: str = mode, senders: int = senders) -> float:
            values = [
                getattr(r, attr)
                for r in rounds
                if (r.target, r.mode, r.senders) == (target, mode, senders)
            ]
            return float(statistics.mean(values))

        cpu_ratio = mean("byokbot", "cpu_ms_per_answer") / mean("baseline", "cpu_ms_per_answer")
        rate_ratio = mean("byokbot", "answered_per_s") / mean("baseline", "answered_per_s")
        print(f"  {mode:<9} x{senders:<3}{'':27}{cpu_ratio:>6.2f}x {rate_ratio:>12.2f}x")
        worst_cpu = max(worst_cpu, mean("byokbot", "cpu_ms_per_answer"))
    p99s = [pct(r.ack_ms, 0.99) for r in rounds if r.target == "byokbot" and r.senders >= 50]
    worst_p99 = max(p99s, default=0.0)
    for target in ("byokbot", "baseline"):
        mine = [r for r in rounds if r.target == target]
        answers = max(sum(r.answered for r in mine), 1)
        calls: dict[str, int] = {}
        for r in mine:
            for method, n in r.calls.items():
                calls[method] = calls.get(method, 0) + n
        shown = ", ".join(f"{m} {n / answers:.2f}" for m, n in sorted(calls.items()))
        print(f"Slack Web API calls per answer, {target}: {shown}")
    loadgen = max(r.loadgen_ms_per_event for r in rounds)
    print(f"load generator CPU per event: at most {loadgen:.2f} ms")
    cpu_goal = 2.5 if args.db == "sqlite" else 3.0
    met = worst_cpu <= cpu_goal and worst_p99 <= 100
    p99_text = f"worst {worst_p99:.1f}" if p99s else "not run"
    print(
        f"targets: byokbot CPU per answer <= {cpu_goal} ms (worst {worst_cpu:.2f}), "
        f"ack p99 <= 100 ms at 50 senders ({p99_text}): {'met' if met else 'NOT met'}"
    )
    broken = any(r.failures or r.answered < r.events for r in rounds)
    return 1 if broken or (args.strict and not met) else 0


if __name__ == "__main__":
    raise SystemExit(main())
