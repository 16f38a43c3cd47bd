"""Discord mentions answered per second and CPU per answer, measured from outside.

    PYTHONPATH=. .venv/bin/python bench/discord.py [--quick] [--db sqlite|postgres]
        [--events 3000] [--senders 10,50] [--repeat 1] [--pin] [--profile PATH]

What runs where (every process on 127.0.0.1, nothing leaves loopback):
- this process: orchestration only; it reads /proc of the targets (CPU from
  utime+stime in /proc/<pid>/stat, RSS from VmRSS in /proc/<pid>/status, sampled every
  50 ms) and takes no part in the traffic;
- the fakes process (`bench/discordbench/fakes.py`): a fake Discord REST API + gateway
  (`tests/fakes/discord/`) per target, the zero-latency fake OpenAI-format provider,
  and the N simulated senders (`bench/discordbench/senders.py`): each pushes a
  MESSAGE_CREATE mentioning the bot in the bound channel through its target's gateway
  session, waits until the target's reply shows the whole answer at the fake REST API
  (a streamed reply's final edit, or a reply created whole), then sends its next one;
- the three targets, each its own process, each on its own fake Discord:
  byokbot = the real `byokbot serve` (DISCORD_BOT_TOKEN + BYOKBOT_DISCORD_API_URL; SQLite,
  or a fresh PostgreSQL database with `--db postgres` at BYOKBOT_TEST_POSTGRES_URL,
  dropped afterwards), with an agent bound to the channel through real app commands;
  baseline = `bench/discordbench/baseline.py`, the floor: a bare aiohttp gateway client
  that answers each mention with one create-message call (no discord.py, database,
  provider or streaming); dpy = `bench/discordbench/dpy.py`, discord.py alone configured
  as byokbot's client, answering with one `message.reply` (what of byokbot's cost is
  discord.py's, what is ours).

Per sender count (10 and 50), a round on each target, the order alternating. Per round:
answered/s (answers over the time from the first push to the last answer), e2e p50/p99
(push -> the call that finished the answer; closed loop, so answered/s ~ senders / e2e),
CPU ms per answered message of the target process, RSS peak (idle RSS is taken after a
warm-up), and "fakes ms", the fakes process's CPU per answer (the machine's other load).
The ratio byokbot/baseline of CPU per answer is the figure to drive down (issue 15 fixes
no Discord target); byokbot/dpy is the part of it that is ours. The exit status is 1 only
when messages went unanswered. Bounded: fixed counts, a stall limit; about 1¼ minutes by
default, 30 s with `--quick`.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.benchkit.cli import (  # noqa: E402
    add_round_options,
    apply_pinning,
    check_round_options,
    pin_cpus,
)
from bench.benchkit.procs import (  # noqa: E402
    Controlled,
    RssPeak,
    Target,
    cpu_seconds,
    database,
    pct,
    python_env,
    rss_mib,
    wait_until,
)
from bench.benchkit.pyspy import by_package, profiled  # noqa: E402
from bench.discordbench.senders import STALL_SECONDS  # noqa: E402
from tests.fakes.discord_driver import discord_env  # noqa: E402
from tests.kits.helpers import ServeProcess  # noqa: E402

FLOORS = ("baseline", "dpy")  # bench/discordbench/<name>.py, measured beside byokbot


@dataclass
class Round:
    """What one round on one target measured."""

    target: str
    senders: int
    events: int
    answered: int
    answered_per_s: float
    e2e_ms: list[float]
    cpu_ms_per_answer: float
    rss_peak: float
    fakes_ms_per_answer: float
    routes: dict[str, int]
    provider_calls: int
    stalled: bool


def run_round(
    target: Target,
    fakes: Controlled,
    *,
    senders: int,
    events: int,
    profile: Path | None = None,
) -> Round:
    """Have the fakes process send `events` mentions to `target`, and measure the target
    (sampled by py-spy into `profile`, if given)."""
    sampler = RssPeak(target.pid)
    sampler.start()
    cpu0 = cpu_seconds(target.pid)
    with profiled(target.pid, profile):
        result = fakes.command("round", target=target.name, senders=senders, events=events)
        time.sleep(0.5)  # work after the answer's last REST call (settlement) counts too
    cpu1 = cpu_seconds(target.pid)
    rss_peak = sampler.stop()
    answered = int(result["answered"])
    per = max(answered, 1)
    return Round(
        target=target.name,
        senders=senders,
        events=events,
        answered=answered,
        answered_per_s=answered / max(float(result["seconds"]), 1e-9),
        e2e_ms=[float(v) for v in result["e2e_ms"]],
        cpu_ms_per_answer=(cpu1 - cpu0) * 1000 / per,
        rss_peak=rss_peak,
        fakes_ms_per_answer=float(result["cpu"]) * 1000 / per,
        routes=result["routes"],
        provider_calls=int(result["provider_calls"]),
        stalled=bool(result["stalled"]),
    )


# -- output -----------------------------------------------------------------------------
HEADER = (
    f"{'snd':>3} {'target':<8} {'answered':>11} {'ans/s':>6} {'e2e p50':>7} {'e2e p99':>7} "
    f"{'CPU ms/ans':>10} {'RSS MiB':>7} {'fakes ms':>8}"
)


def row(r: Round) -> str:
    """One table line."""
    return (
        f"{r.senders:>3} {r.target:<8} {f'{r.answered}/{r.events}':>11} "
        f"{r.answered_per_s:>6.0f} {pct(r.e2e_ms, 0.5):>7.1f} {pct(r.e2e_ms, 0.99):>7.1f} "
        f"{r.cpu_ms_per_answer:>10.2f} {r.rss_peak:>7.0f} {r.fakes_ms_per_answer:>8.2f}"
    )


def oddities(r: Round) -> list[str]:
    """What in a round is not as it should be."""
    notes = []
    if r.answered < r.events:
        notes.append(f"{r.events - r.answered} messages got no answer")
    if r.stalled:
        notes.append(f"no answer for {STALL_SECONDS:.0f} s: the round stopped sending")
    if r.target == "byokbot" and r.provider_calls != r.answered:
        notes.append(f"{r.provider_calls} provider calls for {r.answered} answers")
    return [f"  ! {r.target} x{r.senders}: {note}" for note in notes]


def parse_args() -> argparse.Namespace:
    """Command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    add_round_options(
        parser,
        pin_help="targets on CPU 0, fakes and this process on CPU 1",
        profile_help="py-spy byokbot's rounds into PATH.x<senders> (collapsed stacks); "
        "print by package",
    )
    args = parser.parse_args()
    check_round_options(parser, args)
    return args


