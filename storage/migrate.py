"""Apply and revert Alembic migrations programmatically (`byokbot migrate`).

Alembic (and Mako, Pygments under it) is imported by the functions that run it, not by
this module: every `byokbot` start reads the schema revision, and a database already at
`schema_head()` needs no migration, so most starts never load it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
VERSIONS = MIGRATIONS / "versions"
# Alembic's default version table, which migrations/env.py keeps.
VERSION_TABLE = "alembic_version"
# `revision = "0007"` and `down_revision = "0006"` (None, or a tuple at a merge), optionally
# annotated, as Alembic's script template writes them.
_ASSIGNED = re.compile(
    r"^(revision|down_revision)\s*(?::[^=\n]*)?=\s*(.*?)\s*(?:#.*)?$", re.MULTILINE
)
_QUOTED = re.compile(r"""["']([^"'\n]+)["']""")


def schema_head(versions: Path = VERSIONS) -> str | None:
    """The one head revision of the migration scripts, read without Alembic; None if unsure.

    A database at this revision needs no migration. Anything this cannot read plainly
    (two heads, an odd assignment) gives None, and callers then leave it to Alembic.
    tests/test_migrations.py proves it equals Alembic's head.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted(versions.glob("*.py")):
        script = path.read_text("utf-8")
        found = {match[1]: match[2] for match in _ASSIGNED.finditer(script)}
        revision = _QUOTED.fullmatch(found.get("revision", ""))
        down = found.get("down_revision")
        down_ids = _QUOTED.findall(down or "")
        if revision is None or down is None or (down != "None" and not down_ids):
            return None
        revisions.add(revision.group(1))
        parents.update(down_ids)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _config(engine: Engine) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database to `revision` (default: the newest)."""
    from alembic import command

    cfg = _config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Downgrade the database to `revision` (e.g. "-1")."""
    from alembic import command

    cfg = _config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with engine.connect() as conn:
        # What Alembic's MigrationContext reads, without importing Alembic.
        if not inspect(conn).has_table(VERSION_TABLE):
            return None
        rows = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
        if len(rows) <= 1:
            return rows[0] if rows else None
        # Several heads: Alembic raises its own error for that, as it always did here.
        from alembic.runtime.migration import MigrationContext

        return MigrationContext.configure(conn).get_current_revision()


def autogenerate(engine: Engine, message: str) -> None:
    """Write a new revision comparing the models with the database (developer tool)."""
    from alembic import command

    cfg = _config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.revision(cfg, message=message, autogenerate=True)


def migrate_to(engine: Engine, revision: str) -> None:
    """Upgrade or downgrade to `revision` ("head", "base" or an id), whichever way it lies."""
    from alembic.script import ScriptDirectory
    from alembic.script.revision import RevisionError
    from alembic.util import CommandError

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
