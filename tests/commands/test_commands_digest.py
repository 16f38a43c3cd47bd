"""`/byok digest channel|at|now|off`: workspace settings, and an on-demand digest."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.digest.schedule import run_due_digests
from storage.models import Workspace
from tests.digest.test_digest_support import RecordingPoster, add_usage
from tests.kits.commands_kit import Bot, audit_rows, make_services

USD = 10**12


@pytest.fixture
async def bot(engine: Engine, master_key: str) -> AsyncIterator[Bot]:
    services = make_services(engine, master_key=master_key)
    services.clock = lambda: dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)
    yield Bot(services)
    await services.providers.aclose()


def _workspace(engine: Engine) -> Workspace:
    with Session(engine) as session:
        workspace = session.get(Workspace, "console")
        assert workspace is not None
        return workspace


async def test_channel_at_off(bot: Bot, engine: Engine) -> None:
    sink = await bot.run("digest channel #ops")
    assert sink.last == "the daily digest and budget alerts go to #ops, daily at 09:00 (UTC)."
    assert (_workspace(engine).digest_channel, _workspace(engine).digest_enabled) == ("ops", True)
    at = await bot.run("digest at 7:30 america/new_york")
    assert "daily at 07:30 (America/New_York)" in at.last and "limits now follow" in at.last
    workspace = _workspace(engine)
    assert (workspace.digest_time, workspace.timezone) == ("07:30", "America/New_York")
    again = await bot.run("digest at 08:00")
    assert (
        "limits now follow" not in again.last and _workspace(engine).timezone == "America/New_York"
    )
    off = await bot.run("digest off")
    assert "is off" in off.last and not _workspace(engine).digest_enabled
    here = await bot.run("digest channel", channel="finance")
    assert "#finance" in here.last and _workspace(engine).digest_enabled
    assert "name a #channel" in (await bot.run("digest channel", direct=True)).last
    actions = [(a.action, a.outcome) for a in audit_rows(engine)]
    assert actions == [
        ("digest.channel", "ok"),
        ("digest.at", "ok"),
        ("digest.at", "ok"),
        ("digest.off", "ok"),
        ("digest.channel", "ok"),
        ("digest.channel", "error"),
    ]


async def test_digest_at_without_a_channel_says_so(bot: Bot) -> None:
    sink = await bot.run("digest at 09:15")
    assert "No digest channel yet" in sink.last


async def test_digest_now(bot: Bot, engine: Engine) -> None:
    none = await bot.run("digest now")
    assert "no digest channel yet" in none.last
    poster = RecordingPoster()
    bot.services.posters["console"] = poster
    await bot.run("digest channel #ops")
    await bot.run("digest off")  # on demand still posts
    # A call made a minute ago (clock: 2026-11-27 10:00 UTC) is in "today so far".
    add_usage(engine, "console", at=dt.datetime(2026, 11, 27, 9, 59), cost_pusd=2 * USD)
    add_usage(engine, "console", at=dt.datetime(2026, 11, 26, 12), cost_pusd=USD // 4)
    add_usage(engine, "console", at=dt.datetime(2026, 11, 20, 12), cost_pusd=USD // 2)

    posted = await bot.run("digest now")
    assert posted.last == "digest of today so far (2026-11-27) posted in #ops."
    today = poster.posts[-1]
    assert (today["workspace_id"], today["channel_id"]) == ("console", "ops")
    assert "*AI usage today so far — console*" in today["text"]
    assert "Friday 27 November 2026, until 10:00 (UTC)" in today["text"]
    assert "*Spend $2.00* · 1 request" in today["text"]
    assert today["file"][0] == "digest-2026-11-27.png"
    assert (await bot.run("digest now TODAY")).last.startswith("digest of today so far")

    yesterday = await bot.run("digest now yesterday")
    assert yesterday.last == "digest of 2026-11-26 posted in #ops."
    assert "Thursday 26 November 2026 (UTC)" in poster.posts[-1]["text"]
    assert "*Spend $0.25* · 1 request" in poster.posts[-1]["text"]

    day = await bot.run("digest now 2026-11-20")
    assert day.last == "digest of 2026-11-20 posted in #ops."
    assert "*Spend $0.50*" in poster.posts[-1]["text"]
    assert poster.posts[-1]["file"][0] == "digest-2026-11-20.png"
    quiet = await bot.run("digest now 2026-11-21")
    assert quiet.last == "digest of 2026-11-21 posted in #ops."
    assert poster.posts[-1]["text"] == "*AI usage — console*: no AI calls on Sat 21 Nov 2026."
    assert poster.posts[-1]["file"] is None
    assert len(poster.posts) == 5

    for bad in ("digest now tomorow", "digest now 2026-02-30", "digest now today yesterday"):
        refused = await bot.run(bad)
        assert "usage: /byok digest now [today|yesterday|YYYY-MM-DD]" in refused.last, bad
    future = await bot.run("digest now 2026-11-28")
    assert future.last == "2026-11-28 has not started yet (UTC); try today or an earlier day."
    assert len(poster.posts) == 5
    audited = [(a.action, a.target, a.outcome) for a in audit_rows(engine)]
    assert audited[-6:] == [
        ("digest.now", "2026-11-27", "posted"),
        ("digest.now", "2026-11-27", "posted"),
        ("digest.now", "2026-11-26", "posted"),
        ("digest.now", "2026-11-20", "posted"),
        ("digest.now", "2026-11-21", "posted"),
        ("digest.now", "", "error"),
    ]


async def test_setting_the_channel_posts_no_catch_up(bot: Bot, engine: Engine) -> None:
    """Days that ended before `digest channel` never get a digest; the next day does."""
    poster = RecordingPoster()
    bot.services.posters["console"] = poster
    await bot.run("digest at 09:00")  # creates the workspace; no channel yet
    add_usage(engine, "console", at=dt.datetime(2026, 11, 26, 12), cost_pusd=USD)
    await bot.run("digest channel #ops")  # 10:00 UTC: the 26th's digest is due right now

    assert await run_due_digests(bot.services) == 0  # the scheduler's next check
    assert poster.posts == []
    bot.services.clock = lambda: dt.datetime(2026, 11, 27, 23, 59, tzinfo=dt.UTC)
    assert await run_due_digests(bot.services) == 0 and poster.posts == []
    # The 27th did not end before the channel was set: its digest goes out on the 28th.
    add_usage(engine, "console", at=dt.datetime(2026, 11, 27, 12), cost_pusd=USD)
    bot.services.clock = lambda: dt.datetime(2026, 11, 28, 9, 1, tzinfo=dt.UTC)
    assert await run_due_digests(bot.services) == 1
    assert "Friday 27 November 2026" in poster.posts[0]["text"]

    # Re-setting an active channel (even to another one) keeps the due digest.
    add_usage(engine, "console", at=dt.datetime(2026, 11, 28, 12), cost_pusd=USD)
    bot.services.clock = lambda: dt.datetime(2026, 11, 29, 8, 0, tzinfo=dt.UTC)
    await bot.run("digest channel #finance")
    bot.services.clock = lambda: dt.datetime(2026, 11, 29, 9, 0, tzinfo=dt.UTC)
    assert await run_due_digests(bot.services) == 1
    assert poster.posts[-1]["channel_id"] == "finance"
    # Off, then on again: the day that ended meanwhile is not caught up on.
    await bot.run("digest off")
    add_usage(engine, "console", at=dt.datetime(2026, 11, 29, 12), cost_pusd=USD)
    bot.services.clock = lambda: dt.datetime(2026, 11, 30, 9, 30, tzinfo=dt.UTC)
    await bot.run("digest channel #finance")
    assert await run_due_digests(bot.services) == 0 and len(poster.posts) == 2
