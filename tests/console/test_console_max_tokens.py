"""`byokbot shell` against a provider that ignores max_tokens: the budget holds (Guarantee 6)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.money import to_pico
from bot.pricing import worst_case_cost
from storage.engine import make_engine
from tests.fakes.providers import FakeOpenAI
from tests.kits.helpers import run_byokbot

SECRET = "sk-proj-HostileSecretValue0123456789abcXYZ"
LIMIT = Decimal("0.0005")


@pytest.fixture
def flood() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(valid_keys=[SECRET]) as server:
        server.flood(tokens=1000)
        yield server


def test_shell_stops_reading_a_provider_that_ignores_max_tokens(
    flood: FakeOpenAI, database_url: str, tmp_path: Path
) -> None:
    env = {
        "BYOKBOT_DATABASE_URL": database_url,
        "BYOKBOT_MASTER_KEY_FILE": str(tmp_path / "master.key"),
        "BYOKBOT_ALLOW_PRIVATE_BASE_URLS": "true",
        "USER": "tester",
    }
    lines = [
        f"/byok key add openai openai-prod {SECRET} --base-url {flood.base_url}",
        "/byok agent create writer --key openai-prod --model gpt-4o-mini --max-tokens 1",
        "/byok agent default writer",
        f"/byok limit set workspace {LIMIT} --per day",
        *["Tell me everything you know."] * 3,
    ]
    result = run_byokbot("shell", env=env, cwd=tmp_path, stdin="\n".join(lines) + "\n", timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout.count("writer stopped here: its answer reached --max-tokens 1") == 3
    assert " t9" not in result.stdout  # the rest of the 1,000 chunks never reached anyone

    deadline = time.monotonic() + 5
    while not all(s.disconnected or s.completed for s in flood.streams):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert len(flood.streams) == 3
    assert all(s.disconnected and s.text_chunks < 100 for s in flood.streams)

    worst = worst_case_cost(
        provider="openai", model="gpt-4o-mini", input_tokens=0, max_output_tokens=1
    )
    assert worst is not None  # one output token: what one chunk costs at most here
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            spent, reserved = conn.execute(
                text("SELECT spent_pusd, reserved_pusd FROM budget_counters")
            ).one()
            rows = conn.execute(
                text("SELECT status, error_kind, cost_pusd FROM usage_events ORDER BY id")
            ).all()
    finally:
        engine.dispose()
    assert spent <= to_pico(LIMIT + worst) and reserved == 0
    assert [(r.status, r.error_kind) for r in rows] == [("estimated", "max_tokens")] * 3
    assert spent == sum(r.cost_pusd for r in rows)
