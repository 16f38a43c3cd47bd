"""The exactly-once claim protocol of the daily digest, on top of `digest_runs`.

Exactly-once rests on the database, not on any one process: the first INSERT of the
(workspace, day) row wins. A claim whose process died stays `claimed`; after `LEASE` one
replica takes it over with a conditional UPDATE. A post that failed is marked `failed` and
retried after the lease too, until the day is no longer "yesterday".
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from typing import TypeVar

from sqlmodel import Session

from bot.clock import as_aware_utc, to_naive_utc, zone_or_utc
from bot.digest.report import yesterday_in
from bot.errors import DatabaseUnavailable
from bot.services import Services
from storage.digest import (
    CLAIMED,
    FAILED,
    claim_digest,
    digest_runs_for,
    digest_workspaces,
    finish_digest,
    reclaim_digest,
    skip_digest,
)
from storage.models import DigestRun, Workspace

logger = logging.getLogger(__name__)

LEASE = dt.timedelta(minutes=10)  # a claim older than this with no result is taken over
# Marking a posted digest is retried for a while: if the mark is lost, another replica
# would re-post after the lease. Half the lease leaves room before that can happen.
MARK_RETRY_SECONDS = LEASE.total_seconds() / 2
DEFAULT_TIME = dt.time(9, 0)
T = TypeVar("T")


def due_digests(
    session: Session, *, now: dt.datetime, platforms: set[str]
) -> list[tuple[str, dt.date]]:
    """(workspace, day) pairs whose digest time has passed today and whose claim is open."""
    candidates: list[tuple[str, dt.date]] = []
    for workspace in digest_workspaces(session):
        if workspace.platform not in platforms:
            continue
        local = now.astimezone(zone_or_utc(workspace.timezone))
        if local.time() >= _digest_time(workspace.digest_time):
            candidates.append((workspace.id, local.date() - dt.timedelta(days=1)))
    runs = digest_runs_for(
        session,
        workspace_ids={ws for ws, _ in candidates},
        days={day.isoformat() for _, day in candidates},
    )
    return [
        (ws, day)
        for ws, day in candidates
        if (run := runs.get((ws, day.isoformat()))) is None or claimable(run, now=now)
    ]


def skip_ended_days(session: Session, *, workspace: Workspace, now: dt.datetime) -> None:
    """Turning the digest on never posts a day that already ended: mark yesterday skipped.

    Only yesterday can be due (see `due_digests`), so marking it is enough; a day already
    claimed or posted is left alone.
    """
    day = yesterday_in(zone_or_utc(workspace.timezone), as_aware_utc(now))
    skip_digest(session, workspace_id=workspace.id, day=day.isoformat(), now=to_naive_utc(now))


def claimable(run: DigestRun, *, now: dt.datetime) -> bool:
    """True when the day's claim may be (re)taken: it failed or went stale past the lease."""
    return run.status in (CLAIMED, FAILED) and run.claimed_at < to_naive_utc(now) - LEASE


def claim(
    session: Session, *, workspace_id: str, day: dt.date, claimant: str, now: dt.datetime
) -> bool:
    """Claim the day for `claimant`: a fresh INSERT, or the take-over of a stale claim."""
    stamp = to_naive_utc(now)
    key = {"workspace_id": workspace_id, "day": day.isoformat(), "claimed_by": claimant}
    return claim_digest(session, now=stamp, **key) or reclaim_digest(
        session, now=stamp, stale_before=stamp - LEASE, **key
    )


async def finish(
    services: Services, *, workspace_id: str, day: dt.date, claimant: str, status: str
) -> None:
    """Record the result of our claim, retrying through a short database outage."""
    deadline = time.monotonic() + MARK_RETRY_SECONDS
    delay = 0.5
    while True:
        try:
            done = await run_db(
                services,
                lambda s: finish_digest(
                    s,
                    workspace_id=workspace_id,
                    day=day.isoformat(),
                    claimed_by=claimant,
                    status=status,
                    now=to_naive_utc(services.clock()),
                ),
            )
        except DatabaseUnavailable:
            if time.monotonic() + delay > deadline:
                logger.error(
                    "digest of %s for %s not marked %s: database unavailable",
                    day,
                    workspace_id,
                    status,
                )
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 15.0)
            continue
        if not done:
            logger.warning(
                "digest claim of %s for %s was taken over before it was marked", day, workspace_id
            )
        return


async def run_db(services: Services, work: Callable[[Session], T]) -> T:
    """Run `work` in one transaction on a worker thread; outages become DatabaseUnavailable."""

    return await services.db.session(work)


def _digest_time(text: str) -> dt.time:
    try:
        hours, minutes = text.split(":")
        return dt.time(int(hours), int(minutes))
    except ValueError:
        logger.warning("invalid digest time %r, using %s", text, DEFAULT_TIME)
        return DEFAULT_TIME


def new_claimant() -> str:
    """Unique per attempt, so a replica can only ever finish the claim it made itself."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
