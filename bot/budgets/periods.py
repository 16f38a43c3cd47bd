"""Budget periods in the workspace's timezone: their keys, starts and resets."""

from __future__ import annotations

import datetime as dt

from bot.clock import zone_or_utc

_ADJECTIVE = {"day": "daily", "month": "monthly"}


def adjective(period: str) -> str:
    """`daily` / `monthly`."""
    return _ADJECTIVE.get(period, period)


def period_window(period: str, *, now: dt.datetime, tz: str) -> tuple[str, dt.datetime]:
    """The period key (`2026-11-27` or `2026-11`) holding `now` and when it resets (aware, tz)."""
    zone = zone_or_utc(tz)
    local = now.astimezone(zone)
    if period == "day":
        start = local.date()
        nxt = start + dt.timedelta(days=1)
        key = start.isoformat()
    elif period == "month":
        start = local.date().replace(day=1)
        nxt = (start + dt.timedelta(days=32)).replace(day=1)
        key = f"{start.year:04d}-{start.month:02d}"
    else:
        raise ValueError(f"unknown budget period {period!r}")
    resets = dt.datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone)
    return key, resets


def period_start_utc(period: str, *, now: dt.datetime, tz: str) -> dt.datetime:
    """When the period holding `now` began, as naive UTC (the usage table's convention)."""
    zone = zone_or_utc(tz)
    local = now.astimezone(zone).date()
    first = local if period == "day" else local.replace(day=1)
    start = dt.datetime(first.year, first.month, first.day, tzinfo=zone)
    return start.astimezone(dt.UTC).replace(tzinfo=None)


def format_reset(resets_at: dt.datetime) -> str:
    """`2026-11-28 00:00 Europe/Berlin` for messages."""
    return f"{resets_at:%Y-%m-%d %H:%M} {resets_at.tzname() if resets_at.tzinfo else 'UTC'}"
