"""`/byok digest channel|at|now|off`: workspace settings, and an on-demand digest."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from storage.models import Workspace
from tests.commands_kit import Bot, audit_rows, make_services
from tests.test_digest_support import RecordingPoster


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
    posted = await bot.run("digest now")
    assert posted.last == "digest of 2026-11-26 posted in #ops."
    [post] = poster.posts
    assert (post["workspace_id"], post["channel_id"]) == ("console", "ops")
    assert "26 November 2026" in post["text"]
    assert audit_rows(engine)[-1].action == "digest.now"
    assert audit_rows(engine)[-1].outcome == "posted"
