"""Test data for vault and storage tests: settings, sealed key rows, database snapshots."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import MetaData, select, text
from sqlalchemy.engine import Engine
from sqlmodel import Session
from sqlmodel import select as sm_select

from bot.config import Settings
from bot.vault.keystore import Sealed, Vault
from storage.engine import session_scope
from storage.models import ProviderKey
from storage.workspaces import ensure_workspace

PLANTED = "sk-proj-PLANTEDsecret0123456789abcdefghijklmnopqrstuvw"


def settings_for(
    database_url: str,
    *,
    master_key: str | None = None,
    key_file: Path,
    old_keys: str = "",
) -> Settings:
    """Settings with every vault-related value given explicitly (the environment is ignored)."""
    return Settings(
        _env_file=None,
        database_url=database_url,
        master_key=SecretStr(master_key) if master_key is not None else None,
        master_key_file=key_file,
        old_master_keys=SecretStr(old_keys),
    )


def secret_for(index: int) -> str:
    """The distinct planted secret of key number `index`."""
    return f"{PLANTED}-{index:03d}"


def seed_keys(
    engine: Engine,
    vault: Vault,
    *,
    count: int,
    workspace_id: str = "console",
    prefix: str = "key",
) -> list[str]:
    """Insert `count` sealed keys; return their ids in insertion order."""
    ids: list[str] = []
    with session_scope(engine) as session:
        ensure_workspace(session, workspace_id=workspace_id, platform="console")
        for index in range(count):
            row = ProviderKey(
                workspace_id=workspace_id,
                name=f"{prefix}-{index:03d}",
                provider="openai",
                ciphertext=b"",
                nonce=b"",
                key_version="",
                masked="sk-…" + secret_for(index)[-4:],
            )
            sealed = vault.seal(secret_for(index), workspace_id=workspace_id, key_id=row.id)
            row.ciphertext, row.nonce, row.key_version = (
                sealed.ciphertext,
                sealed.nonce,
                sealed.key_version,
            )
            session.add(row)
            ids.append(row.id)
    return ids


def read_all(engine: Engine, vault: Vault) -> dict[str, str]:
    """Every stored key decrypted with `vault`: name -> secret (raises on any failure)."""
    with Session(engine) as session:
        rows = session.exec(sm_select(ProviderKey)).all()
        return {
            row.name: vault.unseal(
                Sealed(row.ciphertext, row.nonce, row.key_version),
                workspace_id=row.workspace_id,
                key_id=row.id,
            )
            for row in rows
        }


def versions(engine: Engine) -> dict[str, str]:
    """name -> key_version of every stored key."""
    with Session(engine) as session:
        rows = session.exec(sm_select(ProviderKey)).all()
        return {row.name: row.key_version for row in rows}


def snapshot(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, sorted, for before/after comparisons."""
    meta = MetaData()
    meta.reflect(bind=engine)
    result: dict[str, list[tuple[object, ...]]] = {}
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            rows = conn.execute(select(table)).all()
            result[table.name] = sorted((tuple(row) for row in rows), key=repr)
    return result


def checkpoint(engine: Engine) -> None:
    """On SQLite, fold the WAL into the main file (no-op elsewhere)."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
