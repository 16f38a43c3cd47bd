"""Time in one vocabulary: the aware UTC clock, naive UTC for columns, a workspace's zone.

Code works with aware datetimes; every timestamp column holds naive UTC (the storage
side's `storage.models.naive_utcnow` is the column default). A naive datetime handed to
these helpers is taken as UTC, never as the machine's local time.
"""

from __future__ import annotations

import datetime as dt
import logging
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

logger = logging.getLogger(__name__)

UTC_ZONE = ZoneInfo("UTC")


def aware_utcnow() -> dt.datetime:
    """Now as an aware UTC datetime (the services' default clock)."""
    return dt.datetime.now(dt.UTC)


def as_aware_utc(moment: dt.datetime) -> dt.datetime:
    """`moment` as an aware UTC datetime (a naive one is taken as UTC)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def to_naive_utc(moment: dt.datetime) -> dt.datetime:
    """`moment` as the naive UTC every timestamp column holds (a naive one is kept)."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


def zone_or_utc(name: str | None) -> ZoneInfo:
    """The IANA zone `name`; UTC when it is empty or unknown."""
    if not name:
        return UTC_ZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        logger.warning("unknown workspace timezone %r, using UTC", name)
        return UTC_ZONE
