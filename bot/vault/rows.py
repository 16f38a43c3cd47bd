"""Every sealed secret the database holds, so start-up checks and rotations miss none.

Two tables hold vault ciphertexts: `provider_keys` (bound to the row id) and
`slack_installations` (the bot and refresh tokens, bound to fixed key ids). A new
table with sealed columns must be added here, or a master-key rotation would leave
its secrets under the old key.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import func, inspect, text
from sqlmodel import Session, col, select

from bot.vault.cipher import Sealed, Vault
from storage.models import ProviderKey
from storage.slack_models import SlackInstallation
from storage.slack_store import REFRESH_KEY_ID, TOKEN_KEY_ID

# The key ids the Slack tokens are bound to (sealed by bot/installations.py).
SLACK_TOKEN_KEY_ID = TOKEN_KEY_ID
SLACK_REFRESH_KEY_ID = REFRESH_KEY_ID


@dataclass(frozen=True, slots=True)
class SealedItem:
    """One stored ciphertext and the row binding it was sealed with."""

    workspace_id: str
    key_id: str
    sealed: Sealed


def _has_slack_table(session: Session) -> bool:
    return inspect(session.connection()).has_table(SlackInstallation.__tablename__)


def lock_sealed_tables(session: Session) -> None:
    """On PostgreSQL, block writes to sealed tables until the transaction ends.

    Keeps a replica still running on the old master key from adding a key mid-rotation;
    readers are not blocked. SQLite serialises writers by itself.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    tables = [ProviderKey.__tablename__]
    if _has_slack_table(session):
        tables.append(SlackInstallation.__tablename__)
    session.execute(text(f"LOCK TABLE {', '.join(tables)} IN EXCLUSIVE MODE"))


def count_sealed_rows(session: Session) -> int:
    """How many rows hold sealed secrets (0 means the vault has never been used)."""
    total = session.exec(select(func.count()).select_from(ProviderKey)).one()
    if _has_slack_table(session):
        total += session.exec(select(func.count()).select_from(SlackInstallation)).one()
    return int(total)


def _slack_items(row: SlackInstallation) -> Iterator[SealedItem]:
    yield SealedItem(
        row.workspace_id,
        SLACK_TOKEN_KEY_ID,
        Sealed(row.token_ciphertext, row.token_nonce, row.key_version),
    )
    if row.refresh_ciphertext is not None and row.refresh_nonce is not None:
        yield SealedItem(
            row.workspace_id,
            SLACK_REFRESH_KEY_ID,
            Sealed(row.refresh_ciphertext, row.refresh_nonce, row.key_version),
        )


def version_samples(session: Session) -> dict[str, SealedItem]:
    """One stored item per master-key version found in the database."""
    samples: dict[str, SealedItem] = {}
    for version in session.exec(select(ProviderKey.key_version).distinct()).all():
        row = session.exec(select(ProviderKey).where(ProviderKey.key_version == version)).first()
        if row is not None:
            sealed = Sealed(row.ciphertext, row.nonce, row.key_version)
            samples[version] = SealedItem(row.workspace_id, row.id, sealed)
    if _has_slack_table(session):
        for version in session.exec(select(SlackInstallation.key_version).distinct()).all():
            install = session.exec(
                select(SlackInstallation).where(SlackInstallation.key_version == version)
            ).first()
            if install is not None and version not in samples:
                samples[version] = next(_slack_items(install))
    return samples


def reseal_all(session: Session, *, current: Vault, new: Vault) -> int:
    """Re-seal, inside the caller's transaction, every secret not under `new`; return rows."""
    count = 0
    keys = session.exec(
        select(ProviderKey)
        .where(ProviderKey.key_version != new.fingerprint)
        .order_by(col(ProviderKey.id))
        .with_for_update()
    ).all()
    for key in keys:
        secret = current.unseal(
            Sealed(key.ciphertext, key.nonce, key.key_version),
            workspace_id=key.workspace_id,
            key_id=key.id,
        )
        sealed = new.seal(secret, workspace_id=key.workspace_id, key_id=key.id)
        key.ciphertext, key.nonce, key.key_version = (
            sealed.ciphertext,
            sealed.nonce,
            sealed.key_version,
        )
        session.add(key)
        count += 1
    if not _has_slack_table(session):
        return count
    installs = session.exec(
        select(SlackInstallation)
        .where(SlackInstallation.key_version != new.fingerprint)
        .order_by(col(SlackInstallation.workspace_id))
        .with_for_update()
    ).all()
    for install in installs:
        for item in _slack_items(install):
            plain = current.unseal(item.sealed, workspace_id=item.workspace_id, key_id=item.key_id)
            again = new.seal(plain, workspace_id=item.workspace_id, key_id=item.key_id)
            if item.key_id == SLACK_TOKEN_KEY_ID:
                install.token_ciphertext, install.token_nonce = again.ciphertext, again.nonce
            else:
                install.refresh_ciphertext, install.refresh_nonce = again.ciphertext, again.nonce
        install.key_version = new.fingerprint
        session.add(install)
        count += 1
    return count
