"""Rewrite tests/durations.json, the seconds per test that split `make test`'s shards.

Run the suites with `BYOKBOT_TEST_DURATIONS_LOG=FILE` (conftest.py appends one line per
test phase: backend, test id, seconds), then merge the log into the committed file:

    BYOKBOT_TEST_DURATIONS_LOG=/tmp/durations.log make test
    .venv/bin/python -m tests.kits.record_durations /tmp/durations.log

Tests the log does not mention keep their recorded seconds; tests no longer collected are
harmless (the split ignores them). To start over from a whole run, write `{}` into
tests/durations.json before merging.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

from tests.kits.shards import DURATIONS


def merge(logs: list[Path], *, into: Path = DURATIONS) -> dict[str, dict[str, float]]:
    """Sum each test's phases per backend from `logs` over the table in `into`; write it."""
    measured: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for log in logs:
        for line in log.read_text(encoding="utf-8").splitlines():
            backend, nodeid, seconds = line.split("\t")
            measured[backend][nodeid] += float(seconds)
    table: dict[str, dict[str, float]] = {"sqlite": {}, "postgres": {}}
    if into.exists():
        table.update(json.loads(into.read_text(encoding="utf-8")))
    for backend, tests in measured.items():
        table.setdefault(backend, {}).update({k: round(v, 2) for k, v in tests.items()})
    table = {b: dict(sorted(t.items())) for b, t in sorted(table.items())}
    into.write_text(json.dumps(table, indent=0) + "\n", encoding="utf-8")
    return table


if __name__ == "__main__":
    merged = merge([Path(arg) for arg in sys.argv[1:]])
    print({backend: len(tests) for backend, tests in merged.items()})
