"""tests/kits/pgpool.py: each test its own database, made ahead and dropped behind."""

from __future__ import annotations

import itertools
import threading

import pytest

from tests.kits.pgpool import DatabasePool


def test_every_database_is_handed_out_once_and_all_are_dropped_on_close() -> None:
    counter = itertools.count()
    made: list[str] = []
    dropped: list[str] = []
    lock = threading.Lock()

    def create() -> str:
        name = f"db{next(counter)}"
        with lock:
            made.append(name)
        return name

    def drop(name: str) -> None:
        with lock:
            dropped.append(name)

    pool = DatabasePool(create=create, drop=drop)
    taken = [pool.take(timeout=10) for _ in range(5)]
    assert len(set(taken)) == 5
    for name in taken:
        pool.release(name)
    pool.close()
    # The spare made ahead is dropped too: nothing is left behind.
    assert sorted(dropped) == sorted(made) and set(taken) <= set(dropped)


def test_a_failure_to_make_one_fails_each_test_that_asks() -> None:
    def create() -> str:
        raise RuntimeError("server down")

    pool = DatabasePool(create=create, drop=lambda name: None)
    for _ in range(2):
        with pytest.raises(RuntimeError, match="server down"):
            pool.take(timeout=10)
    pool.close()