# -- set-up -----------------------------------------------------------------------------
def connected(fakes: Controlled, target: str) -> bool:
    """The target's gateway session at its fake Discord is live."""
    return bool(fakes.command("connected", target=target)["connected"])


def start_serve(
    fakes: Controlled, *, database_url: str, workdir: Path, log_level: str
) -> ServeProcess:
    """`byokbot serve` on its fake Discord, connected, with an agent bound to the channel."""
    at = SimpleNamespace(token=fakes.info["token"], base_url=fakes.info["discord"]["byokbot"])
    env = discord_env(
        database_url=database_url,
        master_key=base64.b64encode(os.urandom(32)).decode(),
        fake=cast(Any, at),
        BYOKBOT_LOG_LEVEL=log_level,
    )
    serve = ServeProcess(env=env, cwd=workdir, startup_timeout=120).start()
    wait_until(lambda: connected(fakes, "byokbot"), timeout=60, what="byokbot's gateway session")
    if log_level.upper() in ("DEBUG", "INFO"):  # on_ready (guilds cached) logs this line
        wait_until(
            lambda: "discord connected" in serve.log_text(), timeout=60, what="byokbot's on_ready"
        )
    else:
        time.sleep(5.0)  # discord.py waits ~2 s for guilds before it is ready
    fakes.command("setup")
    return serve


def start_client(fakes: Controlled, workdir: Path, *, name: str) -> subprocess.Popen[bytes]:
    """A floor (`bench/discordbench/<name>.py`) on its fake Discord, once its session is live."""
    env = python_env(
        {
            "DISCORD_BOT_TOKEN": fakes.info["token"],
            "BYOKBOT_DISCORD_API_URL": fakes.info["discord"][name],
        }
    )
    log = workdir / f"{name}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", f"bench.discordbench.{name}"],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    wait_until(
        lambda: proc.poll() is not None or connected(fakes, name),
        timeout=60,
        what=f"the {name} gateway session",
    )
    if proc.poll() is not None:
        raise SystemExit(log.read_text())
    return proc


