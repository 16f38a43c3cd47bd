"""The vault's cipher: round trips, tampering, row binding, nonces, old keys, masking."""

from __future__ import annotations

import base64
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.errors import DecryptionError, MasterKeyError, VaultError
from bot.vault.keystore import Sealed, Vault, mask
from bot.vault.masterkey import fingerprint, parse_key
from storage.engine import session_scope
from storage.models import ProviderKey
from storage.workspaces import ensure_workspace

SECRET = "sk-proj-Planted0123456789abcdefghijKLMNOPf3Qa"


def _vault() -> Vault:
    return Vault(os.urandom(32))


def _flip(data: bytes, index: int) -> bytes:
    changed = bytearray(data)
    changed[index] ^= 0x01
    return bytes(changed)


def test_round_trip() -> None:
    vault = _vault()
    sealed = vault.seal(SECRET, workspace_id="slack:T1", key_id="k1")
    assert vault.unseal(sealed, workspace_id="slack:T1", key_id="k1") == SECRET
    assert sealed.key_version == vault.fingerprint
    assert len(sealed.nonce) == 12
    assert SECRET.encode() not in sealed.ciphertext


@given(
    secret=st.text(max_size=300),
    workspace=st.text(max_size=40),
    key_id=st.text(max_size=40).filter(lambda k: ":" not in k),
)
def test_round_trip_any_text(secret: str, workspace: str, key_id: str) -> None:
    vault = Vault(b"\x07" * 32)
    sealed = vault.seal(secret, workspace_id=workspace, key_id=key_id)
    assert vault.unseal(sealed, workspace_id=workspace, key_id=key_id) == secret


@pytest.mark.parametrize("part", ["ciphertext", "nonce", "tag"])
def test_tampering_is_detected(part: str) -> None:
    vault = _vault()
    sealed = vault.seal(SECRET, workspace_id="w", key_id="k")
    body_len = len(sealed.ciphertext) - 16  # GCM appends a 16-byte tag
    for index in range(len(sealed.nonce) if part == "nonce" else 16):
        if part == "nonce":
            bad = Sealed(sealed.ciphertext, _flip(sealed.nonce, index), sealed.key_version)
        elif part == "tag":
            bad = Sealed(
                _flip(sealed.ciphertext, body_len + index), sealed.nonce, sealed.key_version
            )
        else:
            bad = Sealed(
                _flip(sealed.ciphertext, index % body_len), sealed.nonce, sealed.key_version
            )
        with pytest.raises(DecryptionError) as caught:
            vault.unseal(bad, workspace_id="w", key_id="k")
        assert SECRET not in str(caught.value)


def test_truncated_or_empty_ciphertext_fails() -> None:
    vault = _vault()
    sealed = vault.seal(SECRET, workspace_id="w", key_id="k")
    for cut in (b"", sealed.ciphertext[:15], sealed.ciphertext[:-1]):
        with pytest.raises(DecryptionError):
            vault.unseal(
                Sealed(cut, sealed.nonce, sealed.key_version), workspace_id="w", key_id="k"
            )
    with pytest.raises(DecryptionError):
        vault.unseal(
            Sealed(sealed.ciphertext, b"", sealed.key_version), workspace_id="w", key_id="k"
        )


@pytest.mark.parametrize(
    ("workspace_id", "key_id"),
    [("slack:T2", "k1"), ("slack:T1", "k2"), ("slack:T1:k1", ""), ("slack", "T1:k1")],
)
def test_ciphertext_is_bound_to_its_row(workspace_id: str, key_id: str) -> None:
    vault = _vault()
    sealed = vault.seal(SECRET, workspace_id="slack:T1", key_id="k1")
    with pytest.raises(DecryptionError) as caught:
        vault.unseal(sealed, workspace_id=workspace_id, key_id=key_id)
    assert caught.value.workspace_id == workspace_id
    assert caught.value.key_id == key_id


def test_key_ids_cannot_shift_the_binding() -> None:
    vault = _vault()
    with pytest.raises(VaultError):
        vault.seal(SECRET, workspace_id="slack", key_id="T1:k1")


def test_same_secret_twice_gives_different_ciphertexts() -> None:
    vault = _vault()
    seals = [vault.seal(SECRET, workspace_id="w", key_id="k") for _ in range(50)]
    assert len({s.nonce for s in seals}) == 50
    assert len({s.ciphertext for s in seals}) == 50


def test_other_master_key_cannot_open() -> None:
    sealed = _vault().seal(SECRET, workspace_id="w", key_id="k")
    other = _vault()
    with pytest.raises(DecryptionError):
        other.unseal(sealed, workspace_id="w", key_id="k")
    # Even with the version forged to the other key's fingerprint, authentication fails.
    forged = Sealed(sealed.ciphertext, sealed.nonce, other.fingerprint)
    with pytest.raises(DecryptionError):
        other.unseal(forged, workspace_id="w", key_id="k")


