"""When a digest is due, who may post it, and what `force` and the lease change."""

from __future__ import annotations

import asyncio
import datetime as dt
import io

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from PIL import Image
from sqlalchemy.engine import Engine
from sqlmodel import select

from bot.digest.chart import PNG_SIGNATURE
from bot.digest.schedule import JOB_ID, post_digest, run_due_digests, schedule_digests
from bot.services import Services
from storage.engine import session_scope
from storage.models import DigestRun
from tests.digest.test_digest_support import (
    RecordingPoster,
    add_usage,
    add_workspace,
    local_utc,
    make_services,
)

PARIS = "Europe/Paris"
WS = "slack:T1"
USD = 10**12


class Clock:
    """A settable clock (aware UTC)."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def set_local(self, zone: str, *args: int) -> None:
        self.now = local_utc(zone, *args).replace(tzinfo=dt.UTC)


def setup(engine: Engine, *, poster: RecordingPoster | None = None) -> tuple[Services, Clock]:
    clock = Clock(local_utc(PARIS, 2026, 11, 27, 8, 59).replace(tzinfo=dt.UTC))
    services = make_services(engine, posters={"slack": poster or RecordingPoster()}, now=clock)
    return services, clock


def runs(engine: Engine) -> dict[tuple[str, str], DigestRun]:
    with session_scope(engine) as session:
        return {(run.workspace_id, run.day): run for run in session.exec(select(DigestRun)).all()}


def _status(engine: Engine, workspace_id: str, day: str) -> str | None:
    run = runs(engine).get((workspace_id, day))
    return run.status if run else None


async def test_posts_once_when_the_workspace_reaches_its_digest_time(engine: Engine) -> None:
    add_workspace(engine, WS, timezone=PARIS, name="Acme")
    add_usage(engine, WS, at=local_utc(PARIS, 2026, 11, 26, 10), cost_pusd=3 * USD)
    poster = RecordingPoster()
    services, clock = setup(engine, poster=poster)

    assert await run_due_digests(services) == 0  # 08:59 in Paris
    assert poster.posts == [] and runs(engine) == {}
    clock.set_local(PARIS, 2026, 11, 27, 9, 0)
    assert await run_due_digests(services) == 1
    assert await run_due_digests(services) == 0
    clock.set_local(PARIS, 2026, 11, 27, 23, 59)
    assert await run_due_digests(services) == 0

    [post] = poster.posts
    assert (post["workspace_id"], post["channel_id"]) == (WS, "C-digest")
    assert "*Spend $3.00*" in post["text"] and "Thursday 26 November 2026" in post["text"]
    name, png = post["file"]
    assert name == "digest-2026-11-26.png" and png.startswith(PNG_SIGNATURE)
    assert Image.open(io.BytesIO(png)).text["Days"].endswith("2026-11-26")  # type: ignore[attr-defined]
    run = runs(engine)[(WS, "2026-11-26")]
    assert run.status == "posted" and run.posted_at is not None

    clock.set_local(PARIS, 2026, 11, 28, 9, 30)
    assert await run_due_digests(services) == 1
    quiet = poster.posts[-1]  # no call on the 27th: one short line, no chart
    assert (
        quiet["file"] is None
        and quiet["text"] == "*AI usage — Acme*: no AI calls on Fri 27 Nov 2026."
    )


async def test_each_workspace_has_its_own_time_zone_and_channel(engine: Engine) -> None:
    add_workspace(engine, "slack:LA", timezone="America/Los_Angeles", at="07:30", channel="C-la")
    add_workspace(engine, "slack:TOKYO", timezone="Asia/Tokyo", at="18:00", channel="C-tk")
    add_usage(engine, "slack:LA", at=dt.datetime(2026, 11, 26, 20), cost_pusd=USD)
    add_usage(engine, "slack:TOKYO", at=dt.datetime(2026, 11, 26, 20), cost_pusd=2 * USD)
    poster = RecordingPoster()
    clock = Clock(dt.datetime(2026, 11, 27, 15, 29, tzinfo=dt.UTC))  # 07:29 PST, 00:29 JST
    services = make_services(engine, posters={"slack": poster}, now=clock)

    assert await run_due_digests(services) == 0  # 07:29 in LA, 00:29 (28th) in Tokyo
    clock.now = dt.datetime(2026, 11, 27, 15, 30, tzinfo=dt.UTC)  # 07:30 PST
    assert await run_due_digests(services) == 1
    [la] = poster.posts
    assert la["channel_id"] == "C-la" and la["file"][0] == "digest-2026-11-26.png"
    assert "*Spend $1.00*" in la["text"]  # 20:00 UTC on the 26th is 12:00 PST that day
    clock.now = dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.UTC)  # 18:00 JST on the 28th
    assert await run_due_digests(services) == 1
    tokyo = poster.posts[1]
    assert tokyo["channel_id"] == "C-tk" and tokyo["file"][0] == "digest-2026-11-27.png"
    assert "*Spend $2.00*" in tokyo["text"]  # 20:00 UTC on the 26th is 05:00 JST the 27th


async def test_workspaces_without_channel_disabled_or_without_poster_are_skipped(
    engine: Engine,
) -> None:
    add_workspace(engine, "slack:NOCHAN", channel=None)
    add_workspace(engine, "slack:EMPTY", channel="")
    add_workspace(engine, "slack:OFF", enabled=False)
    add_workspace(engine, "discord:1", platform="discord")  # no discord poster here
    add_workspace(engine, "slack:ON")
    poster = RecordingPoster()
    services = make_services(
        engine, posters={"slack": poster}, now=dt.datetime(2026, 11, 27, 12, tzinfo=dt.UTC)
    )

    assert await run_due_digests(services) == 1
    assert [p["workspace_id"] for p in poster.posts] == ["slack:ON"]
    assert set(runs(engine)) == {("slack:ON", "2026-11-26")}  # nothing else claimed
    no_channel = await post_digest(services, workspace_id="slack:NOCHAN", force=True)
    assert no_channel.status == "no_channel" and not no_channel.posted
    no_poster = await post_digest(services, workspace_id="discord:1")
    assert no_poster.status == "no_poster"
    assert (await post_digest(services, workspace_id="slack:OFF")).status == "disabled"
    assert (await post_digest(services, workspace_id="slack:NOPE")).status == "unknown_workspace"
    assert len(poster.posts) == 1 and set(runs(engine)) == {("slack:ON", "2026-11-26")}


async def test_force_posts_on_demand_without_consuming_the_day(engine: Engine) -> None:
    add_workspace(engine, WS, timezone=PARIS)
    add_workspace(engine, "slack:OFF", enabled=False)
    poster = RecordingPoster()
    services, clock = setup(engine, poster=poster)

    forced = await post_digest(services, workspace_id=WS, force=True)
    assert forced.posted and forced.day == dt.date(2026, 11, 26) and forced.channel_id == "C-digest"
    assert runs(engine) == {}
    clock.set_local(PARIS, 2026, 11, 27, 9, 1)
    assert await run_due_digests(services) == 1  # the daily digest still goes out
    again = await post_digest(services, workspace_id=WS, force=True)
    assert again.posted and len(poster.posts) == 3
    daily = await post_digest(services, workspace_id=WS)
    assert daily.status == "already_posted" and len(poster.posts) == 3
    older = await post_digest(services, workspace_id=WS, day=dt.date(2026, 11, 1), force=True)
    assert older.posted and "no AI calls on Sun 01 Nov 2026" in poster.posts[-1]["text"]
    assert (await post_digest(services, workspace_id="slack:OFF", force=True)).posted
    assert set(runs(engine)) == {(WS, "2026-11-26")}


async def test_a_crashed_claim_is_taken_over_after_the_lease_only(engine: Engine) -> None:
    add_workspace(engine, WS, timezone=PARIS)
    poster = RecordingPoster()
    services, clock = setup(engine, poster=poster)
    clock.set_local(PARIS, 2026, 11, 27, 9, 20)
    claimed_at = local_utc(PARIS, 2026, 11, 27, 9, 10, 1)  # 9 min 59 s ago
    with session_scope(engine) as session:
        session.add(
            DigestRun(workspace_id=WS, day="2026-11-26", claimed_by="dead:1", claimed_at=claimed_at)
        )

    assert await run_due_digests(services) == 0
    assert (await post_digest(services, workspace_id=WS)).status == "already_claimed"
    assert poster.posts == []
    clock.set_local(PARIS, 2026, 11, 27, 9, 20, 2)  # lease (10 min) is over
    assert await run_due_digests(services) == 1
    run = runs(engine)[(WS, "2026-11-26")]
    assert run.status == "posted" and run.claimed_by != "dead:1"
    assert run.claimed_at == clock.now.replace(tzinfo=None)
    assert await run_due_digests(services) == 0 and len(poster.posts) == 1


async def test_a_failed_post_is_recorded_and_retried_after_the_lease(engine: Engine) -> None:
    add_workspace(engine, WS, timezone=PARIS)
    poster = RecordingPoster(fail_with=ConnectionError("platform down"))
    services, clock = setup(engine, poster=poster)
    clock.set_local(PARIS, 2026, 11, 27, 9, 0)

    assert await run_due_digests(services) == 0
    assert runs(engine)[(WS, "2026-11-26")].status == "failed"
    poster.fail_with = None
    clock.set_local(PARIS, 2026, 11, 27, 9, 5)
    assert await run_due_digests(services) == 0  # not before the lease
    clock.set_local(PARIS, 2026, 11, 27, 9, 10, 1)
    assert await run_due_digests(services) == 1
    assert runs(engine)[(WS, "2026-11-26")].status == "posted"
    assert len(poster.posts) == 1


async def test_schedule_digests_runs_the_check_in_the_scheduler(engine: Engine) -> None:
    add_workspace(engine, WS)
    add_usage(engine, WS, at=dt.datetime(2026, 11, 26, 12), cost_pusd=USD)
    poster = RecordingPoster()
    services = make_services(
        engine, posters={"slack": poster}, now=dt.datetime(2026, 11, 27, 10, tzinfo=dt.UTC)
    )
    scheduler = AsyncIOScheduler(timezone=dt.UTC)
    schedule_digests(scheduler, services)
    scheduler.start()
    try:
        schedule_digests(scheduler, services)  # again: replaces the job, never duplicates it
        [job] = scheduler.get_jobs()
        assert job.id == JOB_ID
        assert job.trigger.interval == dt.timedelta(seconds=60)
        assert job.coalesce is True and job.max_instances == 1
        # Wait for the claim to be marked posted, not just for the post: the job marks the
        # run after the poster returns, and shutting the scheduler down in between cancels it.
        async with asyncio.timeout(90):  # generous: CI machines can be heavily loaded
            while _status(engine, WS, "2026-11-26") != "posted":
                await asyncio.sleep(0.1)
    finally:
        scheduler.shutdown(wait=False)
    assert [post["file"][0] for post in poster.posts] == ["digest-2026-11-26.png"]


async def test_a_forced_post_that_fails_reports_it_and_claims_nothing(engine: Engine) -> None:
    add_workspace(engine, WS, timezone=PARIS)
    poster = RecordingPoster(fail_with=ConnectionError("platform down"))
    services, clock = setup(engine, poster=poster)
    clock.set_local(PARIS, 2026, 11, 27, 9, 0)

    outcome = await post_digest(services, workspace_id=WS, force=True)
    assert outcome.status == "failed" and not outcome.posted
    assert runs(engine) == {}
    poster.fail_with = None
    assert await run_due_digests(services) == 1  # the day is still open for the daily digest
