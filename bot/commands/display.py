"""Reply formatting shared by the handlers: exact dollars, counts, local times."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal

from bot.money import from_pico


def usd_amount(amount: Decimal) -> str:
    """Dollars with every significant decimal (at least 2): `$0.0000001`, `$1,234.50`."""
    exponent = amount.normalize().as_tuple().exponent
    places = max(2, -exponent) if isinstance(exponent, int) else 2
    # Fixed-point on purpose: money.format_usd renders amounts below 1e-6 as "$1E-7".
    return f"${amount:,.{places}f}"


def exact_usd(pico: int) -> str:
    """Whole pico-dollars shown exactly."""
    return usd_amount(from_pico(pico))


def count(value: int) -> str:
    """`1,234`."""
    return f"{value:,}"


def local_time(naive_utc: dt.datetime | None, tz: zoneinfo.ZoneInfo) -> str:
    """A stored naive-UTC timestamp in the workspace's timezone: `2026-11-27 10:03 CET`."""
    if naive_utc is None:
        return "never"
    aware = naive_utc.replace(tzinfo=dt.UTC) if naive_utc.tzinfo is None else naive_utc
    return aware.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def plural(value: int, word: str) -> str:
    """`1 agent`, `2 agents`."""
    return f"{value:,} {word}{'' if value == 1 else 's'}"
