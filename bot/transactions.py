"""Short units of database work run off the event loop, with outages made explicit.

SQLite allows one writer at a time, so its work goes through a single thread: threads
of one process queueing on SQLite's file lock would sleep in its busy handler instead.
PostgreSQL gets a small pool.

A unit is a transaction (`Commit.TRANSACTION`), or, for the hot path of a turn on
PostgreSQL, a run of statements that each commit by themselves (`Commit.AUTOCOMMIT`):
no BEGIN and COMMIT round trips. Such a unit keeps the statements that must commit
together in a `storage.engine.transaction_block`, and the statements whose durability a
later commit of the same turn provides relax their own commit in SQL (`set_config(
'synchronous_commit', 'off', true)`). On SQLite an autocommit unit is one transaction.

Every piece of the core that touches the database off the event loop goes through the
one runner of its engine (`runner_for`, also `Services.db`): turns, commands, the digest,
key forms and the Slack installation store. Outages leave it as `DatabaseUnavailable`.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TypeVar

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlmodel import Session

from bot.dbthreads import DbThreads
from bot.errors import DatabaseUnavailable
from storage.engine import DatabaseDown, driver_autocommit, session_scope

logger = logging.getLogger(__name__)

T = TypeVar("T")
POSTGRES_THREADS = 8


def is_outage(exc: BaseException) -> bool:
    """True for errors that mean "the database is unreachable right now"."""
    if isinstance(
        exc, OperationalError | InterfaceError | PoolTimeout | DatabaseDown | DatabaseUnavailable
    ):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


class Commit(Enum):
    """How a unit of work commits."""

    TRANSACTION = "transaction"  # one transaction, committed durably
    AUTOCOMMIT = "autocommit"  # PostgreSQL: each statement by itself; SQLite: a transaction


@dataclass(slots=True)
class Steps:
    """Units of work to commit in order: (function, commit) pairs, and the results so far."""

    steps: list[tuple[Callable[[Connection], object], Commit]]
    results: list[object] = field(default_factory=list)

    @property
    def done(self) -> bool:
        """Every step committed."""
        return len(self.results) == len(self.steps)


class TransactionRunner:
    """Runs units of database work on the runner's threads."""

    def __init__(self, engine: Engine) -> None:
        # Weakly: `runner_for` keeps one runner per engine for as long as the engine lives.
        self._engine = weakref.ref(engine)
        self.postgres = engine.dialect.name == "postgresql"
        self._threads = DbThreads(POSTGRES_THREADS if self.postgres else 1, name="byokbot-db")
        # The idle threads go when the runner does (tests make many engines).
        weakref.finalize(self, self._threads.close)

    @property
    def engine(self) -> Engine:
        """The engine this runner works on."""
        engine = self._engine()
        if engine is None:
            raise DatabaseUnavailable("the database engine is gone")
        return engine

    async def run(self, fn: Callable[[Connection], T], *, commit: Commit = Commit.TRANSACTION) -> T:
        """`fn(conn)` as one unit; an outage raises `DatabaseUnavailable`."""

        def work() -> T:
            with self.engine.connect() as conn:
                return self._unit(conn, fn, commit)

        return await self.call(work)

    async def run_steps(self, steps: Steps) -> None:
        """Run the steps not yet done, each as its own unit, on one connection.

        A step counts as done once it committed, so after an outage the caller may call
        again and nothing is applied twice.
        """

        def work() -> None:
            with self.engine.connect() as conn:
                while not steps.done:
                    fn, commit = steps.steps[len(steps.results)]
                    steps.results.append(self._unit(conn, fn, commit))

        await self.call(work)

    async def session(self, work: Callable[[Session], T]) -> T:
        """`work(session)` in one ORM transaction (committed on success), as `run` does."""

        def unit() -> T:
            with session_scope(self.engine) as session:
                return work(session)

        return await self.call(unit)

    async def call(self, work: Callable[[], T]) -> T:
        """`work()`, which opens its own connections, on the runner's threads; an outage
        raises `DatabaseUnavailable`."""
        try:
            return await self._threads.submit(work)
        except Exception as exc:
            if is_outage(exc):
                raise DatabaseUnavailable("database unreachable") from None
            raise

    def _unit(self, conn: Connection, fn: Callable[[Connection], T], commit: Commit) -> T:
        if commit is Commit.TRANSACTION or not self.postgres:
            with conn.begin():
                return fn(conn)
        # The driver's autocommit for this unit, then off again: a client-side setting,
        # with no round trip.
        with driver_autocommit(conn):
            result = fn(conn)
            conn.commit()  # ends SQLAlchemy's own bookkeeping; nothing is sent
        return result

    def close(self) -> None:
        """Let the threads go (pending work still finishes)."""
        self._threads.close()


_RUNNERS: weakref.WeakKeyDictionary[Engine, TransactionRunner] = weakref.WeakKeyDictionary()
_RUNNERS_LOCK = threading.Lock()


def runner_for(engine: Engine) -> TransactionRunner:
    """The one runner of `engine`, made on first use (SQLite's single writer thread is
    shared by everything that writes through this engine)."""
    with _RUNNERS_LOCK:
        runner = _RUNNERS.get(engine)
        if runner is None:
            runner = _RUNNERS[engine] = TransactionRunner(engine)
        return runner
