"""Master-key rotation: no key lost, idempotent, all-or-nothing on failure."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from sqlalchemy import text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import col, select

from bot.errors import DecryptionError, MasterKeyError
from bot.vault.keystore import Sealed, Vault, open_vault, rotate_master_key
from bot.vault.masterkey import fingerprint, generate_key
from bot.vault.rows import SLACK_REFRESH_KEY_ID, SLACK_TOKEN_KEY_ID
from storage.engine import make_engine, session_scope
from storage.models import ProviderKey, VaultMeta
from storage.slack_models import SlackInstallation
from storage.workspaces import ensure_workspace
from tests.kits.helpers import run_byokbot
from tests.kits.seed import read_all, secret_for, seed_keys, settings_for, snapshot, versions

COUNT = 5
EXPECTED = {f"key-{i:03d}": secret_for(i) for i in range(COUNT)}


def _raw(key: str) -> bytes:
    return base64.b64decode(key)


def _open(engine: Engine, url: str, tmp_path: Path, key: str, *, old: str = "") -> Vault:
    return open_vault(
        settings_for(url, master_key=key, key_file=tmp_path / "unused", old_keys=old), engine
    )


def _seeded(engine: Engine, url: str, tmp_path: Path) -> tuple[str, Vault, list[str]]:
    key = generate_key()
    vault = _open(engine, url, tmp_path, key)
    ids = seed_keys(engine, vault, count=COUNT)
    return key, vault, ids


def _meta_version(engine: Engine) -> str:
    with session_scope(engine) as session:
        meta = session.get(VaultMeta, 1)
        assert meta is not None
        return meta.key_fingerprint


def test_rotation_loses_no_key_and_is_idempotent(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    old_key, current, _ids = _seeded(engine, database_url, tmp_path)
    new_key = generate_key()
    assert rotate_master_key(engine, current=current, new_key=_raw(new_key)) == COUNT
    assert read_all(engine, Vault(_raw(new_key))) == EXPECTED  # the new key alone reads all
    assert set(versions(engine).values()) == {fingerprint(_raw(new_key))}
    assert _meta_version(engine) == fingerprint(_raw(new_key))
    after_first = snapshot(engine)

    # Run again exactly as an operator would (old key still configured): nothing to do.
    again = open_vault(
        settings_for(database_url, master_key=old_key, key_file=tmp_path / "k"),
        engine,
        extra_keys=[_raw(new_key)],
        allow_create=False,
    )
    assert rotate_master_key(engine, current=again, new_key=_raw(new_key)) == 0
    assert snapshot(engine) == after_first
    # And once the new key is configured, starting works and the old key alone does not.
    assert read_all(engine, _open(engine, database_url, tmp_path, new_key)) == EXPECTED
    with pytest.raises(MasterKeyError, match="wrong master key"):
        _open(engine, database_url, tmp_path, old_key)


def test_rotation_catches_up_keys_added_under_the_old_key(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    """A replica still on the old key adds a key after the rotation: a rerun fixes it."""
    old_key, current, _ids = _seeded(engine, database_url, tmp_path)
    new_key = generate_key()
    rotate_master_key(engine, current=current, new_key=_raw(new_key))
    seed_keys(engine, Vault(_raw(old_key)), count=1, workspace_id="slack:T9", prefix="late")
    reopened = _open(engine, database_url, tmp_path, new_key, old=old_key)
    assert rotate_master_key(engine, current=reopened, new_key=_raw(new_key)) == 1
    assert len(read_all(engine, Vault(_raw(new_key)))) == COUNT + 1


def test_failure_mid_rotation_changes_nothing(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    """A row that cannot be opened (corrupt) aborts the rotation after others were re-sealed."""
    old_key, current, ids = _seeded(engine, database_url, tmp_path)
    corrupt = sorted(ids)[-1]  # rows are processed in id order: this one comes last
    with session_scope(engine) as session:
        session.execute(
            update(ProviderKey)
            .where(col(ProviderKey.id) == corrupt)
            .values(ciphertext=b"\x00" * 40)
        )
    before = snapshot(engine)
    with pytest.raises(DecryptionError):
        rotate_master_key(engine, current=current, new_key=_raw(generate_key()))
    assert snapshot(engine) == before
    readable = {name for name in EXPECTED if name != _name_of(engine, corrupt)}
    vault = _open(engine, database_url, tmp_path, old_key)
    for name in readable:
        assert read_one(engine, vault, name) == EXPECTED[name]


def _name_of(engine: Engine, key_id: str) -> str:
    with session_scope(engine) as session:
        row = session.get(ProviderKey, key_id)
        assert row is not None
        return row.name


def read_one(engine: Engine, vault: Vault, name: str) -> str:
    """Decrypt one stored key by name."""
    with session_scope(engine) as session:
        row = session.exec(select(ProviderKey).where(ProviderKey.name == name)).one()
        return vault.unseal(
            Sealed(row.ciphertext, row.nonce, row.key_version),
            workspace_id=row.workspace_id,
            key_id=row.id,
        )


def test_database_failure_mid_rotation_rolls_back_on_postgres(pg_url: str, tmp_path: Path) -> None:
    """A trigger makes PostgreSQL reject the last row's update: every key stays readable."""
    engine = make_engine(pg_url)
    try:
        old_key, current, ids = _seeded(engine, pg_url, tmp_path)
        victim = sorted(ids)[-1]
        with engine.begin() as conn:
            conn.execute(
                text(
                    "CREATE FUNCTION refuse_update() RETURNS trigger AS $$ BEGIN "
                    "IF NEW.id = '" + victim + "' THEN RAISE EXCEPTION 'injected failure'; "
                    "END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE UPDATE ON provider_keys "
                    "FOR EACH ROW EXECUTE FUNCTION refuse_update()"
                )
            )
        before = snapshot(engine)
        with pytest.raises(DBAPIError, match="injected failure"):
            rotate_master_key(engine, current=current, new_key=_raw(generate_key()))
        assert snapshot(engine) == before
        assert read_all(engine, _open(engine, pg_url, tmp_path, old_key)) == EXPECTED
    finally:
        engine.dispose()


