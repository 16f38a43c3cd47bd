"""Shared fixtures: fresh databases per test on SQLite or PostgreSQL, keys, log capture.

The backend of `database_url`/`engine` is chosen by `BYOKBOT_TEST_DB=sqlite|postgres`
(default sqlite); the PostgreSQL server by `BYOKBOT_TEST_POSTGRES_URL`. A migrated
template is built once per session and copied per test (a file copy on SQLite,
`CREATE DATABASE … TEMPLATE …` on PostgreSQL), so each test gets an isolated,
migrated, empty database quickly. When PostgreSQL is needed but unreachable, the
test FAILS: a run that silently skipped the PostgreSQL half would prove nothing.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from bot.services import Services
from bot.vault.masterkey import generate_key
from storage.engine import make_engine
from storage.migrate import upgrade
from tests.kits import shards
from tests.kits.logcapture import LogCapture
from tests.kits.pgpool import DatabasePool
from tests.kits.turnkit import World, make_services
from tests.netguard import sitecustomize as netguard

BACKEND = os.environ.get("BYOKBOT_TEST_DB", "sqlite").strip().lower()
POSTGRES_URL = os.environ.get(
    "BYOKBOT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


# The fixtures through which a test depends on the run's backend.
BACKEND_FIXTURES = frozenset({"database_url", "empty_database_url", "module_database_url"})


def pytest_configure(config: pytest.Config) -> None:
    """Reject an unknown backend, and keep the test process on this machine."""
    netguard.install()
    if BACKEND not in ("sqlite", "postgres"):
        raise pytest.UsageError(f"BYOKBOT_TEST_DB must be sqlite or postgres, not {BACKEND!r}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On the PostgreSQL run, run only the tests whose outcome depends on the backend.

    `make test` runs the suite twice, once per backend. A test that never touches the
    run's database (grammar, wire formats, tests that name `pg_url`/`sqlite_url` and so
    run the same either way) proves nothing new the second time, so the PostgreSQL run
    deselects it (deselected, not skipped: the SQLite run has already run it).
    `BYOKBOT_TEST_ALL=1` runs everything on either backend.

    `BYOKBOT_TEST_SHARD=k/n` keeps the k-th of n shards (tests/kits/shards.py: split by
    recorded duration). With `BYOKBOT_TEST_SPREAD=1` (tests/run-suites, when it runs n
    shards of each backend) the database-independent tests run once in all, each in
    whichever of the 2n shards has room, on either backend.
    """
    k, n = _shard(os.environ.get("BYOKBOT_TEST_SHARD", "1/1"))
    run_all = os.environ.get("BYOKBOT_TEST_ALL") == "1"
    spread = os.environ.get("BYOKBOT_TEST_SPREAD") == "1" and not run_all
    backends = ["sqlite", "postgres"] if spread else [BACKEND]
    runs: list[shards.Run] = []
    groups: list[str | None] = []
    for item in items:
        before = len(runs)
        if set(getattr(item, "fixturenames", ())) & BACKEND_FIXTURES:
            runs += [(b, item.nodeid) for b in backends]
        elif spread:
            runs.append((shards.ANY, item.nodeid))
        elif BACKEND != "postgres" or run_all:
            runs.append((BACKEND, item.nodeid))
        groups += [_shared_group(item)] * (len(runs) - before)
    where = shards.plan(runs, shards.load_durations(), backends=backends, shards=n, groups=groups)
    ours = {run for run, slot in zip(runs, where, strict=True) if slot == (BACKEND, k - 1)}
    _record_shard(BACKEND, k, n, everything=runs, ours=ours)
    keep = [item for item in items if {(BACKEND, item.nodeid), (shards.ANY, item.nodeid)} & ours]
    if len(keep) < len(items):
        kept = set(map(id, keep))
        config.hook.pytest_deselected(items=[item for item in items if id(item) not in kept])
        items[:] = keep


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """With `BYOKBOT_TEST_DURATIONS_LOG=FILE`, append each phase's seconds (for the shards).

    tests/kits/record_durations.py turns the log into tests/durations.json.
    """
    log = os.environ.get("BYOKBOT_TEST_DURATIONS_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as out:
            out.write(f"{BACKEND}\t{report.nodeid}\t{report.duration:.4f}\n")


def _shared_group(item: pytest.Item) -> str | None:
    """The test's shard group: its file, "many_processes", or None (placed on its own).

    A module- or class-scoped fixture of ours is a process or database the module's tests
    share (a `byokbot serve`, a shell): the shards keep those tests together so it starts
    once, not once per shard. The `many_processes` races share one shard too.
    """
    if item.get_closest_marker("many_processes"):
        # Each opens dozens of database connections: two at once could pass the server's
        # max_connections (100 by default), so they all share one shard and take turns.
        return "many_processes"
    info = getattr(item, "_fixtureinfo", None)
    for defs in getattr(info, "name2fixturedefs", {}).values():
        for fixture in defs:
            ours = getattr(fixture.func, "__module__", "").startswith("tests.")
            if ours and fixture.scope in ("module", "class"):
                return item.nodeid.split("::", 1)[0]
    return None


def _record_shard(
    backend: str, k: int, n: int, *, everything: list[shards.Run], ours: set[shards.Run]
) -> None:
    """With `BYOKBOT_TEST_SHARD_RECORD=DIR`, write the runs this shard planned and its own.

    tests/run-suites sets it and checks that the shards together make every planned run
    exactly once.
    """
    folder = os.environ.get("BYOKBOT_TEST_SHARD_RECORD")
    if not folder:
        return
    stem = Path(folder) / f"{backend}-{k}-of-{n}"
    planned = "".join(f"{b}\t{nodeid}\n" for b, nodeid in everything)
    mine = "".join(f"{b}\t{nodeid}\n" for b, nodeid in everything if (b, nodeid) in ours)
    stem.with_suffix(".all").write_text(planned, encoding="utf-8")
    stem.with_suffix(".ours").write_text(mine, encoding="utf-8")


def _shard(text: str) -> tuple[int, int]:
    """`k/n` with 1 <= k <= n; a usage error otherwise."""
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        k = n = 0
    if not 1 <= k <= n:
        raise pytest.UsageError(f"BYOKBOT_TEST_SHARD must look like 2/3, not {text!r}")
    return k, n


class PostgresServer:
    """Creates and drops uniquely named databases on the test server."""

    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        self._libpq = self.url.set(drivername="postgresql").render_as_string(hide_password=False)

    def _admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self._libpq, autocommit=True, connect_timeout=5)

    def check(self) -> None:
        """Fail the test run loudly if the server cannot be reached."""
        try:
            with self._admin() as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as exc:
            pytest.fail(
                f"PostgreSQL is required but not reachable at "
                f"{self.url.render_as_string(hide_password=True)}: {exc}. "
                "Start it (make test does) or set BYOKBOT_TEST_POSTGRES_URL.",
                pytrace=False,
            )

    def create(self, *, template: str | None = None) -> str:
        """Create a new database (optionally from `template`) and return its name."""
        name = f"byok_{uuid.uuid4().hex[:16]}"
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            query = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        with self._admin() as conn:
            conn.execute(query)
        return name

    def drop(self, name: str) -> None:
        """Drop a database, disconnecting anyone still on it."""
        with self._admin() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def url_for(self, name: str) -> str:
        """SQLAlchemy URL of database `name` on this server."""
        return self.url.set(database=name).render_as_string(hide_password=False)


