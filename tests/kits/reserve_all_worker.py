"""One process of the all-or-none race: reserve on three budgets, settle at once, repeat.

    python -m tests.kits.reserve_all_worker <database url> <workspace> <agent> <go file> <calls>

Each call reserves `AMOUNT` on every budget that applies (the workspace's, the agent's
and `each-user`, for members U0..U3) on a connection in autocommit, as a turn does, and
when it got them settles them all for `AMOUNT` with its usage row. Prints one JSON line:
how many calls passed and how many were refused.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path

from bot.budgets import reservations
from bot.errors import BudgetExceeded
from storage.accounting import CounterSettlement, settle_call_counters
from storage.budgets import applicable_budgets
from storage.engine import make_engine

NOW = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)
AMOUNT = 1_000_000  # pico-dollars a call reserves, and then costs
MEMBERS = 4


def main(url: str, workspace: str, agent: str, go: Path, calls: int) -> dict[str, int]:
    engine = make_engine(url)
    passed = refused = 0
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        go.with_name(f"ready-{time.monotonic_ns()}").touch()
        while not go.exists():
            time.sleep(0.002)
        for i in range(calls):
            member = f"U{i % MEMBERS}"
            rows = applicable_budgets(conn, workspace_id=workspace, agent_id=agent, user_id=member)
            held = reservations.plan(
                rows, agent_name="writer", amount_pusd=AMOUNT, now=NOW, tz="UTC", member=member
            )
            try:
                reservations.reserve(conn, held, amount_pusd=AMOUNT, relax_commit=True)
            except BudgetExceeded:
                refused += 1
                continue
            passed += 1
            usage = {
                "workspace_id": workspace,
                "agent_id": agent,
                "user_id": member,
                "status": "ok",
                "cost_pusd": AMOUNT,
                "created_at": NOW.replace(tzinfo=None),
            }
            settlements = [
                CounterSettlement(
                    budget_id=item.budget_id,
                    period_start=item.period_key,
                    reserved_pusd=item.amount_pusd,
                    spent_pusd=AMOUNT,
                    lease_id=item.lease_id,
                    member=item.member,
                )
                for item in held
            ]
            settle_call_counters(
                conn,
                usage_row=usage,
                touch_key=None,
                at=NOW.replace(tzinfo=None),
                counters=settlements,
            )
    engine.dispose()
    return {"passed": passed, "refused": refused}


if __name__ == "__main__":
    args = sys.argv[1:]
    result = main(args[0], args[1], args[2], Path(args[3]), int(args[4]))
    print(json.dumps(result))
