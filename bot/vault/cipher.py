"""The key vault's cipher: AES-256-GCM, each ciphertext bound to its workspace and key id.

Every seal uses a fresh random 96-bit nonce; the associated data
``byokbot:v1:<workspace_id>:<key_id>`` makes a ciphertext copied to another row fail
authentication. ``key_version`` records which master key sealed a row (its
fingerprint), so keys listed in ``BYOKBOT_OLD_MASTER_KEYS`` still open older rows.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bot.errors import DecryptionError, MasterKeyError, VaultError
from bot.vault.masterkey import KEY_BYTES, fingerprint

NONCE_BYTES = 12
_PREFIX = re.compile(r"^(?:[A-Za-z]{2,4}[-_]|AIza)")


@dataclass(frozen=True, slots=True)
class Sealed:
    """A sealed secret as stored: ciphertext (with GCM tag), nonce, master key fingerprint."""

    ciphertext: bytes
    nonce: bytes
    key_version: str


def associated_data(*, workspace_id: str, key_id: str) -> bytes:
    """The AES-GCM associated data binding a ciphertext to its row."""
    # Workspace ids contain ":" ("slack:T1"); key ids must not, or ("slack", "T1:k")
    # would bind to the same bytes as ("slack:T1", "k").
    if ":" in key_id:
        raise VaultError("a key id must not contain ':'")
    return f"byokbot:v1:{workspace_id}:{key_id}".encode()


class Vault:
    """Seals and unseals provider keys under the master key (old keys open older rows)."""

    __slots__ = ("_ciphers", "_current", "_keys")

    def __init__(self, master_key: bytes, *, old_keys: Sequence[bytes] = ()) -> None:
        for candidate in (master_key, *old_keys):
            if len(candidate) != KEY_BYTES:
                raise MasterKeyError(
                    f"a master key must be {KEY_BYTES} bytes, got {len(candidate)}"
                )
        self._current = fingerprint(master_key)
        # Raw keys are kept (privately) so a rotation can carry them into the next vault.
        self._keys: dict[str, bytes] = {self._current: master_key}
        for old in old_keys:
            self._keys.setdefault(fingerprint(old), old)
        self._ciphers = {version: AESGCM(key) for version, key in self._keys.items()}

    def __repr__(self) -> str:
        return f"Vault(fingerprint={self._current!r}, keys={len(self._keys)})"

    @property
    def fingerprint(self) -> str:
        """Fingerprint of the current master key (the `key_version` of new seals)."""
        return self._current

    @property
    def known_versions(self) -> frozenset[str]:
        """Fingerprints of every master key this vault can open with."""
        return frozenset(self._keys)

    def all_keys(self) -> list[bytes]:
        """Every master key, current first (for building the vault of a rotation)."""
        return list(self._keys.values())

    def seal(self, secret: str, *, workspace_id: str, key_id: str) -> Sealed:
        """Encrypt `secret` for the row (workspace_id, key_id) with a fresh nonce."""
        aad = associated_data(workspace_id=workspace_id, key_id=key_id)
        nonce, ciphertext = self.seal_bytes(secret.encode("utf-8"), aad=aad)
        return Sealed(ciphertext=ciphertext, nonce=nonce, key_version=self._current)

    def unseal(self, sealed: Sealed, *, workspace_id: str, key_id: str) -> str:
        """Decrypt a row's secret; `DecryptionError` if tampered, moved, or of an unknown key."""
        if ":" in key_id:
            raise DecryptionError(
                "a key id must not contain ':'", workspace_id=workspace_id, key_id=key_id
            )
        aad = associated_data(workspace_id=workspace_id, key_id=key_id)
        cipher = self._ciphers.get(sealed.key_version)
        if cipher is None:
            raise DecryptionError(
                f"key {key_id} was sealed with master key {sealed.key_version}, "
                "which is not configured",
                workspace_id=workspace_id,
                key_id=key_id,
            )
        try:
            plain = cipher.decrypt(sealed.nonce, sealed.ciphertext, aad)
        except (InvalidTag, ValueError):
            raise DecryptionError(
                f"key {key_id} failed authentication (tampered or bound to another row)",
                workspace_id=workspace_id,
                key_id=key_id,
            ) from None
        return plain.decode("utf-8")

    def seal_bytes(self, plain: bytes, *, aad: bytes) -> tuple[bytes, bytes]:
        """Low-level seal under the current key: (nonce, ciphertext+tag)."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce, self._ciphers[self._current].encrypt(nonce, plain, aad)

    def open_bytes(self, *, version: str, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
        """Low-level open with the key of `version`; raises `InvalidTag`/`KeyError` on failure."""
        return self._ciphers[version].decrypt(nonce, ciphertext, aad)


def mask(secret: str) -> str:
    """`sk-…f3Qa`: the key's prefix, an ellipsis, its last four; short secrets fully masked."""
    secret = secret.strip()
    if len(secret) < 12:
        return "****"
    match = _PREFIX.match(secret)
    prefix = match.group(0) if match else ""
    return f"{prefix}…{secret[-4:]}"
