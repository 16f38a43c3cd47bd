"""A call's bookkeeping in few round trips: combined statements, commit modes, claim + load."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine, make_url

from bot.budgets import reservations
from bot.core import Core
from bot.dedupe import Deduper
from bot.errors import DatabaseUnavailable
from bot.money import to_pico
from bot.providers.types import Usage
from bot.services import Services
from bot.transactions import Commit, Steps, TransactionRunner
from bot.turns.books import CallBooks
from bot.turns.records import CallFacts, CallResult, row_values
from storage import rawsql
from storage.accounting import CounterSettlement, settle_call
from storage.budgets import applicable_budgets, ensure_counter, try_reserve
from storage.engine import make_engine
from tests.fakes.fixtures import *  # noqa: F403
from tests.fakes.fixtures import TEST_KEY
from tests.fakes.providers import FakeOpenAI
from tests.kits.tcpproxy import TcpProxy
from tests.kits.turnkit import World, talk

NOW = dt.datetime(2026, 11, 27, 12, tzinfo=dt.UTC)
AT = NOW.replace(tzinfo=None)
PERIOD = "2026-11-27"


class Statements:
    """The SQL statements an engine sends, as their first words."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.seen: list[str] = []

    def _record(self, _conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        self.seen.append(" ".join(statement.split()[:3]))

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *_exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)


def _facts(world: World, *, key_id: str | None, agent_id: str | None) -> CallFacts:
    return CallFacts(
        workspace_id=world.workspace_id,
        agent_id=agent_id,
        agent_name="writer",
        key_id=key_id,
        key_name="k",
        provider="openai",
        model="gpt-4o-mini",
        user_id="U1",
        channel_id="C1",
        event_id="Ev1",
    )


def _result(cost: str) -> CallResult:
    return CallResult(
        status="ok", usage=Usage(input_tokens=10, output_tokens=5), cost=Decimal(cost)
    )


def _reserve(engine: Engine, budget_id: int, amount: int, *, lease_id: str = "lease1") -> None:
    with engine.begin() as conn:
        ensure_counter(conn, budget_id=budget_id, period_start=PERIOD, since=AT.replace(hour=0))
        assert try_reserve(
            conn,
            budget_id=budget_id,
            period_start=PERIOD,
            amount_pusd=amount,
            limit_pusd=10**15,
            lease_id=lease_id,
            expires_at=AT + dt.timedelta(minutes=3),
        )


def test_settle_call_writes_the_row_touches_the_key_and_settles(
    engine: Engine, world: World
) -> None:
    key_id = world.key("k", secret="sk-test", base_url="http://127.0.0.1:9")
    agent_id = world.agent("writer", key_id=key_id)
    budget_id = world.budget("5")
    _reserve(engine, budget_id, to_pico(Decimal("0.02")))
    facts, result = _facts(world, key_id=key_id, agent_id=agent_id), _result("0.0125")
    with Statements(engine) as sent, engine.begin() as conn:
        state = settle_call(
            conn,
            usage_row=row_values(facts, result, at=AT),
            touch_key=key_id,
            at=AT,
            counter=CounterSettlement(
                budget_id=budget_id,
                period_start=PERIOD,
                reserved_pusd=to_pico(Decimal("0.02")),
                spent_pusd=to_pico(Decimal("0.0125")),
                lease_id="lease1",
            ),
        )
    assert state is not None
    assert (state.spent_pusd, state.reserved_pusd) == (to_pico(Decimal("0.0125")), 0)
    assert not state.alert80_sent and not state.alert100_sent
    counter = world.counter(budget_id)
    assert (counter.spent_pusd, counter.reserved_pusd) == (to_pico(Decimal("0.0125")), 0)
    [row] = world.usage_rows()
    assert (row.status, row.cost_pusd, row.input_tokens) == ("ok", to_pico(Decimal("0.0125")), 10)
    assert world.scalar(f"SELECT last_used_at FROM provider_keys WHERE id = '{key_id}'") is not None
    assert world.scalar("SELECT count(*) FROM budget_leases") == 0  # the lease is settled
    if engine.dialect.name == "postgresql":
        assert sent.seen == ["WITH released AS"]  # one round trip for all four
    else:
        assert len(sent.seen) == 4


