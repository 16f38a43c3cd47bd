"""Hunting planted secrets: the forms a stored plaintext could take, in every database byte.

`database_bytes` is the whole database as bytes: the SQLite file with its -wal/-shm/
-journal files (rows may still sit in the WAL), or a complete `pg_dump` on PostgreSQL.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url


def encodings(secret: str) -> list[bytes]:
    """The secret as stored plaintext could appear: raw, hex (bytea dumps), base64, UTF-16."""
    raw = secret.encode()
    return [raw, raw.hex().encode(), base64.b64encode(raw), secret.encode("utf-16-le")]


def assert_absent(blob: bytes, secrets: list[str], *, where: str) -> None:
    """Fail when any form of any of `secrets` is in `blob` (without printing the secret)."""
    for secret in secrets:
        for form in encodings(secret):
            assert form not in blob, f"a planted secret is in {where}"


def sqlite_bytes(url: str) -> bytes:
    """The SQLite database file and its WAL, shared-memory and journal files."""
    path = Path(make_url(url).database or "")
    parts = [path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")]
    return b"".join(p.read_bytes() for p in parts if p.exists())


def pg_dump(url: str) -> bytes:
    """A complete plain-text dump of the PostgreSQL database."""
    binary = shutil.which("pg_dump") or "/usr/lib/postgresql/15/bin/pg_dump"
    libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    result = subprocess.run(
        [binary, "--dbname", libpq], capture_output=True, timeout=60, check=True
    )
    assert b"CREATE TABLE public.provider_keys" in result.stdout  # a real, complete dump
    return result.stdout


def database_bytes(url: str) -> bytes:
    """Every byte the database at `url` holds (SQLite files or a pg_dump)."""
    return sqlite_bytes(url) if url.startswith("sqlite") else pg_dump(url)
