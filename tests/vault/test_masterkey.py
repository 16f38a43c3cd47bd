"""Opening the vault: key sources, key file creation, wrong/missing keys change nothing."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import delete, update
from sqlalchemy.engine import Engine

from bot.errors import MasterKeyError
from bot.vault.keystore import Vault, open_vault
from bot.vault.masterkey import fingerprint, generate_key, parse_key
from storage.engine import session_scope
from storage.models import ProviderKey, VaultMeta
from tests.kits.helpers import run_byokbot
from tests.kits.logcapture import LogCapture
from tests.kits.seed import checkpoint, read_all, secret_for, seed_keys, settings_for, snapshot


def _key_file(tmp_path: Path) -> Path:
    return tmp_path / "data" / "master.key"


def _assert_one_line(message: str) -> None:
    assert message and "\n" not in message


def test_fresh_database_creates_key_file_0600(
    engine: Engine, database_url: str, tmp_path: Path, log_capture: LogCapture
) -> None:
    path = _key_file(tmp_path)
    vault = open_vault(settings_for(database_url, key_file=path), engine)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = parse_key(path.read_text(), origin="test")
    assert vault.fingerprint == fingerprint(key)
    assert "created a new master key file" in log_capture.text
    assert str(path) in log_capture.text
    assert path.read_text().strip() not in log_capture.text
    with session_scope(engine) as session:
        meta = session.get(VaultMeta, 1)
        assert meta is not None and meta.key_fingerprint == vault.fingerprint
    # The next start reads the same file and creates nothing.
    log_capture.clear()
    again = open_vault(settings_for(database_url, key_file=path), engine)
    assert again.fingerprint == vault.fingerprint
    assert "created a new master key" not in log_capture.text


def test_key_file_created_under_restrictive_umask_is_still_0600(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    old = os.umask(0o000)
    try:
        path = _key_file(tmp_path)
        open_vault(settings_for(database_url, key_file=path), engine)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_environment_key_wins_over_file(engine: Engine, database_url: str, tmp_path: Path) -> None:
    path = _key_file(tmp_path)
    path.parent.mkdir()
    path.write_text(generate_key())
    env_key = generate_key()
    vault = open_vault(settings_for(database_url, master_key=env_key, key_file=path), engine)
    assert vault.fingerprint == fingerprint(base64.b64decode(env_key))


def test_loose_key_file_permissions_warn(
    engine: Engine, database_url: str, tmp_path: Path, log_capture: LogCapture
) -> None:
    path = _key_file(tmp_path)
    path.parent.mkdir()
    path.write_text(generate_key())
    path.chmod(0o644)
    open_vault(settings_for(database_url, key_file=path), engine)
    warnings = [r for r in log_capture.records if r.levelname == "WARNING"]
    assert any("chmod 600" in r.getMessage() for r in warnings)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("not base64 at all!", "not valid base64"),
        (base64.b64encode(b"x" * 16).decode(), "must decode to 32 bytes, got 16"),
        (base64.b64encode(b"x" * 33).decode(), "got 33"),
        ("   ", "is empty"),
    ],
)
def test_invalid_environment_key_is_refused_without_writing(
    engine: Engine, database_url: str, tmp_path: Path, value: str, expected: str
) -> None:
    path = _key_file(tmp_path)
    before = snapshot(engine)
    with pytest.raises(MasterKeyError) as caught:
        open_vault(settings_for(database_url, master_key=value, key_file=path), engine)
    message = str(caught.value)
    _assert_one_line(message)
    assert expected in message and "BYOKBOT_MASTER_KEY" in message
    if value.strip():
        assert value not in message
    assert snapshot(engine) == before
    assert not path.exists()


def test_invalid_key_file_and_unreadable_key_file(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    path = _key_file(tmp_path)
    path.parent.mkdir()
    path.write_text("not a key!")
    with pytest.raises(MasterKeyError, match="not valid base64"):
        open_vault(settings_for(database_url, key_file=path), engine)
    path.unlink()
    path.mkdir()  # a directory cannot be read as a file, even by root
    with pytest.raises(MasterKeyError, match="cannot read master key file") as caught:
        open_vault(settings_for(database_url, key_file=path), engine)
    _assert_one_line(str(caught.value))
    path.rmdir()
    path.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(MasterKeyError, match="cannot read"):
        open_vault(settings_for(database_url, key_file=path), engine)


def test_invalid_old_key_names_its_position(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    settings = settings_for(
        database_url,
        master_key=generate_key(),
        key_file=_key_file(tmp_path),
        old_keys=f"{generate_key()}, nope",
    )
    with pytest.raises(MasterKeyError, match="BYOKBOT_OLD_MASTER_KEYS entry 2"):
        open_vault(settings, engine)


def _seeded(engine: Engine, database_url: str, tmp_path: Path, *, count: int = 3) -> str:
    key = generate_key()
    vault = open_vault(
        settings_for(database_url, master_key=key, key_file=tmp_path / "unused.key"), engine
    )
    seed_keys(engine, vault, count=count)
    return key


@pytest.mark.parametrize("count", [0, 3])
def test_missing_key_with_used_database_is_refused(
    engine: Engine, database_url: str, tmp_path: Path, count: int
) -> None:
    _seeded(engine, database_url, tmp_path, count=count)
    before = snapshot(engine)
    path = _key_file(tmp_path)
    with pytest.raises(MasterKeyError) as caught:
        open_vault(settings_for(database_url, key_file=path), engine)
    _assert_one_line(str(caught.value))
    assert "already holds data sealed with a master key" in str(caught.value)
    assert not path.exists()
    assert snapshot(engine) == before


def test_wrong_key_is_refused_and_changes_nothing(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    _seeded(engine, database_url, tmp_path)
    before = snapshot(engine)
    wrong = generate_key()
    with pytest.raises(MasterKeyError) as caught:
        open_vault(settings_for(database_url, master_key=wrong, key_file=tmp_path / "k"), engine)
    _assert_one_line(str(caught.value))
    assert "wrong master key" in str(caught.value)
    assert wrong not in str(caught.value)
    assert snapshot(engine) == before


def test_forged_check_value_fingerprint_is_refused(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    """Even if the stored fingerprint is made to match, the check value must decrypt."""
    _seeded(engine, database_url, tmp_path)
    wrong = generate_key()
    with session_scope(engine) as session:
        meta = session.get(VaultMeta, 1)
        assert meta is not None
        meta.key_fingerprint = fingerprint(base64.b64decode(wrong))
        session.add(meta)
    with pytest.raises(MasterKeyError, match="check value"):
        open_vault(settings_for(database_url, master_key=wrong, key_file=tmp_path / "k"), engine)


def test_rows_of_an_unconfigured_old_key_are_refused_until_it_is_given(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    old = generate_key()
    seed_keys(engine, Vault(parse_key(old, origin="t")), count=2)
    current = generate_key()
    # Two rows sealed under `old` and no check value yet; only `current` is configured.
    before = snapshot(engine)
    with pytest.raises(MasterKeyError, match="BYOKBOT_OLD_MASTER_KEYS"):
        open_vault(settings_for(database_url, master_key=current, key_file=tmp_path / "k"), engine)
    assert snapshot(engine) == before
    vault = open_vault(
        settings_for(database_url, master_key=current, key_file=tmp_path / "k", old_keys=old),
        engine,
    )
    assert read_all(engine, vault)["key-001"] == secret_for(1)


def test_database_without_check_value_is_verified_on_rows(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    key = _seeded(engine, database_url, tmp_path)
    wrong = generate_key()
    # No check value, and the rows claim the wrong key's version: the only defence left
    # is trying to decrypt a stored row.
    with session_scope(engine) as session:
        session.execute(delete(VaultMeta))
        session.execute(update(ProviderKey).values(key_version=_version(wrong)))
    before = snapshot(engine)
    with pytest.raises(MasterKeyError, match="cannot decrypt stored key"):
        open_vault(settings_for(database_url, master_key=wrong, key_file=tmp_path / "k"), engine)
    assert snapshot(engine) == before
    with session_scope(engine) as session:
        session.execute(update(ProviderKey).values(key_version=_version(key)))
    vault = open_vault(settings_for(database_url, master_key=key, key_file=tmp_path / "k"), engine)
    assert len(read_all(engine, vault)) == 3
    with session_scope(engine) as session:
        meta = session.get(VaultMeta, 1)
        assert meta is not None and meta.key_fingerprint == _version(key)


def _version(key: str) -> str:
    return fingerprint(base64.b64decode(key))


def test_rotation_in_progress_configuration_opens(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    """New key current, old key in BYOKBOT_OLD_MASTER_KEYS: every stored key still reads."""
    old = _seeded(engine, database_url, tmp_path)
    vault = open_vault(
        settings_for(
            database_url, master_key=generate_key(), key_file=tmp_path / "k", old_keys=old
        ),
        engine,
    )
    assert read_all(engine, vault) == {f"key-{i:03d}": secret_for(i) for i in range(3)}


def test_wrong_key_at_start_exits_2_and_leaves_the_database_bytes_alone(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    _seeded(engine, database_url, tmp_path)
    checkpoint(engine)
    before = snapshot(engine)
    engine.dispose()
    db_file = (
        Path(database_url.removeprefix("sqlite:///")) if database_url.startswith("sqlite") else None
    )
    digest = hashlib.sha256(db_file.read_bytes()).hexdigest() if db_file else ""
    wrong = generate_key()
    result = run_byokbot(
        "serve",
        env={
            "BYOKBOT_DATABASE_URL": database_url,
            "BYOKBOT_MASTER_KEY": wrong,
            "BYOKBOT_HTTP_PORT": "0",
        },
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("byokbot: error: wrong master key")
    assert wrong not in result.stderr + result.stdout
    assert snapshot(engine) == before
    if db_file is not None:
        assert hashlib.sha256(db_file.read_bytes()).hexdigest() == digest
