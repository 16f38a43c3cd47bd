"""One process of the allowance race: reservations a spent budget refuses, but for an allowance.

    python -m tests.kits.approval_worker <database url> <budget id> <go file> <attempts>

Waits until the go file exists, then tries `attempts` reservations for member UMEMBER on
the budget and prints one JSON line: how many went through and how many were refused.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path

from bot.budgets import reservations
from bot.errors import BudgetExceeded
from storage.budgets import BudgetRow
from storage.engine import make_engine

NOW = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)
AMOUNT = 1_000_000  # pico-dollars a call reserves


def main(url: str, budget_id: int, go: Path, attempts: int) -> dict[str, int]:
    engine = make_engine(url)
    rows = [BudgetRow(id=budget_id, target="workspace", period="day", limit_pusd=1)]
    with engine.connect():
        pass
    go.with_name(f"ready-{time.monotonic_ns()}").touch()
    while not go.exists():
        time.sleep(0.002)
    passed = refused = 0
    for _ in range(attempts):
        held = reservations.plan(
            rows, agent_name="writer", amount_pusd=AMOUNT, now=NOW, tz="UTC", member="UMEMBER"
        )
        with engine.begin() as conn:
            try:
                reservations.reserve(conn, held, amount_pusd=AMOUNT)
                passed += 1
            except BudgetExceeded:
                refused += 1
    engine.dispose()
    return {"passed": passed, "refused": refused}


if __name__ == "__main__":
    result = main(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]))
    print(json.dumps(result))
