"""Worker processes raced against one database: started, all ready, released at once.

Each worker (a `tests.kits.*_worker` module) connects, touches `ready-<pid>` in the test's
folder, waits for the `go` file, runs its calls and prints one JSON line of counts. The
race starts only when every worker is ready, so they all hit the database together.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.kits.helpers import REPO, clean_env


@dataclass(frozen=True)
class Finished:
    """What the workers printed: each one's counts (its last JSON line) and its stderr."""

    results: list[dict[str, Any]]
    stderr: list[str]

    def total(self, name: str) -> int:
        """The sum of one count over every worker."""
        return sum(int(result[name]) for result in self.results)


def start(
    module: str, args: Sequence[str], *, count: int, env: Mapping[str, str] | None = None
) -> list[subprocess.Popen[str]]:
    """`count` processes of `python -m module ARGS`, started from the repository."""
    environment = clean_env({**(env or {}), "PYTHONPATH": str(REPO)})
    command = [sys.executable, "-m", module, *args]
    return [
        subprocess.Popen(
            command,
            cwd=REPO,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]


def release(
    workers: Sequence[subprocess.Popen[str]], *, folder: Path, go: Path, timeout: float = 300
) -> Finished:
    """Wait until every worker is ready, touch `go`, and collect what each printed."""
    deadline = time.monotonic() + 120
    while len(list(folder.glob("ready-*"))) < len(workers):
        assert time.monotonic() < deadline, "workers did not get ready"
        assert all(w.poll() is None for w in workers), [w.communicate() for w in workers]
        time.sleep(0.02)
    go.touch()
    results, errors = [], []
    for worker in workers:
        out, err = worker.communicate(timeout=timeout)
        # Exit 0 with no traceback: a deadlock or a crash in any worker fails the race.
        assert worker.returncode == 0 and "Traceback" not in err, err
        results.append(json.loads(out.strip().splitlines()[-1]))
        errors.append(err)
    return Finished(results, errors)
