"""Which shard runs which test: by recorded duration, so `make test`'s shards end together.

A run is a test on a backend: `("sqlite", id)`, `("postgres", id)`, or `(ANY, id)` for a
test that never touches the run's database and so runs once, on whichever backend's shard
has room (tests/run-suites asks for that when it runs both backends' shards). A slot is a
shard of a backend. tests/durations.json holds each test's seconds (setup + call +
teardown) per backend, from a whole run. Known runs go, longest first (those bound to a
backend before the free ones), to the allowed slot with the least work so far; a test the
file does not know (new or renamed) counts as the mean of its file's recorded tests, or of
all. Every shard computes the same plan from the same collection, so each run happens in
exactly one shard. Refresh the file with tests/kits/record_durations.py when the split drifts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

DURATIONS = Path(__file__).resolve().parents[1] / "durations.json"
#: the backend of a run that may happen on any backend's shard
ANY = "any"

Run = tuple[str, str]
Slot = tuple[str, int]


def load_durations(*, path: Path = DURATIONS) -> dict[str, dict[str, float]]:
    """The recorded seconds per backend and test id (empty if the file is missing)."""
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    return {str(b): {str(k): float(v) for k, v in t.items()} for b, t in table.items()}


def plan(
    runs: Sequence[Run],
    durations: Mapping[str, Mapping[str, float]],
    *,
    backends: Sequence[str],
    shards: int,
    groups: Sequence[str | None] | None = None,
) -> list[Slot]:
    """The slot of each of `runs`, in order: greedy by recorded (or estimated) seconds.

    Runs of one backend that share a group name (tests of a module that share a
    module-scoped process, conftest.py) go to one slot together, as one unit: split over
    several shards, that process would start once in each of them.
    """
    if shards < 1:
        raise ValueError(f"shards must be >= 1, not {shards}")
    slots = [(backend, s) for backend in backends for s in range(shards)]
    allowed = {b: [slot for slot in slots if slot[0] == b] for b in backends} | {ANY: slots}
    load = dict.fromkeys(slots, 0.0)
    guess = _Estimates(durations, backends)
    units: dict[tuple[str, str], list[int]] = {}
    for i, run in enumerate(runs):
        group = groups[i] if groups is not None else None
        units.setdefault((run[0], f"group\0{group}" if group else run[1]), []).append(i)
    seconds = {key: sum(guess.seconds(runs[i]) for i in members) for key, members in units.items()}
    # The units bound to a backend first (they have no choice), then the free ones fill in.
    order = sorted(units, key=lambda key: (key[0] == ANY, -seconds[key], key))
    result: list[Slot] = [slots[0]] * len(runs)
    for key in order:
        # The least-loaded slot; the first on a tie, so every shard agrees.
        target = min(allowed[key[0]], key=lambda slot: (load[slot], slots.index(slot)))
        for i in units[key]:
            result[i] = target
        load[target] += seconds[key]
    return result


class _Estimates:
    """A run's recorded seconds; else the mean of its file's on that backend, or of all."""

    def __init__(self, durations: Mapping[str, Mapping[str, float]], backends: Sequence[str]):
        self._durations = durations
        self._backends = backends
        self._by_file: dict[tuple[str, str], list[float]] = {}
        for backend, table in durations.items():
            for nodeid, seconds in table.items():
                self._by_file.setdefault((backend, _file(nodeid)), []).append(seconds)
        self._means = {b: sum(t.values()) / len(t) for b, t in durations.items() if t}

    def seconds(self, run: Run) -> float:
        backend, nodeid = run
        candidates = self._backends if backend == ANY else (backend,)
        for b in candidates:
            if nodeid in self._durations.get(b, {}):
                return self._durations[b][nodeid]
        for b in candidates:
            if same_file := self._by_file.get((b, _file(nodeid))):
                return sum(same_file) / len(same_file)
        return next((self._means[b] for b in candidates if b in self._means), 1.0)


def _file(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]