def test_settle_call_without_a_budget_or_with_a_deleted_one(engine: Engine, world: World) -> None:
    facts, result = _facts(world, key_id=None, agent_id=None), _result("0.01")
    row = row_values(facts, result, at=AT)
    gone = CounterSettlement(budget_id=999, period_start=PERIOD, reserved_pusd=1, spent_pusd=1)
    with engine.begin() as conn:
        for counter in (None, gone):
            state = settle_call(conn, usage_row=row, touch_key=None, at=AT, counter=counter)
            assert state is None
    assert len(world.usage_rows()) == 2  # the rows are written whatever became of the budget


async def test_statement_steps_run_outside_a_transaction_block_then_the_pool_is_normal(
    engine: Engine, world: World
) -> None:
    runner = TransactionRunner(engine)
    modes: list[bool] = []

    def driver_autocommit(conn: Connection) -> bool:
        raw = conn.connection.driver_connection
        return bool(getattr(raw, "autocommit", False)) if raw is not None else False

    def write(conn: Connection) -> None:
        modes.append(driver_autocommit(conn))
        conn.execute(text("UPDATE workspaces SET timezone = 'Europe/Berlin'"))

    def fail(conn: Connection) -> None:
        modes.append(driver_autocommit(conn))
        conn.execute(text("UPDATE workspaces SET timezone = 'Asia/Tokyo'"))
        raise RuntimeError("boom")

    steps = Steps([(write, Commit.AUTOCOMMIT), (fail, Commit.TRANSACTION)])
    with pytest.raises(RuntimeError):
        await runner.run_steps(steps)
    runner.close()
    assert len(steps.results) == 1  # the first step committed, the second did not
    assert world.scalar("SELECT timezone FROM workspaces") == "Europe/Berlin"
    # PostgreSQL: the driver's autocommit for the statement step only; SQLite: never.
    assert modes == ([True, False] if engine.dialect.name == "postgresql" else [False, False])
    with engine.connect() as conn:
        assert not driver_autocommit(conn)


async def test_call_books_settle_every_budget_and_claim_alerts_once(
    engine: Engine, world: World
) -> None:
    key_id = world.key("k", secret="sk-test", base_url="http://127.0.0.1:9")
    agent_id = world.agent("writer", key_id=key_id)
    agent_budget = world.budget("1.00", agent_id=agent_id)
    ws_budget = world.budget("0.10")
    with engine.connect() as conn:
        rows = applicable_budgets(conn, workspace_id=world.workspace_id, agent_id=agent_id)
    runner = TransactionRunner(engine)
    claimed: list[tuple[str, int]] = []
    # Spent after each call: 45%, 90% and 105% of the workspace's $0.10.
    for cost in ("0.045", "0.045", "0.015"):
        amount = to_pico(Decimal("0.01"))
        held = reservations.plan(rows, agent_name="writer", amount_pusd=amount, now=NOW, tz="UTC")
        with engine.begin() as conn:
            reservation = reservations.reserve(conn, held, amount_pusd=amount)
        books = CallBooks(
            facts=_facts(world, key_id=key_id, agent_id=agent_id),
            result=_result(cost),
            at=AT,
            reservation=reservation,
            key_last_used=None,
            alerts_wanted=True,
        )
        await runner.run_steps(books.steps)
        settled = books.settled()
        claimed += [(a.label, a.level) for a in settled.alerts]
        assert not settled.newly_failing
    runner.close()
    assert claimed == [("the workspace", 80), ("the workspace", 100)]
    for budget_id in (agent_budget, ws_budget):
        counter = world.counter(budget_id)
        assert (counter.spent_pusd, counter.reserved_pusd) == (to_pico(Decimal("0.105")), 0)
    assert len(world.usage_rows()) == 3


