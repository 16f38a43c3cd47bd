"""The daily digest: post it (once per workspace and day, or on demand) and schedule the check.

The report is read *before* claiming, so a database outage never leaves a claim behind that
nothing will post; the claim itself is `bot.digest.claim`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from bot.clock import as_aware_utc, zone_or_utc
from bot.digest.chart import render_spend_chart
from bot.digest.claim import (
    claim,
    claimable,
    due_digests,
    finish,
    new_claimant,
    run_db,
)
from bot.digest.report import DigestReport, build_report, yesterday_in
from bot.digest.text import render_text
from bot.errors import DatabaseUnavailable
from bot.services import Services
from storage.digest import FAILED, POSTED, SKIPPED, digest_runs_for, get_workspace

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

logger = logging.getLogger(__name__)

CHECK_INTERVAL_SECONDS = 60
JOB_ID = "byokbot.digests"

DigestStatus = Literal[
    "posted",
    "failed",
    "already_posted",
    "already_claimed",
    "skipped",
    "no_channel",
    "disabled",
    "no_poster",
    "unknown_workspace",
]


@dataclass(frozen=True, slots=True)
class DigestOutcome:
    """What became of one digest request: posted, or why not."""

    workspace_id: str
    day: dt.date
    status: DigestStatus
    channel_id: str | None = None

    @property
    def posted(self) -> bool:
        """True when the digest went out to the channel."""
        return self.status == "posted"


async def post_digest(
    services: Services,
    *,
    workspace_id: str,
    day: dt.date | None = None,
    force: bool = False,
) -> DigestOutcome:
    """Post the digest of `day` (default: yesterday, workspace time) to the digest channel.

    The digest of the workspace's current day covers it up to now ("today so far").

    Without `force` this is the daily digest and posts only if this call wins the day's
    claim; with `force` (`/byok digest now`) it posts regardless and leaves the claim alone.
    Raises `DatabaseUnavailable` when the database cannot be reached before posting.
    """
    now = as_aware_utc(services.clock())
    workspace = await run_db(services, lambda s: get_workspace(s, workspace_id=workspace_id))
    if workspace is None:
        fallback = now.date() - dt.timedelta(days=1)
        return DigestOutcome(workspace_id, day or fallback, "unknown_workspace")
    day = day or yesterday_in(zone_or_utc(workspace.timezone), now)
    channel = workspace.digest_channel or None
    if channel is None:
        return DigestOutcome(workspace_id, day, "no_channel")
    if not force and not workspace.digest_enabled:
        return DigestOutcome(workspace_id, day, "disabled", channel)
    poster = services.posters.get(workspace.platform)
    if poster is None:
        logger.debug("no poster for platform %s; digest of %s not posted", workspace.platform, day)
        return DigestOutcome(workspace_id, day, "no_poster", channel)
    if not force:
        runs = await run_db(
            services,
            lambda s: digest_runs_for(s, workspace_ids=[workspace_id], days=[day.isoformat()]),
        )
        run = runs.get((workspace_id, day.isoformat()))
        if run is not None and not claimable(run, now=now):
            status: DigestStatus = (
                "already_posted"
                if run.status == POSTED
                else "skipped"
                if run.status == SKIPPED
                else "already_claimed"
            )
            return DigestOutcome(workspace_id, day, status, channel)
    report = await run_db(
        services, lambda s: build_report(s, workspace=workspace, day=day, now=now)
    )
    claimant = new_claimant()
    if not force and not await run_db(
        services,
        lambda s: claim(s, workspace_id=workspace_id, day=day, claimant=claimant, now=now),
    ):
        return DigestOutcome(workspace_id, day, "already_claimed", channel)
    chart = None if report.quiet else await _chart(report)
    try:
        await poster.post(
            workspace_id=workspace_id,
            channel_id=channel,
            text=render_text(report, chart_attached=chart is not None),
            file=(f"digest-{day.isoformat()}.png", chart) if chart is not None else None,
        )
    except Exception as exc:  # any platform failure: record it, never crash the scheduler
        logger.warning(
            "digest of %s for %s could not be posted: %s", day, workspace_id, type(exc).__name__
        )
        if not force:
            await finish(
                services, workspace_id=workspace_id, day=day, claimant=claimant, status=FAILED
            )
        return DigestOutcome(workspace_id, day, "failed", channel)
    logger.info("digest of %s posted for %s (forced=%s)", day, workspace_id, force)
    if not force:
        await finish(services, workspace_id=workspace_id, day=day, claimant=claimant, status=POSTED)
    return DigestOutcome(workspace_id, day, "posted", channel)


async def run_due_digests(services: Services) -> int:
    """Post every daily digest that is due and unclaimed; return how many this process posted.

    Never raises: a database outage or a platform failure is logged and retried next time.
    """
    now = as_aware_utc(services.clock())
    platforms = set(services.posters)
    try:
        due = await run_db(services, lambda s: due_digests(s, now=now, platforms=platforms))
    except DatabaseUnavailable:
        logger.warning("digest check skipped: database unavailable")
        return 0
    except Exception:
        logger.exception("digest check failed")
        return 0
    posted = 0
    for workspace_id, day in due:
        try:
            outcome = await post_digest(services, workspace_id=workspace_id, day=day)
        except DatabaseUnavailable:
            logger.warning("digest run stopped: database unavailable")
            break
        except Exception:
            logger.exception("digest of %s for %s failed", day, workspace_id)
            continue
        posted += outcome.posted
    return posted


def schedule_digests(scheduler: AsyncIOScheduler, services: Services) -> None:
    """Check for due digests every minute (coalesced, one run at a time, first run soon)."""
    scheduler.add_job(
        run_due_digests,
        trigger="interval",
        seconds=CHECK_INTERVAL_SECONDS,
        args=(services,),
        id=JOB_ID,
        name="daily digests",
        replace_existing=True,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=CHECK_INTERVAL_SECONDS,
        # A replica started after digest time should not wait a whole interval.
        next_run_time=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5),
    )


async def _chart(report: DigestReport) -> bytes | None:
    """The PNG, or None if drawing failed (the text digest still goes out)."""
    title = f"{report.workspace_name}: AI spend per agent, last 14 days"
    try:
        return await asyncio.to_thread(
            render_spend_chart,
            days=report.chart_days,
            spend=report.chart_spend,
            title=title,
            highlight=report.day,
            daily_limit=report.daily_limit,
        )
    except Exception:
        logger.exception("digest chart for %s could not be drawn", report.workspace_id)
        return None
