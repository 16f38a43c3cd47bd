"""The master key's outside: parsing, fingerprints, and the key file on disk.

A master key is 32 random bytes written as standard base64. It comes from
`BYOKBOT_MASTER_KEY`, or from the file `BYOKBOT_MASTER_KEY_FILE` (created with mode
0600 only when the database is fresh). Error messages name the source, never the value.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import secrets
import stat
from pathlib import Path

from bot.errors import MasterKeyError

logger = logging.getLogger(__name__)

KEY_BYTES = 32


def generate_key() -> str:
    """A fresh master key as base64 text."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def parse_key(text: str, *, origin: str) -> bytes:
    """Decode a base64 master key; `MasterKeyError` naming `origin` if it is not 32 bytes."""
    cleaned = "".join(text.split())
    if not cleaned:
        raise MasterKeyError(f"master key from {origin} is empty")
    try:
        # Accept the URL-safe alphabet too: people paste keys from many generators.
        raw = base64.b64decode(cleaned.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise MasterKeyError(f"master key from {origin} is not valid base64") from None
    if len(raw) != KEY_BYTES:
        raise MasterKeyError(
            f"master key from {origin} must decode to {KEY_BYTES} bytes, got {len(raw)}"
        )
    return raw


def fingerprint(key: bytes) -> str:
    """A short, non-reversible identifier of a master key (stored as `key_version`)."""
    return hashlib.sha256(b"byokbot-master-key-fingerprint:" + key).hexdigest()[:16]


def read_key_file(path: Path) -> bytes:
    """Read and parse a key file, warning when group or others can read it."""
    origin = f"key file {path}"
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise MasterKeyError(f"master {origin} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not text"
        raise MasterKeyError(f"cannot read master {origin}: {reason}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        logger.warning(
            "master key file %s is accessible by group or others (mode %o); run: chmod 600 %s",
            path,
            stat.S_IMODE(mode),
            path,
        )
    return parse_key(text, origin=origin)


def create_key_file(path: Path) -> bytes:
    """Create `path` with a fresh key, mode 0600; never overwrites an existing file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        # Another process created it first: use theirs.
        return read_key_file(path)
    except OSError as exc:
        raise MasterKeyError(f"cannot create master key file {path}: {exc.strerror}") from None
    text = generate_key()
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(text + "\n")
    # The umask may have narrowed the mode further but never widened it; make it exact.
    os.chmod(path, 0o600)
    logger.warning(
        "created a new master key file at %s (mode 0600); back it up: without it the "
        "stored provider keys cannot be decrypted",
        path,
    )
    return parse_key(text, origin=f"key file {path}")


def parse_old_keys(texts: list[str]) -> list[bytes]:
    """Decode `BYOKBOT_OLD_MASTER_KEYS` entries (1-based positions in errors)."""
    return [
        parse_key(text, origin=f"BYOKBOT_OLD_MASTER_KEYS entry {index}")
        for index, text in enumerate(texts, start=1)
    ]
