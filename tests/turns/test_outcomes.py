"""One outcome vocabulary: usage, the digest and the CSV export count the same words alike."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.turns import records
from bot.turns.records import CallFacts, CallResult
from storage.engine import make_engine
from storage.migrate import downgrade, upgrade
from storage.outcomes import OUTCOMES
from storage.workspaces import ensure_workspace
from tests.digest.test_digest_support import RecordingPoster
from tests.kits.commands_kit import Bot, make_services

NOW = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)
# How calls really end (status, error kind as the turn writes them) -> the word counted.
ENDINGS: list[tuple[str, str | None, str]] = [
    ("ok", None, "ok"),
    ("estimated", "implausible_usage", "ok"),  # completed; charged its estimate, flagged
    ("estimated", "no_usage", "ok"),
    ("failed", "unavailable", "error"),
    ("key_rejected", "key_rejected", "error"),
    ("rate_limited", "rate_limited", "error"),
    ("failed", "timeout", "timeout"),
    ("estimated", "timeout", "timeout"),  # timed out mid-stream
    ("estimated", "max_tokens", "cut"),
    ("estimated", "interrupted", "cut"),
    ("failed", "interrupted", "cut"),
    ("refused", "budget", "refused_budget"),
    ("refused", "key_revoked", "refused_key"),
    ("refused", "key_failing", "refused_key"),
    ("refused", "leak", "refused_leak"),
]
EXPECTED = Counter(word for _, _, word in ENDINGS)


def _facts() -> CallFacts:
    return CallFacts(
        workspace_id="console",
        agent_id=None,
        agent_name="writer",
        key_id=None,
        key_name="prod",
        provider="openai",
        model="gpt-4o-mini",
        user_id="U1",
        channel_id="general",
        event_id=None,
    )


@pytest.mark.parametrize(("status", "kind", "word"), ENDINGS)
def test_every_ending_has_one_word(status: str, kind: str | None, word: str) -> None:
    assert CallResult(status=status, error_kind=kind).outcome == word


@pytest.fixture
async def bot(engine: Engine, master_key: str) -> AsyncIterator[Bot]:
    services = make_services(engine, master_key=master_key)
    services.clock = lambda: NOW
    with Session(engine) as session:
        ensure_workspace(session, workspace_id="console", platform="console")
        session.commit()
    at = NOW.replace(tzinfo=None) - dt.timedelta(minutes=5)
    with engine.begin() as conn:
        for status, kind, _ in ENDINGS:
            result = CallResult(status=status, error_kind=kind, cost=Decimal("0.001"))
            records.record(conn, _facts(), result, at=at)
    yield Bot(services)
    await services.providers.aclose()


def _words(line: str) -> Counter[str]:
    found = re.findall(r"([\d,]+) (" + "|".join(OUTCOMES) + r")\b", line)
    return Counter({word: int(n.replace(",", "")) for n, word in found})


async def test_usage_digest_and_export_agree(bot: Bot) -> None:
    assert set(EXPECTED) == set(OUTCOMES)  # the fixture has every outcome
    total = (await bot.run("usage --since 1d")).last.splitlines()[1]
    assert "outcomes: 3 ok, 3 error, 2 timeout, 3 cut, 1 refused_budget, 2 refused_key" in total
    assert _words(total) == EXPECTED

    poster = RecordingPoster()
    bot.services.posters["console"] = poster
    await bot.run("digest channel #ops")
    await bot.run("digest now")
    digest = next(x for x in poster.posts[-1]["text"].splitlines() if x.startswith("Outcomes:"))
    assert _words(digest) == EXPECTED

    export = (await bot.run("usage export --since 1d")).files[-1]
    rows = list(csv.DictReader(io.StringIO(export.content.decode("utf-8"))))
    assert Counter(row["outcome"] for row in rows) == EXPECTED


@pytest.fixture(params=["sqlite", "postgres"])
def blank_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_empty_url"))
    return f"sqlite:///{tmp_path / 'old.db'}"


def test_migration_gives_old_rows_their_outcome(blank_url: str) -> None:
    engine = make_engine(blank_url)
    try:
        upgrade(engine, "0004")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO workspaces (id, platform, name, timezone, digest_time, "
                    "digest_enabled, created_at) VALUES ('console', 'console', '', 'UTC', "
                    "'09:00', true, CURRENT_TIMESTAMP)"
                )
            )
            for status, kind, _ in ENDINGS:
                conn.execute(
                    text(
                        "INSERT INTO usage_events (workspace_id, agent_name, key_name, provider,"
                        " model, user_id, channel_id, status, error_kind, input_tokens,"
                        " output_tokens, cache_read_tokens, cache_write_tokens,"
                        " reasoning_tokens, priced, estimated, created_at) VALUES ('console',"
                        " 'w', 'k', 'openai', 'm', 'U1', 'c', :s, :k, 0, 0, 0, 0, 0, true,"
                        " false, CURRENT_TIMESTAMP)"
                    ),
                    {"s": status, "k": kind},
                )
        upgrade(engine)
        with engine.connect() as conn:
            got = conn.execute(text("SELECT status, error_kind, outcome FROM usage_events"))
            assert sorted(tuple(row) for row in got) == sorted(ENDINGS)
        downgrade(engine, "0004")
    finally:
        engine.dispose()
