"""A database outage during a digest run: no crash, no claim left behind, recovery by itself.

The outages are real: a TCP proxy in front of PostgreSQL that drops every connection and
refuses new ones, and the server terminating the backend that is in the middle of the claim.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import select

from bot.digest.schedule import post_digest, run_due_digests
from bot.errors import DatabaseUnavailable
from storage.engine import make_engine, session_scope
from storage.models import DigestRun
from tests.digest.test_digest_support import (
    RecordingPoster,
    add_usage,
    add_workspace,
    engine_on,
    make_services,
)
from tests.kits.logcapture import LogCapture
from tests.kits.tcpproxy import TcpProxy

NOW = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)
WS = "slack:T1"


@pytest.fixture
def proxied(pg_url: str) -> Iterator[tuple[str, TcpProxy]]:
    """(URL through the proxy, proxy) for a fresh PostgreSQL database."""
    url = make_url(pg_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    try:
        yield url.set(host="127.0.0.1", port=proxy.port).render_as_string(False), proxy
    finally:
        proxy.close()


def claims(url: str) -> list[DigestRun]:
    with engine_on(url) as engine, session_scope(engine) as session:
        return list(session.exec(select(DigestRun)).all())


async def test_database_down_then_back(
    pg_url: str, proxied: tuple[str, TcpProxy], log_capture: LogCapture
) -> None:
    proxy_url, proxy = proxied
    with engine_on(pg_url) as direct:
        add_workspace(direct, WS)
        add_usage(direct, WS, at=dt.datetime(2026, 11, 26, 12), cost_pusd=10**12)
    poster = RecordingPoster()
    engine = make_engine(proxy_url)
    services = make_services(engine, posters={"slack": poster}, now=NOW)
    try:
        proxy.cut()
        assert await run_due_digests(services) == 0
        assert "digest check skipped: database unavailable" in log_capture.text
        with pytest.raises(DatabaseUnavailable):
            await post_digest(services, workspace_id=WS, force=True)
        assert poster.posts == [] and claims(pg_url) == []

        proxy.restore()
        assert await run_due_digests(services) == 1
        assert [run.status for run in claims(pg_url)] == ["posted"]
    finally:
        engine.dispose()


async def test_outage_in_the_middle_of_the_claim_leaves_no_claim(pg_url: str) -> None:
    with engine_on(pg_url) as direct:
        add_workspace(direct, WS)
        poster = RecordingPoster()
        engine = make_engine(pg_url)
        services = make_services(engine, posters={"slack": poster}, now=NOW)
        database = make_url(pg_url).database
        try:
            with direct.connect() as locker:
                # Readers pass, writers wait: the run gets as far as its claim INSERT and hangs.
                locker.execute(text("LOCK TABLE digest_runs IN EXCLUSIVE MODE"))
                task = asyncio.create_task(run_due_digests(services))
                pid = await wait_for_blocked_insert(direct, database)
                with direct.connect() as admin:
                    admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                    admin.commit()
                assert await asyncio.wait_for(task, 30) == 0
                locker.rollback()
            assert claims(pg_url) == [] and poster.posts == []

            assert await run_due_digests(services) == 1  # recovers by itself
            assert [run.status for run in claims(pg_url)] == ["posted"]
        finally:
            engine.dispose()


async def wait_for_blocked_insert(direct: Engine, database: str | None) -> int:
    """The pid of the backend waiting on a lock with an INSERT into digest_runs."""
    query = text(
        "SELECT pid FROM pg_stat_activity WHERE datname = :db AND wait_event_type = 'Lock'"
        " AND query ILIKE 'INSERT INTO digest_runs%'"
    )

    def find() -> int | None:
        with direct.connect() as conn:
            found = conn.execute(query, {"db": database}).scalar()
            return None if found is None else int(found)

    async with asyncio.timeout(30):
        while (pid := await asyncio.to_thread(find)) is None:
            await asyncio.sleep(0.05)
    return pid


async def test_outage_while_posting_is_marked_once_the_database_returns(
    pg_url: str, proxied: tuple[str, TcpProxy]
) -> None:
    proxy_url, proxy = proxied
    with engine_on(pg_url) as direct:
        add_workspace(direct, WS)

    def outage() -> None:
        proxy.cut()
        threading.Timer(1.5, proxy.restore).start()

    poster = RecordingPoster(on_post=outage)
    engine = make_engine(proxy_url)
    services = make_services(engine, posters={"slack": poster}, now=NOW)
    try:
        assert await run_due_digests(services) == 1
        [run] = claims(pg_url)
        assert run.status == "posted" and run.posted_at is not None
        poster.on_post = None
        later = make_services(engine, posters={"slack": poster}, now=NOW + dt.timedelta(hours=2))
        assert await run_due_digests(later) == 0
        assert len(poster.posts) == 1
    finally:
        engine.dispose()
