"""`byokbot migrate --to REV`: down and up to a named revision, one-line errors."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect

from bot.vault.masterkey import generate_key
from storage.engine import make_engine
from storage.migrate import MIGRATIONS
from tests.kits.helpers import run_byokbot

REVISIONS = sorted(path.name.split("_", 1)[0] for path in (MIGRATIONS / "versions").glob("0*.py"))
HEAD = REVISIONS[-1]


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _migrate(url: str, cwd: Path, *args: str) -> tuple[int, str, str]:
    result = run_byokbot("migrate", *args, env={"BYOKBOT_DATABASE_URL": url}, cwd=cwd)
    return result.returncode, result.stdout.strip(), result.stderr


def test_migrate_to_goes_down_and_back_up(tmp_path: Path, empty_database_url: str) -> None:
    url = empty_database_url
    assert _migrate(url, tmp_path)[:2] == (0, f"database at revision {HEAD}")
    at_head = _tables(url)
    assert "budget_leases" in at_head  # added by 0004

    code, out, err = _migrate(url, tmp_path, "--to", "0003")
    assert (code, out) == (0, "database at revision 0003"), err
    assert "budget_leases" not in _tables(url) and "pending_forms" in _tables(url)
    assert _migrate(url, tmp_path, "--to", "0003")[:2] == (0, "database at revision 0003")

    assert _migrate(url, tmp_path, "--to", "0001")[:2] == (0, "database at revision 0001")
    assert _migrate(url, tmp_path, "--to", "0002")[:2] == (0, "database at revision 0002")
    assert _migrate(url, tmp_path, "--to", "head")[:2] == (0, f"database at revision {HEAD}")
    assert _tables(url) == at_head

    code, out, _err = _migrate(url, tmp_path, "--to", "base")
    assert (code, out) == (0, "database at revision base (empty)")
    assert _tables(url) <= {"alembic_version"}
    assert _migrate(url, tmp_path)[:2] == (0, f"database at revision {HEAD}")


def test_migrate_to_an_unknown_revision_is_one_line(
    tmp_path: Path, empty_database_url: str
) -> None:
    url = empty_database_url
    assert _migrate(url, tmp_path)[0] == 0
    code, _out, err = _migrate(url, tmp_path, "--to", "9999")
    assert code == 2 and "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("byokbot: error: cannot migrate the database") and "9999" in last
    assert _migrate(url, tmp_path, "--to", HEAD)[:2] == (0, f"database at revision {HEAD}")


def test_migrate_help_names_the_option(tmp_path: Path) -> None:
    result = run_byokbot("migrate", "--help", env={}, cwd=tmp_path)
    assert result.returncode == 0 and "--to REV" in result.stdout


def test_a_start_migrates_a_database_behind_and_only_then(
    tmp_path: Path, empty_database_url: str
) -> None:
    """A start skips Alembic at the head only: one revision behind, it still migrates."""
    url = empty_database_url
    env = {"BYOKBOT_DATABASE_URL": url, "BYOKBOT_MASTER_KEY": generate_key()}
    first = run_byokbot("shell", env=env, cwd=tmp_path, stdin="/byok help\n")
    assert first.returncode == 0, first.stderr
    assert f"database migrated from empty to {HEAD}" in first.stderr
    tables = _tables(url)
    previous = REVISIONS[-2]
    assert _migrate(url, tmp_path, "--to", previous)[:2] == (0, f"database at revision {previous}")

    behind = run_byokbot("shell", env=env, cwd=tmp_path, stdin="/byok help\n")
    assert behind.returncode == 0, behind.stderr
    assert f"database migrated from {previous} to {HEAD}" in behind.stderr
    assert _tables(url) == tables
    at_head = run_byokbot("shell", env=env, cwd=tmp_path, stdin="/byok help\n")
    assert at_head.returncode == 0, at_head.stderr
    assert "database migrated" not in at_head.stderr
    assert _migrate(url, tmp_path)[:2] == (0, f"database at revision {HEAD}")
