"""One way to run database work off the event loop: every path reports an outage alike."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlmodel import Session

from bot.boundary import Place, SecretForm, Sender
from bot.commands.context import CommandContext
from bot.digest.claim import run_db
from bot.errors import DatabaseUnavailable
from bot.forms import PendingForms
from bot.installations import SlackInstallations, SlackOAuthStates
from bot.services import Services
from storage.engine import make_engine
from tests.kits.commands_kit import RecordingSink, make_services

PLACE = Place(platform="slack", workspace_id="slack:T1", channel_id="C1")
SENDER = Sender(user_id="U1")


def _unreachable(url: str, folder: Path) -> str:
    """The same backend as `url`, where no database answers (SQLite: a folder, no file)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(database=str(folder)).render_as_string(False)
    return parsed.set(host="127.0.0.1", port=1).render_as_string(False)


@pytest.fixture
def dead(database_url: str, master_key: str, tmp_path: Path) -> Iterator[Services]:
    engine = make_engine(_unreachable(database_url, tmp_path))
    yield make_services(engine, master_key=master_key)
    engine.dispose()


def _one(session: Session) -> int:
    return int(session.exec(text("SELECT 1")).one()[0])  # type: ignore[call-overload]


def _paths(services: Services) -> dict[str, Callable[[], Awaitable[object]]]:
    ctx = CommandContext(services, PLACE, SENDER, RecordingSink())
    form = SecretForm(action="add", key_name="prod", provider="openai")
    installs = SlackInstallations(services.engine, services.vault)
    return {
        "runner": lambda: services.db.session(_one),
        "command": lambda: ctx.db(_one),
        "digest": lambda: run_db(services, _one),
        "key form": lambda: PendingForms(services).open(form, place=PLACE, sender=SENDER),
        "installation": lambda: installs.find(workspace_id="slack:T1", enterprise_id=None),
        "oauth state": lambda: SlackOAuthStates(services.engine).consume("state"),
    }


async def test_every_database_path_reports_an_outage_as_database_unavailable(
    dead: Services,
) -> None:
    answers: dict[str, str] = {}
    for name, path in _paths(dead).items():
        try:
            await path()
            answers[name] = "no error"
        except Exception as exc:
            answers[name] = type(exc).__name__
    assert answers == dict.fromkeys(answers, DatabaseUnavailable.__name__)


async def test_every_path_shares_the_engine_s_one_runner(engine: Engine, master_key: str) -> None:
    services = make_services(engine, master_key=master_key)
    threads: set[str] = set()

    def where(session: Session) -> int:
        threads.add(threading.current_thread().name)
        return _one(session)

    ctx = CommandContext(services, PLACE, SENDER, RecordingSink())
    assert await ctx.db(where) == 1
    assert await run_db(services, where) == 1
    assert await services.db.session(where) == 1
    assert all(name.startswith("byokbot-db") for name in threads)
    if engine.dialect.name == "sqlite":  # SQLite's one writer: a single database thread
        assert len(threads) == 1


async def test_an_autocommit_unit_leaves_the_pooled_connection_transactional(
    engine: Engine,
) -> None:
    """After an autocommit unit (ended well or by an error) a transaction unit is atomic."""
    from bot.transactions import Commit, TransactionRunner

    runner = TransactionRunner(engine)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE unit_rows (n INTEGER)"))

    def insert_then_fail(conn: Connection) -> None:
        conn.execute(text("INSERT INTO unit_rows (n) VALUES (1)"))
        raise RuntimeError("after the insert")

    def count(conn: Connection) -> int:
        return int(conn.execute(text("SELECT count(*) FROM unit_rows")).scalar_one())

    try:
        await runner.run(count, commit=Commit.AUTOCOMMIT)
        with pytest.raises(RuntimeError):
            await runner.run(insert_then_fail, commit=Commit.AUTOCOMMIT)
        autocommitted = await runner.run(count)
        # PostgreSQL committed the autocommit unit's insert by itself; SQLite's is a transaction.
        assert autocommitted == (1 if runner.postgres else 0)
        for _ in range(3):  # every pooled connection the runner may pick
            with pytest.raises(RuntimeError):
                await runner.run(insert_then_fail)
        assert await runner.run(count) == autocommitted
    finally:
        runner.close()