def test_claim_and_load_claims_once_and_reads_the_settings(engine: Engine, world: World) -> None:
    world.workspace(timezone="Europe/Berlin", digest_channel="C9")
    agent_id = world.agent("writer", key_id=None)
    ids = sorted([world.budget("1", agent_id=agent_id), world.budget("2")])
    deduper = Deduper()
    with engine.begin() as conn:
        claimed, workspace, found = deduper.claim_and_load(
            conn, workspace_id=world.workspace_id, event_id="Ev1", agent_id=agent_id, now=NOW
        )
    assert claimed and (workspace.timezone, workspace.digest_channel) == ("Europe/Berlin", "C9")
    assert [b.id for b in found] == ids
    with engine.begin() as conn:
        again = deduper.claim_and_load(
            conn, workspace_id=world.workspace_id, event_id="Ev1", agent_id=agent_id, now=NOW
        )
        assert again[0] is False
        other = deduper.claim_and_load(
            conn, workspace_id="slack:T-none", event_id="Ev1", agent_id=agent_id, now=NOW
        )
    assert other[0] is True and other[2] == ()  # another workspace: its own claim, no budgets


class CompileLog(logging.Handler):
    """SQLAlchemy's per-statement cache verdicts ("[cached since …]", "[generated in …]")."""

    def __init__(self) -> None:
        super().__init__()
        self.verdicts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("["):
            self.verdicts.append(message.split("]")[0] + "]")


async def test_a_turn_compiles_no_sql_after_the_first(
    services: Services, world: World, openai_fake: FakeOpenAI
) -> None:
    """Every statement of a turn comes from the compiled cache (an uncacheable one costs
    a compilation on every message)."""
    key_id = world.key("k", secret=TEST_KEY, base_url=openai_fake.base_url)
    agent_id = world.agent("writer", key_id=key_id)
    world.bind(agent_id, "C1")
    world.budget("5")
    world.budget("5", agent_id=agent_id)
    core = Core(services)
    for warm_up in ("first", "second"):  # the second settles without touching the key
        await talk(core, world, f"<@UBOT> {warm_up}")
    engine_log = logging.getLogger("sqlalchemy.engine.Engine")
    handler, level = CompileLog(), engine_log.level
    engine_log.addHandler(handler)
    engine_log.setLevel(logging.INFO)
    sent: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        sent.append(statement)

    engine = services.db.engine
    prepared_before = len(rawsql._PREPARED)
    event.listen(engine, "before_cursor_execute", count)
    try:
        reply = await talk(core, world, "<@UBOT> third")
    finally:
        event.remove(engine, "before_cursor_execute", count)
        engine_log.removeHandler(handler)
        engine_log.setLevel(level)
    assert reply.last.kind == "stream"
    # The hot statements run as text compiled once (storage/rawsql.py), unlogged by
    # SQLAlchemy: the turn still sent them, and no statement object was new to rawsql.
    assert len([s for s in sent if s.lstrip()[:6].upper() != "COMMIT"]) >= 4, sent
    assert len(rawsql._PREPARED) == prepared_before
    # ("[raw sql]" is a BEGIN or COMMIT sent as text: nothing to compile.)
    compiled = [v for v in handler.verdicts if v != "[raw sql]"]
    assert all(v.startswith("[cached since") for v in compiled), handler.verdicts


async def test_statement_steps_survive_an_outage_and_apply_once(pg_url: str) -> None:
    """The database goes away under a statement step: an outage, then a clean resume."""
    url = make_url(pg_url)
    with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        engine = make_engine(url.set(host="127.0.0.1", port=proxy.port).render_as_string(False))
        runner = TransactionRunner(engine)
        try:
            with engine.begin() as conn:
                conn.execute(text("CREATE TABLE steps_seen (n INTEGER)"))

            def insert(conn: Connection) -> None:
                conn.execute(text("INSERT INTO steps_seen (n) VALUES (1)"))

            steps = Steps([(insert, Commit.AUTOCOMMIT), (insert, Commit.TRANSACTION)])
            proxy.cut()
            with pytest.raises(DatabaseUnavailable):
                await runner.run_steps(steps)
            assert steps.results == []
            proxy.restore()
            await runner.run_steps(steps)
            assert steps.done
            with engine.connect() as conn:
                assert conn.execute(text("SELECT count(*) FROM steps_seen")).scalar() == 2
                raw = conn.connection.driver_connection
                assert raw is not None and not getattr(raw, "autocommit", True)
        finally:
            runner.close()
            engine.dispose()
