"""The round options bench/slack.py and bench/discord.py share, and the CPU pinning."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable
from pathlib import Path


def add_round_options(parser: argparse.ArgumentParser, *, pin_help: str, profile_help: str) -> None:
    """--events, --senders, --repeat, --db, --quick, --warmup, --log-level, --pin, --profile."""
    parser.add_argument("--events", type=int, default=None, help="per round (default 3000)")
    parser.add_argument("--senders", default="10,50", help="comma-separated sender counts")
    parser.add_argument("--repeat", type=int, default=1, help="rounds per configuration")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--quick", action="store_true", help="500 events a round")
    parser.add_argument("--warmup", type=int, default=200, help="events before measuring")
    parser.add_argument("--log-level", default="INFO", help="byokbot's BYOKBOT_LOG_LEVEL")
    parser.add_argument("--pin", action="store_true", help=pin_help)
    parser.add_argument("--profile", type=Path, default=None, help=profile_help)


def check_round_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Fill in --events from --quick, check the ranges and split --senders into counts."""
    if args.events is None:
        args.events = 500 if args.quick else 3000
    if not 0 < args.events < 100_000 or not 0 < args.repeat <= 10:
        parser.error("--events must be 1..99999 and --repeat 1..10")
    try:
        args.senders = [int(s) for s in args.senders.split(",")]
    except ValueError:
        args.senders = []
    if not args.senders or not all(0 < s <= 200 for s in args.senders):
        parser.error("--senders takes counts 1..200")


def pin_cpus(*, pin: bool) -> tuple[int | None, int | None]:
    """With --pin on a machine of several CPUs: (the targets' CPU, the rest's); else Nones."""
    cpus = os.sched_getaffinity(0)
    if pin and len(cpus) > 1:
        return 0, max(cpus - {0})
    return None, None


def apply_pinning(targets: Iterable[int], rest: Iterable[int], *, cpus: tuple[int, int]) -> None:
    """Targets' processes on the first CPU; the fakes, the load and this process on the second."""
    for pid in targets:
        os.sched_setaffinity(pid, {cpus[0]})
    for pid in (*rest, 0):
        os.sched_setaffinity(pid, {cpus[1]})
