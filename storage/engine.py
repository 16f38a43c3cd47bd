"""Engine and session set-up for SQLite (WAL, foreign keys) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

import logging
import select
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection
from sqlmodel import Session, create_engine

logger = logging.getLogger(__name__)

# A PostgreSQL connection back from the pool within this many seconds is checked by
# looking at its socket only; one idle for longer also gets a round-trip ping.
IDLE_PING_AFTER = 10.0
_RETURNED_AT = "byokbot_returned_at"


class DatabaseDown(Exception):
    """The database cannot be reached (storage-level; the core maps it to its own error)."""


def normalise_url(url: str) -> str:
    """Accept `postgresql://` and `postgres://` as psycopg 3 URLs."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _sqlite_pragmas(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_conn.cursor()
    # WAL lets readers run beside the single writer; busy_timeout makes writers queue
    # instead of failing at once when several processes share one file.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create the engine for `url`; pooled connections a database dropped are replaced."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            echo=echo,
            pool_pre_ping=True,
            connect_args={"check_same_thread": False, "timeout": 30},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(
        url,
        echo=echo,
        # Liveness is checked by `_check_alive` below instead of a ping per checkout: the
        # ping is a round trip, and a turn checks out two connections.
        pool_pre_ping=False,
        pool_size=10,
        max_overflow=20,
        pool_timeout=10,
        # The most recently returned connection first: under light traffic the same few
        # stay warm (their statements prepared server-side) while the rest sit unused.
        pool_use_lifo=True,
        connect_args={"connect_timeout": 5},
    )
    event.listen(engine, "checkout", _check_alive)
    event.listen(engine, "checkin", _note_return)
    return engine


def _note_return(_dbapi_conn: Any, record: ConnectionPoolEntry) -> None:
    record.info[_RETURNED_AT] = time.monotonic()


def _check_alive(
    dbapi_conn: Any, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection
) -> None:
    """Replace a pooled PostgreSQL connection that the server or the network closed.

    An idle connection has nothing to read: if its socket is readable, the server sent
    its goodbye (restart, `pg_terminate_backend`, idle timeout) or closed it, so it is
    replaced without a round trip. Connections idle for a while are pinged as well, for
    the drops that leave no trace on the socket (a firewall forgetting the flow).
    """
    returned = record.info.get(_RETURNED_AT)
    if returned is None:
        return  # connected just now
    if dbapi_conn.closed or _readable(dbapi_conn.fileno()):
        raise DisconnectionError("the server closed the connection")
    if time.monotonic() - returned > IDLE_PING_AFTER:
        try:
            dbapi_conn.autocommit = True  # one round trip, no BEGIN/ROLLBACK around it
            try:
                dbapi_conn.execute(";")
            finally:
                dbapi_conn.autocommit = False
        except Exception as exc:
            raise DisconnectionError("the connection failed its ping") from exc


def _readable(fd: int) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


def is_sqlite(engine: Engine) -> bool:
    """True for the embedded SQLite backend."""
    return engine.dialect.name == "sqlite"


def wait_for_database(engine: Engine, *, attempts: int = 5, first_delay: float = 0.5) -> None:
    """Connect with exponential backoff; raise `DatabaseDown` after the last attempt."""
    delay = first_delay
    for attempt in range(1, attempts + 1):
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return
        except (OperationalError, DBAPIError) as exc:
            logger.warning(
                "database not reachable (attempt %d/%d): %s",
                attempt,
                attempts,
                type(exc.orig).__name__ if exc.orig is not None else type(exc).__name__,
            )
            if attempt == attempts:
                raise DatabaseDown(
                    f"cannot reach the database at {safe_url(str(engine.url))}"
                ) from None
            time.sleep(delay)
            delay *= 2


def safe_url(url: str) -> str:
    """The URL with any password hidden, for messages."""
    return make_url(url).render_as_string(hide_password=True)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def transaction_block(conn: Connection) -> Iterator[None]:
    """Make the statements inside commit together, also on a connection in autocommit.

    Inside a SQLAlchemy transaction this adds nothing (the transaction already makes
    them atomic). On a connection in autocommit it sends BEGIN and COMMIT itself, and
    ROLLBACK when the block raises.
    """
    if not in_autocommit(conn):
        yield
        return
    conn.exec_driver_sql("BEGIN")
    try:
        yield
    except BaseException:
        with suppress(Exception):  # a dead connection: the server rolled back already
            conn.exec_driver_sql("ROLLBACK")
        raise
    conn.exec_driver_sql("COMMIT")


def in_autocommit(conn: Connection) -> bool:
    """True when each statement on `conn` commits by itself (driver or SQLAlchemy setting)."""
    if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        return True
    return getattr(conn.connection.dbapi_connection, "autocommit", False) is True


@contextmanager
def driver_autocommit(conn: Connection) -> Iterator[None]:
    """Run the block with the driver committing each statement (PostgreSQL).

    Set on the psycopg connection itself, a client-side flag: SQLAlchemy's
    `isolation_level` option costs several times more per unit on the hot path. The
    connection goes back to the pool with the flag off, or is invalidated if that fails.
    """
    dbapi_conn = conn.connection.dbapi_connection
    dbapi_conn.autocommit = True  # type: ignore[union-attr]
    try:
        yield
    finally:
        if not conn.invalidated:
            try:
                if conn.in_transaction():
                    conn.rollback()
                dbapi_conn.autocommit = False  # type: ignore[union-attr]
            except Exception:
                # Never let a pooled connection keep committing statement by statement.
                conn.invalidate()
                raise
