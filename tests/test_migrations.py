"""Alembic migrations on SQLite and PostgreSQL: empty -> head, no drift, one step back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import DateTime, inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import storage.models
import storage.slack_models  # the migrations also create its tables
from storage.engine import make_engine
from storage.migrate import MIGRATIONS, current_revision, downgrade, schema_head, upgrade
from tests.kits.helpers import run_byokbot


def _revisions() -> list[str]:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(config)
    assert len(script.get_heads()) == 1, "migrations must have exactly one head"
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


REVISIONS = _revisions()
HEAD = REVISIONS[-1]


@pytest.fixture(params=["sqlite", "postgres"])
def blank_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on an empty database of each backend."""
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_empty_url")
    else:
        url = f"sqlite:///{tmp_path / 'blank.db'}"
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_upgrade_of_an_empty_database_matches_the_models(blank_engine: Engine) -> None:
    assert current_revision(blank_engine) is None
    upgrade(blank_engine)
    assert current_revision(blank_engine) == HEAD
    assert _tables(blank_engine) == set(SQLModel.metadata.tables)
    with blank_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        drift = compare_metadata(context, SQLModel.metadata)
    assert drift == [], f"models and migrations disagree: {drift}"
    # Alembic does not compare timezone awareness; every timestamp column is naive UTC.
    inspector = inspect(blank_engine)
    for table in SQLModel.metadata.sorted_tables:
        for column in inspector.get_columns(table.name):
            if isinstance(column["type"], DateTime):
                where = f"{table.name}.{column['name']}"
                assert not column["type"].timezone, f"{where} must be naive"
    upgrade(blank_engine)  # a second run is a no-op
    assert current_revision(blank_engine) == HEAD


def test_every_step_is_reversible(blank_engine: Engine) -> None:
    seen: list[set[str]] = [set()]
    for revision in REVISIONS:
        upgrade(blank_engine, revision)
        seen.append(_tables(blank_engine))
        downgrade(blank_engine, "-1")
        assert _tables(blank_engine) == seen[-2], f"downgrade of {revision} is incomplete"
        upgrade(blank_engine, revision)
        assert current_revision(blank_engine) == revision
    downgrade(blank_engine, "base")
    assert _tables(blank_engine) == set()


def test_downgrade_keeps_rows_of_untouched_tables(blank_engine: Engine) -> None:
    upgrade(blank_engine)
    with blank_engine.begin() as conn:
        conn.execute(
            text("INSERT INTO workspaces (id, platform, name, timezone, digest_time, "
                 "digest_enabled, created_at) VALUES ('console', 'console', '', 'UTC', "
                 "'09:00', true, CURRENT_TIMESTAMP)")
        )  # fmt: skip
    if len(REVISIONS) > 1:
        downgrade(blank_engine, "-1")
        with blank_engine.connect() as conn:
            assert conn.execute(text("SELECT id FROM workspaces")).scalar() == "console"
        upgrade(blank_engine)
    assert storage.models.Workspace.__tablename__ in _tables(blank_engine)


def test_going_back_from_0007_charges_the_leases_that_recorded_their_cost(
    blank_engine: Engine,
) -> None:
    """0006 has no settled leases: 0007's downgrade charges them as their sweep would."""
    upgrade(blank_engine, "0007")
    with blank_engine.begin() as conn:
        for sql in (
            "INSERT INTO workspaces (id, platform, name, timezone, digest_time, digest_enabled,"
            " created_at) VALUES ('console', 'console', '', 'UTC', '09:00', true,"
            " CURRENT_TIMESTAMP)",
            "INSERT INTO budgets (id, workspace_id, target, period, limit_pusd, soft,"
            " created_by, created_at) VALUES (1, 'console', 'workspace', 'month', 1000, false,"
            " '', CURRENT_TIMESTAMP)",
            "INSERT INTO budget_counters (budget_id, period_start, member, spent_pusd,"
            " reserved_pusd, alert80_sent, alert100_sent) VALUES (1, '2026-12', '', 10, 300,"
            " false, false)",
            "INSERT INTO budget_leases (id, budget_id, period_start, member, amount_pusd,"
            " expires_at, spent_pusd) VALUES ('settled', 1, '2026-12', '', 100,"
            " CURRENT_TIMESTAMP, 40), ('live', 1, '2026-12', '', 200, CURRENT_TIMESTAMP, NULL)",
        ):
            conn.execute(text(sql))
    downgrade(blank_engine, "0006")
    with blank_engine.connect() as conn:
        counter = conn.execute(text("SELECT spent_pusd, reserved_pusd FROM budget_counters"))
        assert tuple(counter.one()) == (50, 200)
        assert conn.execute(text("SELECT id FROM budget_leases")).scalars().all() == ["live"]


def test_migrate_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'data' / 'cli.db'}"
    for _ in range(2):
        result = run_byokbot("migrate", env={"BYOKBOT_DATABASE_URL": url}, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"database at revision {HEAD}"
    engine = make_engine(url)
    try:
        assert _tables(engine) == set(SQLModel.metadata.tables)
    finally:
        engine.dispose()


def test_a_database_from_a_newer_release_is_one_clear_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'future.db'}"
    engine = make_engine(url)
    try:
        upgrade(engine)
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = 'f00dfeed'"))
    finally:
        engine.dispose()
    result = run_byokbot("migrate", env={"BYOKBOT_DATABASE_URL": url}, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("byokbot: error: cannot migrate the database")


def test_schema_head_is_alembics_head() -> None:
    """Starts skip Alembic when the database is at schema_head(): it must be Alembic's head."""
    assert schema_head() == HEAD


def _script(folder: Path, name: str, body: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.py").write_text(
        f'"""{name}"""\n\n{body}\n\n\ndef upgrade() -> None:\n    pass\n'
    )


def test_schema_head_reads_chains_and_merges_and_gives_up_on_the_rest(tmp_path: Path) -> None:
    chain = tmp_path / "chain"
    _script(chain, "a", 'revision = "a1"\ndown_revision = None')
    _script(chain, "b", "revision: str = 'b2'  # annotated, as newer templates write\n"
                        "down_revision: str | None = 'a1'")  # fmt: skip
    assert schema_head(chain) == "b2"
    _script(chain, "c", 'revision = "c3"\ndown_revision = "a1"')  # a second head
    assert schema_head(chain) is None
    _script(chain, "m", 'revision = "m4"\ndown_revision = ("b2", "c3")')  # merged again
    assert schema_head(chain) == "m4"
    odd = tmp_path / "odd"
    _script(odd, "a", 'revision = "a1"\ndown_revision = None')
    _script(odd, "b", 'revision = make_id()\ndown_revision = "a1"')
    assert schema_head(odd) is None
    _script(tmp_path / "stray", "helper", "VALUE = 1")
    assert schema_head(tmp_path / "stray") is None


def test_current_revision_reads_the_version_table_as_alembic_does(blank_engine: Engine) -> None:
    upgrade(blank_engine, REVISIONS[0])
    with blank_engine.begin() as conn:
        conn.execute(text("DELETE FROM alembic_version"))
    assert current_revision(blank_engine) is None  # a version table without a row
    with blank_engine.begin() as conn:
        for revision in ("aaaa", "bbbb"):
            conn.execute(text("INSERT INTO alembic_version VALUES (:v)"), {"v": revision})
    with pytest.raises(CommandError, match="more than one head"):
        current_revision(blank_engine)
