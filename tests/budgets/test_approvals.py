"""Approval allowances and requests: spent exactly once across processes, gone after an hour."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.budgets.reservations import period_window
from storage import approvals
from storage.approvals import ApprovalRow
from storage.models import Budget
from storage.workspaces import ensure_workspace
from tests.kits import racers
from tests.kits.approval_worker import AMOUNT, NOW
from tests.kits.commands_kit import Bot, audit_rows, make_services

PROCESSES = 2
ATTEMPTS = 10


def _request(
    request_id: str, *, budget_id: int, state: str = "asked", **extra: object
) -> ApprovalRow:
    at = NOW.replace(tzinfo=None)
    values: dict[str, object] = dict(
        id=request_id,
        workspace_id="console",
        member_id="UMEMBER",
        agent_name="writer",
        budget_id=budget_id,
        budget_label="the daily budget of the workspace",
        period_start=period_window("day", now=NOW, tz="UTC")[0],
        worst_pusd=AMOUNT,
        state=state,
        allowance_pusd=None,
        decided_by=None,
        created_at=at,
        expires_at=at + dt.timedelta(hours=1),
    )
    values.update(extra)
    return ApprovalRow(**values)  # type: ignore[arg-type]


def _budget(engine: Engine) -> int:
    with Session(engine) as session:
        ensure_workspace(session, workspace_id="console", platform="console")
        budget = Budget(workspace_id="console", target="workspace", period="day", limit_pusd=1)
        session.add(budget)
        session.commit()
        assert budget.id is not None
        return budget.id


@pytest.mark.many_processes
def test_an_allowance_is_spent_once_by_racing_processes(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    budget_id = _budget(engine)
    with engine.begin() as conn:
        approvals.open_request(
            conn, _request("aaaaaaaa", budget_id=budget_id, state="approved", allowance_pusd=AMOUNT)
        )
        # Another member's allowance and a too-small one are not this member's to spend.
        approvals.open_request(
            conn,
            _request(
                "bbbbbbbb",
                budget_id=budget_id,
                state="approved",
                allowance_pusd=AMOUNT,
                member_id="UOTHER",
            ),
        )
        approvals.open_request(
            conn,
            _request("cccccccc", budget_id=budget_id, state="approved", allowance_pusd=AMOUNT - 1),
        )
    go = tmp_path / "go"
    workers = racers.start(
        "tests.kits.approval_worker",
        [database_url, str(budget_id), str(go), str(ATTEMPTS)],
        count=PROCESSES,
    )
    finished = racers.release(workers, folder=tmp_path, go=go, timeout=120)
    results = finished.results
    assert sum(r["passed"] for r in results) == 1, results
    assert sum(r["refused"] for r in results) == PROCESSES * ATTEMPTS - 1
    with engine.connect() as conn:
        states = dict(conn.execute(text("SELECT id, state FROM approval_requests")).all())
        held = conn.execute(text("SELECT reserved_pusd FROM budget_counters")).scalar_one()
    assert states == {"aaaaaaaa": "used", "bbbbbbbb": "approved", "cccccccc": "approved"}
    assert held == AMOUNT  # the one call that passed holds its reservation, nothing else


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
async def bot(engine: Engine, master_key: str) -> AsyncIterator[Bot]:
    services = make_services(engine, master_key=master_key)
    services.clock = Clock()
    yield Bot(services)
    await services.providers.aclose()


async def test_requests_expire_after_an_hour_and_only_admins_decide(
    bot: Bot, engine: Engine
) -> None:
    budget_id = _budget(engine)
    with engine.begin() as conn:
        approvals.open_request(conn, _request("late1111", budget_id=budget_id))
        approvals.open_request(conn, _request("intime22", budget_id=budget_id, state="pending"))
    clock = bot.services.clock
    assert isinstance(clock, Clock)

    refused = await bot.run("approve intime22", user="UMEMBER", admin=False)
    assert "Only byokbot admins" in refused.last

    clock.now = NOW + dt.timedelta(minutes=59)
    assert "Approved request intime22" in (await bot.run("approve intime22 0.5")).last
    clock.now = NOW + dt.timedelta(hours=1)
    assert (await bot.run("deny late1111")).last == (
        "Request late1111 expired (requests last an hour)."
    )
    with engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT id, state FROM approval_requests")).all())
        allowance = conn.execute(
            text("SELECT allowance_pusd FROM approval_requests WHERE id = 'intime22'")
        ).scalar_one()
    assert rows == {"late1111": "expired", "intime22": "approved"}
    assert allowance == 500_000_000_000  # the amount the admin gave, exactly
    actions = [(a.actor_id, a.action, a.outcome) for a in audit_rows(engine)]
    assert ("UMEMBER", "approval.approve", "denied") in actions
    assert ("admin-1", "approval.deny", "error") in actions
