"""Short database transactions run off the event loop, with outages made explicit.

SQLite allows one writer at a time, so its work goes through a single thread: threads
of one process queueing on SQLite's file lock would sleep in its busy handler instead.
PostgreSQL gets a small pool. Transactions that a later durable commit makes durable
anyway can skip waiting for their own WAL flush (`synchronous_commit = off`, PostgreSQL
only): visibility and locking are unchanged, so budgets stay exact across replicas.
Work that is a single statement can skip the transaction block (`Commit.STATEMENT`,
PostgreSQL only): the statement commits durably by itself, without a BEGIN and a COMMIT
round trip.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum
from typing import TypeVar

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from bot.errors import DatabaseUnavailable

logger = logging.getLogger(__name__)

T = TypeVar("T")
POSTGRES_THREADS = 8
_ASYNC_COMMIT = text("SET LOCAL synchronous_commit TO OFF")


def is_outage(exc: BaseException) -> bool:
    """True for errors that mean "the database is unreachable right now"."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout | DatabaseUnavailable):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


class Commit(Enum):
    """How a step commits."""

    DURABLE = "durable"  # a transaction whose COMMIT waits for the WAL flush
    RELAXED = "relaxed"  # a transaction whose COMMIT does not wait (PostgreSQL)
    STATEMENT = "statement"  # one statement outside a transaction block (PostgreSQL)


@dataclass(slots=True)
class Steps:
    """Units of work to commit in order: (function, commit) pairs, and the results so far.

    A function may read the results of the steps before it from `results`.
    """

    steps: list[tuple[Callable[[Connection], object], Commit]]
    results: list[object] = field(default_factory=list)

    @property
    def done(self) -> bool:
        """Every step committed."""
        return len(self.results) == len(self.steps)


class TransactionRunner:
    """Runs one function per transaction on the runner's threads."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"
        self._executor = ThreadPoolExecutor(
            max_workers=POSTGRES_THREADS if self.postgres else 1,
            thread_name_prefix="byokbot-db",
        )

    async def run(
        self, fn: Callable[[Connection], T], *, relaxed: Callable[[T], bool] | None = None
    ) -> T:
        """`fn(conn)` in one transaction; an outage raises `DatabaseUnavailable`.

        When `relaxed(result)` is true the commit does not wait for the WAL flush (a
        later durable commit of the same turn flushes past it anyway).
        """

        def work() -> T:
            with self.engine.begin() as conn:
                result = fn(conn)
                if relaxed is not None and self.postgres and relaxed(result):
                    conn.execute(_ASYNC_COMMIT)  # in force for this transaction's COMMIT
                return result

        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, work)
        except Exception as exc:
            if is_outage(exc):
                raise DatabaseUnavailable("database unreachable") from None
            raise

    async def run_steps(self, steps: Steps) -> None:
        """Run the steps not yet done, each in its own transaction, on one connection.

        A step counts as done once its transaction committed, so after an outage the
        caller may call again and nothing is applied twice.
        """

        def work() -> None:
            with self.engine.connect() as conn:
                while len(steps.results) < len(steps.steps):
                    fn, commit = steps.steps[len(steps.results)]
                    if commit is Commit.STATEMENT and self.postgres:
                        steps.results.append(self._statement(conn, fn))
                        continue
                    with conn.begin():
                        result = fn(conn)
                        if commit is Commit.RELAXED and self.postgres:
                            conn.execute(_ASYNC_COMMIT)
                    steps.results.append(result)

        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, work)
        except Exception as exc:
            if is_outage(exc):
                raise DatabaseUnavailable("database unreachable") from None
            raise

    @staticmethod
    def _statement(conn: Connection, fn: Callable[[Connection], object]) -> object:
        # The driver's autocommit for this one unit, then the pool's default again: both
        # are settings on the client side, with no round trip.
        default = conn.default_isolation_level
        conn.execution_options(isolation_level="AUTOCOMMIT")
        try:
            result = fn(conn)
            conn.commit()  # ends SQLAlchemy's own bookkeeping; nothing is sent
        finally:
            if conn.in_transaction():
                conn.rollback()
            conn.execution_options(isolation_level=default)
        return result

    def close(self) -> None:
        """Let the threads go (pending work still finishes)."""
        self._executor.shutdown(wait=False)