def _migrate(url: str) -> None:
    engine = make_engine(url)
    try:
        upgrade(engine)
        if engine.dialect.name == "sqlite":
            # Fold the WAL into the main file so a plain file copy is complete.
            with engine.connect() as conn:
                conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def postgres_server() -> PostgresServer:
    """The PostgreSQL test server (fails the test if it is down)."""
    server = PostgresServer(POSTGRES_URL)
    server.check()
    return server


@pytest.fixture(scope="session")
def _pg_template(postgres_server: PostgresServer) -> Iterator[str]:
    name = postgres_server.create()
    try:
        _migrate(postgres_server.url_for(name))
        yield name
    finally:
        postgres_server.drop(name)


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    _migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def _pg_databases(postgres_server: PostgresServer, _pg_template: str) -> Iterator[DatabasePool]:
    # Made one ahead and dropped behind, off the tests' clock (tests/kits/pgpool.py).
    pool = DatabasePool(
        create=lambda: postgres_server.create(template=_pg_template), drop=postgres_server.drop
    )
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def pg_url(postgres_server: PostgresServer, _pg_databases: DatabasePool) -> Iterator[str]:
    """A fresh, migrated, empty PostgreSQL database URL, whatever the run's backend."""
    name = _pg_databases.take()
    try:
        yield postgres_server.url_for(name)
    finally:
        _pg_databases.release(name)