def main() -> int:
    """Run every configuration on both targets and print the table."""
    args = parse_args()
    pin_targets, pin_rest = pin_cpus(pin=args.pin)
    workdir = Path(tempfile.mkdtemp(prefix="byokbot-bench-discord-"))
    fakes = Controlled("bench.discordbench.fakes")
    serve: ServeProcess | None = None
    floors: list[subprocess.Popen[bytes]] = []
    rounds: list[Round] = []
    try:
        with database(args.db, workdir, prefix="byok_bench_discord") as database_url:
            serve = start_serve(
                fakes, database_url=database_url, workdir=workdir, log_level=args.log_level
            )
            targets = [Target("byokbot", serve.process.pid)]
            for name in FLOORS:
                floors.append(start_client(fakes, workdir, name=name))
                targets.append(Target(name, floors[-1].pid))
            if pin_targets is not None and pin_rest is not None:
                apply_pinning(
                    [t.pid for t in targets], [fakes.proc.pid], cpus=(pin_targets, pin_rest)
                )
            for t in targets:
                run_round(t, fakes, senders=10, events=args.warmup)
                time.sleep(1.0)
                t.idle_rss = rss_mib(t.pid)
            idle = ", ".join(f"{t.name} {t.idle_rss:.0f}" for t in targets)
            print(
                f"bench/discord.py: {args.db}, {args.events} messages a round, "
                f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
                f"{', pinned' if pin_targets is not None else ''}; idle RSS MiB: {idle}"
            )
            print(HEADER)
            rounds = run_matrix(targets, fakes, args)
    except BaseException:
        log = workdir / "serve.log"
        if log.exists():
            print("last lines of serve.log:", *log.read_text().splitlines()[-20:], sep="\n")
        raise
    finally:
        if serve is not None:
            with contextlib.suppress(AssertionError):
                serve.stop()
        for floor in floors:
            floor.terminate()
            floor.wait(15)
        fakes.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return summarize(rounds)


def run_matrix(targets: list[Target], fakes: Controlled, args: argparse.Namespace) -> list[Round]:
    """Every sender count, `--repeat` times, on each target (the order alternating)."""
    rounds: list[Round] = []
    flip = False
    for senders in args.senders:
        for _ in range(args.repeat):
            for t in reversed(targets) if flip else targets:
                profile = None
                if args.profile is not None and t.name == "byokbot":
                    profile = args.profile.with_name(f"{args.profile.name}.x{senders}")
                r = run_round(t, fakes, senders=senders, events=args.events, profile=profile)
                if profile is not None and profile.exists():
                    shares = ", ".join(f"{p} {s:.0%}" for p, s in by_package(profile))
                    print(f"  byokbot x{senders} samples by package (inclusive): {shares}")
                rounds.append(r)
                print(row(r), flush=True)
                for note in oddities(r):
                    print(note, flush=True)
            flip = not flip
    return rounds


def summarize(rounds: list[Round]) -> int:
    """Ratios per sender count, and REST calls per answer."""
    print()
    print(f"{'means over repeats':<28} {'CPU per answer':>14} {'answered/s':>11} {'e2e p50':>8}")
    for senders in sorted({r.senders for r in rounds}):

        def mean(target: str, value: Callable[[Round], float], senders: int = senders) -> float:
            mine = [value(r) for r in rounds if (r.target, r.senders) == (target, senders)]
            return float(statistics.mean(mine)) if mine else float("nan")

        for floor in FLOORS:
            ratios = [
                mean("byokbot", value) / max(mean(floor, value), 1e-9)
                for value in (
                    lambda r: r.cpu_ms_per_answer,
                    lambda r: r.answered_per_s,
                    lambda r: pct(r.e2e_ms, 0.5),
                )
            ]
            label = f"x{senders} byokbot / {floor}"
            print(f"  {label:<26} {ratios[0]:>13.2f}x {ratios[1]:>10.2f}x {ratios[2]:>7.2f}x")
    for target in ("byokbot", *FLOORS):
        mine = [r for r in rounds if r.target == target]
        answers = max(sum(r.answered for r in mine), 1)
        routes: dict[str, int] = {}
        for r in mine:
            for route, n in r.routes.items():
                routes[route] = routes.get(route, 0) + n
        shown = ", ".join(f"{m} {n / answers:.2f}" for m, n in sorted(routes.items()))
        print(f"Discord REST calls per answer, {target}: {shown}")
    broken = any(r.answered < r.events for r in rounds)
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
