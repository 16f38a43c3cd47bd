"""A `byokbot shell` on a database at the head loads neither Alembic nor an idle platform's SDK.

Hundreds of test processes and every replica's start pay for each import, so what a start
does not use stays unloaded: Alembic only when the schema is behind (storage/migrate.py),
discord.py and slack_bolt only when that platform is configured (adapters/*/plugin.py).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bot.vault.masterkey import generate_key
from tests.kits.helpers import clean_env

UNUSED = ("alembic", "discord", "slack_bolt", "slack_sdk", "apscheduler")

# Runs the real command in-process, then names the unused packages it loaded.
PROBE = f"""
import sys
from bot.cli import main
code = main(["shell"])
loaded = sorted({{name.split(".")[0] for name in sys.modules}} & set({UNUSED!r}))
print("loaded:" + ",".join(loaded), file=sys.stderr)
sys.exit(code)
"""


def _shell(env: dict[str, str], cwd: Path) -> tuple[str, str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=clean_env(env),
        cwd=cwd,
        input="/byok help\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "/byok key" in result.stdout  # the command was answered
    return result.stderr.strip().splitlines()[-1], result.stderr


def test_a_shell_at_the_head_loads_no_migration_tool_and_no_platform_sdk(tmp_path: Path) -> None:
    env = {
        "BYOKBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'lean.db'}",
        "BYOKBOT_MASTER_KEY": generate_key(),
    }
    first, log = _shell(env, tmp_path)
    assert "database migrated from empty" in log
    assert first == "loaded:alembic"  # a fresh database is migrated, with Alembic
    again, log = _shell(env, tmp_path)
    assert "database migrated" not in log
    assert again == "loaded:"
