"""`make test`'s shards: split by recorded duration, and together every test exactly once."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.kits import shards

RUN_SUITES = Path(__file__).resolve().parent / "run-suites"
IDS = [f"tests/test_x.py::test_{i}" for i in range(40)]


def test_every_run_lands_in_exactly_one_allowed_slot() -> None:
    runs = [(b, n) for b in ("sqlite", "postgres") for n in IDS[:10]]
    runs += [(shards.ANY, n) for n in IDS[10:]]
    durations = {"sqlite": {n: float(i % 7) + 0.01 for i, n in enumerate(IDS[:30])}}
    where = shards.plan(runs, durations, backends=["sqlite", "postgres"], shards=3)
    assert len(where) == len(runs)
    assert all(slot[0] == run[0] for run, slot in zip(runs, where, strict=True) if run[0] != "any")
    assert {slot for run, slot in zip(runs, where, strict=True) if run[0] == "any"} == {
        (b, s) for b in ("sqlite", "postgres") for s in range(3)
    }
    # Every shard process computes the same plan from the same collection.
    assert shards.plan(runs, durations, backends=["sqlite", "postgres"], shards=3) == where


def test_long_tests_are_spread_and_loads_even_out() -> None:
    durations = {"sqlite": {IDS[0]: 60.0, IDS[1]: 60.0, IDS[2]: 60.0}}
    durations["sqlite"] |= {n: 1.0 for n in IDS[3:39]}
    runs = [("sqlite", n) for n in IDS[:39]]
    where = shards.plan(runs, durations, backends=["sqlite"], shards=3)
    assert sorted(s for _, s in where[:3]) == [0, 1, 2]
    loads = [
        sum(durations["sqlite"][n] for (_, n), (_, s) in zip(runs, where, strict=True) if s == k)
        for k in range(3)
    ]
    assert max(loads) - min(loads) <= 1.0


def test_independent_tests_fill_the_lighter_backend() -> None:
    durations = {"sqlite": {n: 10.0 for n in IDS[:6]}, "postgres": {n: 1.0 for n in IDS[:6]}}
    runs = [(b, n) for b in ("sqlite", "postgres") for n in IDS[:6]]
    runs += [(shards.ANY, n) for n in IDS[6:10]]
    durations["sqlite"] |= {n: 10.0 for n in IDS[6:10]}
    where = shards.plan(runs, durations, backends=["sqlite", "postgres"], shards=2)
    assert all(
        slot[0] == "postgres" for run, slot in zip(runs, where, strict=True) if run[0] == "any"
    )


def test_unknown_tests_count_as_their_files_mean() -> None:
    durations = {"sqlite": {"tests/test_a.py::slow": 50.0, "tests/test_b.py::quick": 1.0}}
    runs = [("sqlite", "tests/test_a.py::new"), ("sqlite", "tests/test_a.py::slow")]
    runs += [("sqlite", f"tests/test_b.py::new{i}") for i in range(10)]
    where = shards.plan(runs, durations, backends=["sqlite"], shards=2)
    # The two 50 s tests (one recorded, one guessed) go to different shards.
    assert where[0] != where[1]
    assert shards.plan(runs[2:], {}, backends=["sqlite"], shards=2).count(("sqlite", 0)) == 5


def test_the_committed_durations_name_both_backends() -> None:
    table = json.loads(shards.DURATIONS.read_text(encoding="utf-8"))
    assert set(table) == {"sqlite", "postgres"}
    assert all(v >= 0 for backend in table.values() for v in backend.values())
    assert shards.load_durations()["sqlite"]


def _fake_pytest(tmp_path: Path, *, drop: str) -> Path:
    """A stand-in for pytest that records a shard's tests as conftest.py does, minus `drop`."""
    script = tmp_path / "pytest"
    script.write_text(
        "#!/usr/bin/env bash\n"
        "k=${BYOKBOT_TEST_SHARD%/*} n=${BYOKBOT_TEST_SHARD#*/}\n"
        'out="$BYOKBOT_TEST_SHARD_RECORD/$BYOKBOT_TEST_DB-$k-of-$n"\n'
        'printf "a\\nb\\nc\\nd\\n" > "$out.all"\n'
        'if [ "$k" = 1 ]; then printf "a\\nb\\n"; else printf "c\\nd\\n"; fi'
        f' | grep -vx "{drop}" > "$out.ours"\n'
        'echo "2 passed"\n',
        encoding="utf-8",
    )
    script.chmod(0o755)
    return script


def test_run_suites_fails_when_the_shards_miss_a_test(tmp_path: Path) -> None:
    whole = subprocess.run(
        [RUN_SUITES, _fake_pytest(tmp_path, drop="none"), "sqlite:1/2", "sqlite:2/2"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert whole.returncode == 0, whole.stderr
    assert whole.stdout.splitlines()[-1] == "total: 4 passed, 0 failed"
    missing = subprocess.run(
        [RUN_SUITES, _fake_pytest(tmp_path, drop="c"), "sqlite:1/2", "sqlite:2/2"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode == 1
    assert "do not run every planned test exactly once" in missing.stderr


def test_a_group_of_runs_shares_one_slot_per_backend() -> None:
    # Tests of a module sharing a module-scoped `byokbot serve` go to one shard together.
    runs = [(b, n) for b in ("sqlite", "postgres") for n in IDS[:12]]
    groups = [("tests/test_x.py" if i < 8 else None) for i in range(12)] * 2
    durations = {b: {n: 5.0 for n in IDS[:12]} for b in ("sqlite", "postgres")}
    where = shards.plan(runs, durations, backends=["sqlite", "postgres"], shards=3, groups=groups)
    placed = list(zip(runs, where, groups, strict=True))
    for backend in ("sqlite", "postgres"):
        grouped = {slot for (b, _), slot, group in placed if b == backend and group}
        alone = {slot for (b, _), slot, group in placed if b == backend and not group}
        # One slot holds the group (a 40 s unit); the four 5 s runs fill the other two.
        assert len(grouped) == 1 and next(iter(grouped))[0] == backend
        assert alone == {(backend, k) for k in range(3)} - grouped
    assert shards.plan(runs, durations, backends=["sqlite", "postgres"], shards=3) != where
