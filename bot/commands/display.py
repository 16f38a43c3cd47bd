"""Reply formatting shared by the handlers: counts, local times (dollars: `bot.money`)."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from bot.clock import as_aware_utc


def count(value: int) -> str:
    """`1,234`."""
    return f"{value:,}"


def local_time(naive_utc: dt.datetime | None, tz: zoneinfo.ZoneInfo) -> str:
    """A stored naive-UTC timestamp in the workspace's timezone: `2026-11-27 10:03 CET`."""
    if naive_utc is None:
        return "never"
    return as_aware_utc(naive_utc).astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def plural(value: int, word: str) -> str:
    """`1 agent`, `2 agents`."""
    return f"{value:,} {word}{'' if value == 1 else 's'}"