@pytest.fixture
def pg_empty_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh PostgreSQL database with no tables at all (for migration tests)."""
    name = postgres_server.create()
    try:
        yield postgres_server.url_for(name)
    finally:
        postgres_server.drop(name)


@pytest.fixture
def sqlite_url(_sqlite_template: Path, tmp_path: Path) -> str:
    """A fresh, migrated, empty SQLite database file URL, whatever the run's backend."""
    target = tmp_path / "byokbot.db"
    shutil.copyfile(_sqlite_template, target)
    return f"sqlite:///{target}"


@pytest.fixture
def database_url(request: pytest.FixtureRequest) -> str:
    """A fresh, migrated, empty database URL on the run's backend (BYOKBOT_TEST_DB)."""
    name = "pg_url" if BACKEND == "postgres" else "sqlite_url"
    url: str = request.getfixturevalue(name)
    return url


@pytest.fixture(scope="module")
def module_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated database on the run's backend that one module's tests share.

    Empty when the module's first test starts, NOT between tests: for a module whose tests
    share one long-running `byokbot` process (starting one per test is what costs CPU).
    """
    if BACKEND == "postgres":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        pool: DatabasePool = request.getfixturevalue("_pg_databases")
        name = pool.take()
        try:
            yield server.url_for(name)
        finally:
            pool.release(name)
        return
    template: Path = request.getfixturevalue("_sqlite_template")
    target = tmp_path_factory.mktemp("module-db") / "byokbot.db"
    shutil.copyfile(template, target)
    yield f"sqlite:///{target}"


@pytest.fixture
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with no tables on the run's backend."""
    if BACKEND == "postgres":
        url: str = request.getfixturevalue("pg_empty_url")
        return url
    return f"sqlite:///{tmp_path / 'empty.db'}"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on `database_url`, disposed after the test."""
    eng = make_engine(database_url)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def master_key() -> str:
    """A fresh master key: base64 of 32 random bytes."""
    return generate_key()


@pytest.fixture
async def services(engine: Engine, master_key: str) -> AsyncIterator[Services]:
    """The core's services on `engine`, with providers allowed to reach the local fakes."""
    svc = make_services(engine, master_key)
    yield svc
    await svc.providers.aclose()


@pytest.fixture
def world(services: Services) -> World:
    """Rows of the workspace `slack:T1` (created), made directly for a test."""
    w = World(services)
    w.workspace()
    return w


@pytest.fixture
def log_capture() -> Iterator[LogCapture]:
    """Every record of every logger at DEBUG during the test; `.text` is all of it, rendered."""
    capture = LogCapture()
    with capture.installed():
        yield capture


def pytest_report_header() -> list[str]:
    """Show which database backend this run uses."""
    return [f"byokbot test database: {BACKEND}"]
