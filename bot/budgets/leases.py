"""Reservation leases: how long a call's reservation holds, and the sweep of expired ones.

Every reservation is a lease (`budget_leases`, see storage/budgets.py). A process that
dies mid-call never settles it, so it expires and is released by whichever replica
comes first: a reservation about to be refused sweeps its counter's expired leases and
asks again (bot/budgets/reservations.py), and `serve` sweeps every counter every
`SWEEP_INTERVAL_SECONDS`. Either way the DELETE of the lease row decides, so an amount
is released exactly once, and a slow call settling after its lease was swept is
charged its cost without being taken back from reserved a second time. A lease whose
call already recorded its cost on it (the first step of a settlement in two,
storage/counters.py) is charged that cost by its sweep, once.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from bot.clock import to_naive_utc
from bot.errors import DatabaseUnavailable
from bot.services import Services
from storage import leases as store

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

logger = logging.getLogger(__name__)

CALL_DEADLINE_SECONDS = 120  # a provider call's total deadline (SPEC; bot.providers)
SWEEP_INTERVAL_SECONDS = 15
# SPEC: a crashed process's reservation is released within the call deadline plus one
# minute. The lease ends one sweep interval earlier, so the periodic sweep has released
# it by then too; a live call still gets 45 s past its deadline to settle.
LEASE = dt.timedelta(seconds=CALL_DEADLINE_SECONDS + 60 - SWEEP_INTERVAL_SECONDS)
JOB_ID = "byokbot.lease-sweep"


def sweep_expired(engine: Engine, *, now: dt.datetime) -> int:
    """Release every lease expired by `now`, one counter per transaction; how many counters."""
    at = to_naive_utc(now)
    with engine.connect() as conn:
        counters = store.expired_counters(conn, now=at)
    released = 0
    for budget_id, period_start, member in counters:
        with engine.begin() as conn:
            if store.sweep_counter(
                conn, budget_id=budget_id, period_start=period_start, now=at, member=member
            ):
                released += 1
    return released


async def run_sweep(services: Services) -> int:
    """The scheduler's job: sweep off the loop; an outage is logged and retried next time."""
    now = services.clock()
    try:
        released = await services.db.call(lambda: sweep_expired(services.engine, now=now))
    except DatabaseUnavailable:
        logger.warning("lease sweep skipped: the database is unavailable")
        return 0
    if released:
        logger.info("released expired reservations on %d budget counter(s)", released)
    return released


def schedule_lease_sweeps(scheduler: AsyncIOScheduler, services: Services) -> None:
    """Sweep expired leases every `SWEEP_INTERVAL_SECONDS` (coalesced, one run at a time)."""
    scheduler.add_job(
        run_sweep,
        trigger="interval",
        seconds=SWEEP_INTERVAL_SECONDS,
        args=(services,),
        id=JOB_ID,
        name="expired reservation leases",
        replace_existing=True,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=SWEEP_INTERVAL_SECONDS,
    )