def test_old_keys_open_older_rows_and_new_seals_use_current() -> None:
    old_key, new_key = os.urandom(32), os.urandom(32)
    old_sealed = Vault(old_key).seal(SECRET, workspace_id="w", key_id="k")
    vault = Vault(new_key, old_keys=[old_key])
    assert vault.unseal(old_sealed, workspace_id="w", key_id="k") == SECRET
    assert vault.seal(SECRET, workspace_id="w", key_id="k").key_version == fingerprint(new_key)
    assert vault.known_versions == {fingerprint(old_key), fingerprint(new_key)}


def test_key_length_is_enforced() -> None:
    for bad in (b"", b"x" * 16, b"x" * 31, b"x" * 33):
        with pytest.raises(MasterKeyError):
            Vault(bad)
        with pytest.raises(MasterKeyError):
            Vault(os.urandom(32), old_keys=[bad])


def test_repr_and_fingerprint_hide_the_key() -> None:
    key = os.urandom(32)
    vault = Vault(key)
    shown = repr(vault) + vault.fingerprint
    for form in (key.hex(), base64.b64encode(key).decode(), repr(key)):
        assert form not in shown
    assert vault.fingerprint == fingerprint(key) != fingerprint(os.urandom(32))


def test_parse_key_accepts_standard_and_urlsafe_base64() -> None:
    key = bytes(range(256))[-32:]  # contains bytes that encode to + / and - _
    assert parse_key(base64.b64encode(key).decode(), origin="x") == key
    assert parse_key(base64.urlsafe_b64encode(key).decode() + "\n", origin="x") == key


@pytest.mark.parametrize(
    ("secret", "shown"),
    [
        ("sk-proj-abcdefghijklmnopqrstuvwxyzf3Qa", "sk-…f3Qa"),
        ("sk-ant-api03-abcdefghijklmnopqrstuvwxyz-9xYz", "sk-…9xYz"),
        ("AIzaSyA1234567890abcdefghijklmnopqrstu", "AIza…rstu"),
        ("gsk_abcdefghijklmnopqrstuvwxyz1234", "gsk_…1234"),
        ("0123456789abcdef0123456789abcdef", "…cdef"),
        ("short-key", "****"),
        ("-", "****"),
        ("", "****"),
    ],
)
def test_mask(secret: str, shown: str) -> None:
    assert mask(secret) == shown


@given(st.text(min_size=12, max_size=200))
def test_mask_never_reveals_more_than_prefix_and_last_four(secret: str) -> None:
    shown = mask(secret)
    assert len(shown) <= 10
    assert len(shown) <= 32  # fits the `masked` column
    if len(secret.strip()) >= 12:
        assert shown.endswith(secret.strip()[-4:])


def test_copied_row_does_not_decrypt_in_the_database(engine: Engine) -> None:
    """A ciphertext copied into another workspace's or key's row fails to open."""
    vault = _vault()
    with session_scope(engine) as session:
        for ws in ("slack:T1", "slack:T2"):
            ensure_workspace(session, workspace_id=ws, platform="slack")
        rows = []
        for ws, name in (("slack:T1", "victim"), ("slack:T2", "thief"), ("slack:T1", "other")):
            row = ProviderKey(
                workspace_id=ws,
                name=name,
                provider="openai",
                ciphertext=b"",
                nonce=b"",
                key_version="",
                masked="",
            )
            sealed = vault.seal(f"{SECRET}-{name}", workspace_id=ws, key_id=row.id)
            row.ciphertext, row.nonce, row.key_version = (
                sealed.ciphertext,
                sealed.nonce,
                sealed.key_version,
            )
            session.add(row)
            rows.append(row)
    victim, thief, other = rows
    with session_scope(engine) as session:
        for target in (thief, other):
            stored = session.get(ProviderKey, target.id)
            assert stored is not None
            stored.ciphertext, stored.nonce = victim.ciphertext, victim.nonce
            session.add(stored)
    with Session(engine) as session:
        by_id = {row.id: row for row in session.exec(select(ProviderKey)).all()}
    victim_row = by_id[victim.id]
    assert (
        vault.unseal(
            Sealed(victim_row.ciphertext, victim_row.nonce, victim_row.key_version),
            workspace_id=victim_row.workspace_id,
            key_id=victim_row.id,
        )
        == f"{SECRET}-victim"
    )
    for target in (thief, other):
        row = by_id[target.id]
        with pytest.raises(DecryptionError):
            vault.unseal(
                Sealed(row.ciphertext, row.nonce, row.key_version),
                workspace_id=row.workspace_id,
                key_id=row.id,
            )
