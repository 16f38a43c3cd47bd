"""Storage on the run's backend (and both where it matters): constraints, types, reconnects."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import func, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, select

import storage.engine
from bot.money import from_pico, to_pico
from storage.audit import add_audit, recent_audit
from storage.engine import (
    DatabaseDown,
    make_engine,
    normalise_url,
    safe_url,
    session_scope,
    wait_for_database,
)
from storage.models import (
    Agent,
    Budget,
    BudgetCounter,
    ProviderKey,
    UsageEvent,
    Workspace,
    naive_utcnow,
)
from storage.workspaces import ensure_workspace
from tests.kits.logcapture import LogCapture
from tests.kits.tcpproxy import TcpProxy


def _key(workspace_id: str, name: str) -> ProviderKey:
    return ProviderKey(
        workspace_id=workspace_id,
        name=name,
        provider="openai",
        ciphertext=b"c",
        nonce=b"n" * 12,
        key_version="v",
        masked="sk-…abcd",
    )


def test_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30000
    finally:
        engine.dispose()


def test_sqlite_parent_directory_is_created(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'deep' / 'er' / 'bot.db'}"
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    finally:
        engine.dispose()
    assert (tmp_path / "deep" / "er" / "bot.db").exists()


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        session.add(_key("slack:nobody", "orphan"))
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(ProviderKey)).one() == 0


def test_key_names_are_unique_per_workspace_only(engine: Engine) -> None:
    with session_scope(engine) as session:
        for ws in ("slack:T1", "slack:T2"):
            ensure_workspace(session, workspace_id=ws, platform="slack")
        session.add(_key("slack:T1", "prod"))
        session.add(_key("slack:T2", "prod"))
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        session.add(_key("slack:T1", "prod"))


def test_values_round_trip_exactly(engine: Engine) -> None:
    """Big pico-dollar integers, every byte value, naive UTC timestamps."""
    huge = to_pico(from_pico(9_000_000_000_000_000_000))  # $9M, far beyond 32 bits
    blob = bytes(range(256))
    stamp = dt.datetime(2026, 11, 27, 23, 59, 59, 123456)
    with session_scope(engine) as session:
        ensure_workspace(session, workspace_id="console", platform="console")
        key = _key("console", "k")
        key.ciphertext, key.last_used_at = blob, stamp
        session.add(key)
        budget = Budget(workspace_id="console", target="workspace", period="day", limit_pusd=huge)
        session.add(budget)
        session.flush()
        assert budget.id is not None
        session.add(BudgetCounter(budget_id=budget.id, period_start="2026-11-27", spent_pusd=huge))
        session.add(UsageEvent(workspace_id="console", status="ok", cost_pusd=huge - 1))
        session.add(UsageEvent(workspace_id="console", status="ok", cost_pusd=1))
    with Session(engine) as session:
        stored = session.exec(select(ProviderKey)).one()
        assert stored.ciphertext == blob
        assert stored.last_used_at == stamp and stored.last_used_at.tzinfo is None
        assert stored.created_at.tzinfo is None
        assert abs(stored.created_at - naive_utcnow()) < dt.timedelta(minutes=5)
        assert session.exec(select(Budget.limit_pusd)).one() == huge
        assert session.exec(select(BudgetCounter.spent_pusd)).one() == huge
        total = session.exec(select(func.sum(UsageEvent.cost_pusd))).one()
        assert int(total or 0) == huge


def test_ensure_workspace_is_idempotent_under_concurrency(engine: Engine) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        try:
            barrier.wait()
            with session_scope(engine) as session:
                ensure_workspace(session, workspace_id="discord:42", platform="discord", name="g")
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with Session(engine) as session:
        rows = session.exec(select(Workspace)).all()
        assert [(w.id, w.platform, w.timezone, w.digest_time) for w in rows] == [
            ("discord:42", "discord", "UTC", "09:00")
        ]


def test_key_in_use_by_an_agent_cannot_be_deleted(engine: Engine) -> None:
    with session_scope(engine) as session:
        ensure_workspace(session, workspace_id="console", platform="console")
        key = _key("console", "k")
        session.add(key)
        session.flush()
        session.add(Agent(workspace_id="console", name="writer", key_id=key.id, model="m"))
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        stored = session.exec(select(ProviderKey)).one()
        session.delete(stored)


def test_audit_is_scoped_and_newest_first(engine: Engine) -> None:
    with session_scope(engine) as session:
        for ws in ("slack:T1", "slack:T2"):
            ensure_workspace(session, workspace_id=ws, platform="slack")
        for index in range(5):
            add_audit(session, workspace_id="slack:T1", actor_id="U1", action=f"a.{index}")
        add_audit(session, workspace_id="slack:T2", actor_id="U2", action="other")
    with Session(engine) as session:
        rows = recent_audit(session, workspace_id="slack:T1", limit=3)
        assert [r.action for r in rows] == ["a.4", "a.3", "a.2"]
        assert all(r.workspace_id == "slack:T1" for r in rows)


def test_urls_are_normalised_and_passwords_hidden() -> None:
    assert normalise_url("postgres://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert normalise_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("sqlite:///x.db") == "sqlite:///x.db"
    assert "hunter2" not in safe_url("postgresql+psycopg://u:hunter2@h/db")


def test_unreachable_database_retries_then_raises(log_capture: LogCapture) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    engine = make_engine(f"postgresql+psycopg://u:hunter2@127.0.0.1:{port}/db")
    try:
        with pytest.raises(DatabaseDown) as caught:
            wait_for_database(engine, attempts=3, first_delay=0.01)
    finally:
        engine.dispose()
    assert "hunter2" not in str(caught.value) and "\n" not in str(caught.value)
    assert f"127.0.0.1:{port}" in str(caught.value)
    for attempt in (1, 2, 3):
        assert f"attempt {attempt}/3" in log_capture.text
    assert "hunter2" not in log_capture.text


def _terminate_others(url: str) -> int:
    """Kill every other session of the database and wait until they are gone."""
    libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    database = make_url(url).database
    others = "FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
    with psycopg.connect(libpq, autocommit=True) as conn:
        rows = conn.execute(f"SELECT pg_terminate_backend(pid) {others}", (database,)).fetchall()
        for _ in range(100):  # pg_terminate_backend only signals; the exit comes after
            if not conn.execute(f"SELECT 1 {others}", (database,)).fetchall():
                break
            time.sleep(0.05)
    return len(rows)


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    assert isinstance(pid, int)
    return pid


def test_postgres_connections_dropped_by_the_server_are_replaced(pg_url: str) -> None:
    """A pooled connection the server killed is replaced on checkout, unseen by the caller."""
    engine = make_engine(pg_url)
    try:
        first = _backend_pid(engine)
        assert _backend_pid(engine) == first  # the pool hands the same connection back
        assert _terminate_others(pg_url) >= 1
        assert _backend_pid(engine) != first
    finally:
        engine.dispose()


@pytest.fixture
def through_proxy(pg_url: str) -> Iterator[tuple[Engine, TcpProxy]]:
    """An engine whose connections pass a TCP proxy that can lose them silently."""
    url = make_url(pg_url)
    with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        engine = make_engine(url.set(host="127.0.0.1", port=proxy.port).render_as_string(False))
        try:
            yield engine, proxy
        finally:
            engine.dispose()


def test_postgres_idle_connections_lost_silently_are_pinged_and_replaced(
    through_proxy: tuple[Engine, TcpProxy], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection a middlebox forgot shows nothing on its socket; the idle ping finds it."""
    engine, proxy = through_proxy
    first = _backend_pid(engine)
    proxy.forget()
    monkeypatch.setattr(storage.engine, "IDLE_PING_AFTER", 0.0)  # "idle for long"
    assert _backend_pid(engine) != first


def test_postgres_recently_used_connections_are_not_pinged(
    through_proxy: tuple[Engine, TcpProxy],
) -> None:
    """The price of skipping the ping: a flow lost silently moments ago fails one use.

    The failure is an ordinary outage error (a turn answers "temporarily unavailable"),
    and the pool is renewed by it, so the next use works.
    """
    engine, proxy = through_proxy
    first = _backend_pid(engine)
    proxy.forget()
    with pytest.raises(OperationalError):
        _backend_pid(engine)
    assert _backend_pid(engine) != first
