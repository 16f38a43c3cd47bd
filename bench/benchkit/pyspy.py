"""A py-spy profile of a bench target, and its samples by package (inclusive)."""

from __future__ import annotations

import collections
import contextlib
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

_FILE = re.compile(r"\((?P<path>[^():]+\.py)(?::\d+)?\)")


def py_spy() -> str:
    """The py-spy beside this interpreter, or on PATH."""
    here = Path(sys.executable).parent / "py-spy"
    found = str(here) if here.exists() else shutil.which("py-spy")
    if found is None:
        raise SystemExit("--profile needs py-spy (pip install py-spy)")
    return found


@contextlib.contextmanager
def profiled(
    pid: int, output: Path | None, *, rate: int = 250, gil: bool = False
) -> Iterator[None]:
    """Sample `pid` with py-spy (collapsed stacks into `output`) while the block runs;
    nothing when `output` is None. `gil`: only the thread holding the GIL (Python's own
    CPU, without the waits for the GIL that threads otherwise show as busy)."""
    if output is None:
        yield
        return
    command = [py_spy(), "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw"]
    if gil:
        command.append("--gil")
    spy = subprocess.Popen(
        [*command, "--output", str(output), "--nonblocking"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes the file on SIGINT
        try:
            spy.wait(30)
        except subprocess.TimeoutExpired:
            spy.kill()
            spy.wait()


def package_of(path: str) -> str:
    """The top package of a frame's file as py-spy names it: `sqlalchemy/engine/base.py`
    -> sqlalchemy, `bot/core.py` -> bot, `threading.py` -> threading; absolute paths
    (outside site-packages and the standard library) -> their last folder."""
    parts = Path(path).parts
    if "site-packages" in parts:
        parts = parts[parts.index("site-packages") + 1 :]
    elif Path(path).is_absolute():
        parts = parts[-2:]
    return parts[0].removesuffix(".py") if parts else "?"


def by_package(collapsed: Path, *, top: int = 14) -> list[tuple[str, float]]:
    """Share of samples (0..1) in which each package appears anywhere on the stack."""
    totals: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        samples += n
        for package in {package_of(m["path"]) for m in _FILE.finditer(stack)}:
            totals[package] += n
    return [(p, c / max(samples, 1)) for p, c in totals.most_common(top)]