def test_rotate_command(database_url: str, engine: Engine, tmp_path: Path) -> None:
    old_key, _current, _ids = _seeded(engine, database_url, tmp_path)
    engine.dispose()
    new_key = generate_key()
    new_file = tmp_path / "new.key"
    new_file.write_text(new_key + "\n")
    new_file.chmod(0o600)
    env = {"BYOKBOT_DATABASE_URL": database_url, "BYOKBOT_MASTER_KEY": old_key}
    args = ("master-key", "rotate", "--new-key-file", str(new_file))
    first = run_byokbot(*args, env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert f"re-encrypted {COUNT} stored secret(s)" in first.stdout
    assert "BYOKBOT_OLD_MASTER_KEYS" in first.stdout
    second = run_byokbot(*args, env=env, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "re-encrypted 0 stored secret(s)" in second.stdout
    for output in (first, second):
        for secret in (old_key, new_key, *EXPECTED.values()):
            assert secret not in output.stdout + output.stderr
    via_env = run_byokbot(
        "master-key", "rotate", "--new-key-env", "NEXT_KEY",
        env={**env, "NEXT_KEY": new_key}, cwd=tmp_path,
    )  # fmt: skip
    assert via_env.returncode == 0 and "re-encrypted 0" in via_env.stdout
    assert read_all(engine, Vault(_raw(new_key))) == EXPECTED


def test_rotate_command_refuses_bad_input_without_changes(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    old_key, _current, _ids = _seeded(engine, database_url, tmp_path)
    before = snapshot(engine)
    engine.dispose()
    bad_file = tmp_path / "bad.key"
    bad_file.write_text(base64.b64encode(b"sixteen bytes!!!").decode() + "\n")
    good_file = tmp_path / "good.key"
    good_file.write_text(generate_key())
    cases = [
        ({"BYOKBOT_MASTER_KEY": old_key}, str(bad_file), "must decode to 32 bytes"),
        ({"BYOKBOT_MASTER_KEY": old_key}, str(tmp_path / "missing.key"), "does not exist"),
        ({"BYOKBOT_MASTER_KEY": generate_key()}, str(good_file), "wrong master key"),
        ({}, str(good_file), "no master key"),
    ]
    for extra, key_file, expected in cases:
        result = run_byokbot(
            "master-key", "rotate", "--new-key-file", key_file,
            env={"BYOKBOT_DATABASE_URL": database_url, **extra}, cwd=tmp_path,
        )  # fmt: skip
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        assert expected in result.stderr.strip().splitlines()[-1]
        assert not (tmp_path / "data" / "master.key").exists()
    assert snapshot(engine) == before


def test_rotation_covers_slack_installation_tokens(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    _old_key, current, _ids = _seeded(engine, database_url, tmp_path)
    ws = "slack:T1"
    bot_token, refresh_token = "xoxb-1-planted-bot-token", "xoxe-1-planted-refresh"
    token = current.seal(bot_token, workspace_id=ws, key_id=SLACK_TOKEN_KEY_ID)
    refresh = current.seal(refresh_token, workspace_id=ws, key_id=SLACK_REFRESH_KEY_ID)
    with session_scope(engine) as session:
        ensure_workspace(session, workspace_id=ws, platform="slack")
        session.add(
            SlackInstallation(
                workspace_id=ws,
                token_ciphertext=token.ciphertext,
                token_nonce=token.nonce,
                refresh_ciphertext=refresh.ciphertext,
                refresh_nonce=refresh.nonce,
                key_version=token.key_version,
            )
        )
    new_key = _raw(generate_key())
    assert rotate_master_key(engine, current=current, new_key=new_key) == COUNT + 1
    new = Vault(new_key)
    with session_scope(engine) as session:
        row = session.get(SlackInstallation, ws)
        assert row is not None and row.key_version == new.fingerprint
        assert row.refresh_ciphertext is not None and row.refresh_nonce is not None
        sealed_token = Sealed(row.token_ciphertext, row.token_nonce, row.key_version)
        sealed_refresh = Sealed(row.refresh_ciphertext, row.refresh_nonce, row.key_version)
    assert new.unseal(sealed_token, workspace_id=ws, key_id=SLACK_TOKEN_KEY_ID) == bot_token
    assert new.unseal(sealed_refresh, workspace_id=ws, key_id=SLACK_REFRESH_KEY_ID) == refresh_token
    assert rotate_master_key(engine, current=new, new_key=new_key) == 0
