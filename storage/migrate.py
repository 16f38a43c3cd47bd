"""Apply and revert Alembic migrations programmatically (`byokbot migrate`)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).with_name("migrations")


def _config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database to `revision` (default: the newest)."""
    cfg = _config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Downgrade the database to `revision` (e.g. "-1")."""
    cfg = _config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def autogenerate(engine: Engine, message: str) -> None:
    """Write a new revision comparing the models with the database (developer tool)."""
    cfg = _config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.revision(cfg, message=message, autogenerate=True)


def migrate_to(engine: Engine, revision: str) -> None:
    """Upgrade or downgrade to `revision` ("head", "base" or an id), whichever way it lies."""
    cfg = _config(engine)
    script = ScriptDirectory.from_config(cfg)
    current = current_revision(engine)
    try:
        target = None if revision == "base" else script.get_revision(revision)
        below = (
            set()
            if current is None
            else {r.revision for r in script.iterate_revisions(current, "base")}
        )
    except RevisionError as exc:
        raise CommandError(str(exc)) from None
    if target is not None and target.revision == current:
        return
    if target is None or target.revision in below:
        downgrade(engine, revision)
    else:
        upgrade(engine, revision)
