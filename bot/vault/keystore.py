"""The encrypted key vault against the database: open it safely, rotate its master key.

`open_vault` loads the master key (environment, key file, or a new key file when the
database is fresh), then proves it against a check value sealed in `vault_meta` before
anything is written. `rotate_master_key` re-seals every stored key and the check value
in one transaction. The cipher itself lives in `bot.vault.cipher` and is re-exported here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, select

from bot.config import Settings
from bot.errors import DatabaseUnavailable, DecryptionError, MasterKeyError, StorageError
from bot.vault.cipher import Sealed, Vault, associated_data, mask
from bot.vault.masterkey import create_key_file, parse_key, parse_old_keys, read_key_file
from bot.vault.rows import (
    SealedItem,
    count_sealed_rows,
    lock_sealed_tables,
    reseal_all,
    version_samples,
)
from storage.engine import session_scope
from storage.models import VaultMeta, naive_utcnow

__all__ = [
    "Sealed",
    "Vault",
    "associated_data",
    "check_key_settings",
    "mask",
    "open_vault",
    "rotate_master_key",
]

logger = logging.getLogger(__name__)

CHECK_PLAIN = b"byokbot vault check v1"
CHECK_AAD = b"byokbot:v1:vault-check"


@dataclass(slots=True)
class _DbState:
    meta: VaultMeta | None
    key_count: int
    # One stored item per master-key version found in the database.
    samples: dict[str, SealedItem] = field(default_factory=dict)

    @property
    def fresh(self) -> bool:
        return self.meta is None and self.key_count == 0


def _configured_key(settings: Settings) -> bytes | None:
    if settings.master_key is not None:
        return parse_key(settings.master_key.get_secret_value(), origin="BYOKBOT_MASTER_KEY")
    path = settings.master_key_file
    if not path.exists() and not path.is_symlink():
        return None
    return read_key_file(path)


def _old_keys(settings: Settings) -> list[bytes]:
    return parse_old_keys([entry.get_secret_value() for entry in settings.old_master_key_list])


def check_key_settings(settings: Settings) -> None:
    """Parse the configured master keys without touching the database (`MasterKeyError`)."""
    _configured_key(settings)
    _old_keys(settings)


def _read_state(engine: Engine) -> _DbState:
    try:
        if not inspect(engine).has_table(VaultMeta.__tablename__):
            raise StorageError("the database has no byokbot schema; run: byokbot migrate")
        with Session(engine, expire_on_commit=False) as session:
            return _DbState(
                meta=session.get(VaultMeta, 1),
                key_count=count_sealed_rows(session),
                samples=version_samples(session),
            )
    except OperationalError:
        raise DatabaseUnavailable("database unreachable while opening the key vault") from None


def _verify(vault: Vault, state: _DbState) -> None:
    meta = state.meta
    if meta is not None:
        if meta.key_fingerprint not in vault.known_versions:
            raise MasterKeyError(
                f"wrong master key: the database's keys are sealed with master key "
                f"{meta.key_fingerprint}, the configured one is {vault.fingerprint}"
            )
        try:
            plain = vault.open_bytes(
                version=meta.key_fingerprint,
                nonce=meta.check_nonce,
                ciphertext=meta.check_ciphertext,
                aad=CHECK_AAD,
            )
        except (InvalidTag, ValueError):
            plain = b""
        if plain != CHECK_PLAIN:
            raise MasterKeyError("wrong master key: the vault check value does not decrypt")
    unknown = sorted(set(state.samples) - vault.known_versions)
    if unknown:
        raise MasterKeyError(
            f"stored keys are sealed with master key(s) {', '.join(unknown)} that are not "
            "configured; add them to BYOKBOT_OLD_MASTER_KEYS"
        )
    if meta is None:
        # No check value yet (a database from before it existed): prove the key on rows.
        for item in state.samples.values():
            try:
                vault.unseal(item.sealed, workspace_id=item.workspace_id, key_id=item.key_id)
            except DecryptionError:
                raise MasterKeyError(
                    f"wrong master key: it cannot decrypt stored key {item.key_id}"
                ) from None


def _new_key(settings: Settings, state: _DbState, *, allow_create: bool) -> bytes:
    path = settings.master_key_file
    if not state.fresh:
        raise MasterKeyError(
            f"no master key: BYOKBOT_MASTER_KEY is unset and {path} does not exist, but the "
            "database already holds data sealed with a master key; restore the key file or "
            "set BYOKBOT_MASTER_KEY"
        )
    if not allow_create:
        raise MasterKeyError("no master key: set BYOKBOT_MASTER_KEY or BYOKBOT_MASTER_KEY_FILE")
    return create_key_file(path)


def _write_check(engine: Engine, vault: Vault) -> None:
    nonce, ciphertext = vault.seal_bytes(CHECK_PLAIN, aad=CHECK_AAD)
    try:
        with session_scope(engine) as session:
            session.add(
                VaultMeta(
                    id=1,
                    key_fingerprint=vault.fingerprint,
                    check_nonce=nonce,
                    check_ciphertext=ciphertext,
                )
            )
    except IntegrityError:
        # Another replica's first start wrote it a moment ago: it must agree with ours.
        _verify(vault, _read_state(engine))
    except OperationalError:
        raise DatabaseUnavailable("database unreachable while opening the key vault") from None


def open_vault(
    settings: Settings,
    engine: Engine,
    *,
    extra_keys: Sequence[bytes] = (),
    allow_create: bool = True,
) -> Vault:
    """Load and verify the master key; `MasterKeyError` (one line) and no change on error.

    `extra_keys` are accepted for decryption besides `BYOKBOT_OLD_MASTER_KEYS` (the
    rotation passes its new key so that running it twice works); `allow_create=False`
    never creates a key file.
    """
    key = _configured_key(settings)
    old = _old_keys(settings)
    state = _read_state(engine)
    if key is None:
        key = _new_key(settings, state, allow_create=allow_create)
    vault = Vault(key, old_keys=[*old, *extra_keys])
    _verify(vault, state)
    if state.meta is None:
        _write_check(engine, vault)
    logger.info(
        "key vault open: master key %s, %d old key(s), %d stored key(s)",
        vault.fingerprint,
        len(old),
        state.key_count,
    )
    return vault


def rotate_master_key(engine: Engine, *, current: Vault, new_key: bytes) -> int:
    """Re-seal every stored key and the check value under `new_key` in ONE transaction.

    Covers provider keys and Slack installation tokens. Rows already under the new key
    are left alone, so a second run re-encrypts nothing; any row that cannot be opened
    aborts the whole rotation with nothing changed. Returns how many rows were re-sealed.
    """
    new = Vault(new_key, old_keys=current.all_keys())
    with session_scope(engine) as session:
        lock_sealed_tables(session)
        meta = session.exec(select(VaultMeta).where(VaultMeta.id == 1).with_for_update()).first()
        count = reseal_all(session, current=current, new=new)
        session.flush()
        if meta is None or meta.key_fingerprint != new.fingerprint:
            nonce, ciphertext = new.seal_bytes(CHECK_PLAIN, aad=CHECK_AAD)
            if meta is None:
                meta = VaultMeta(id=1, key_fingerprint="", check_nonce=b"", check_ciphertext=b"")
            meta.key_fingerprint = new.fingerprint
            meta.check_nonce = nonce
            meta.check_ciphertext = ciphertext
            meta.rotated_at = naive_utcnow()
            session.add(meta)
    logger.info("re-encrypted %d stored secret(s) under master key %s", count, new.fingerprint)
    return count
