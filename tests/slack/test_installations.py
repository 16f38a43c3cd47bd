"""bolt's installation and OAuth state stores on our own tables (SQLite or PostgreSQL)."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from slack_sdk.oauth.installation_store import Installation
from sqlalchemy import text
from sqlalchemy.engine import Engine

from adapters.slack.installations import TOKEN_KEY_ID, SqlInstallationStore, SqlStateStore
from bot.errors import DecryptionError
from bot.vault.cipher import Vault
from bot.vault.masterkey import generate_key, parse_key
from bot.vault.rows import reseal_all
from storage.engine import make_engine, session_scope
from storage.models import Workspace
from storage.slack_models import SlackOAuthState

TOKEN_1 = "xoxb-111-planted-token-of-team-one"
TOKEN_2 = "xoxb-222-planted-token-of-team-two"


def installation(team: str, token: str, *, refresh: str | None = None) -> Installation:
    return Installation(
        app_id="A0001",
        team_id=team,
        team_name=f"Team {team}",
        bot_token=token,
        bot_id="B" + team,
        bot_user_id="U" + team,
        bot_scopes=["chat:write", "commands"],
        bot_refresh_token=refresh,
        bot_token_expires_in=3600 if refresh else None,
        user_id="UADMIN",
    )


@pytest.fixture
def vault(master_key: str) -> Vault:
    return Vault(parse_key(master_key, origin="test"))


def raw_dump(engine: Engine) -> bytes:
    """Every byte of every row of the Slack tables, as the database returns it."""
    out = b""
    with engine.connect() as conn:
        for table in ("slack_installations", "slack_oauth_states", "workspaces"):
            for row in conn.execute(text(f"SELECT * FROM {table}")):
                for value in row:
                    out += value if isinstance(value, bytes) else str(value).encode()
    return out


async def test_installations_are_sealed_found_and_isolated(engine: Engine, vault: Vault) -> None:
    store = SqlInstallationStore(engine, vault)
    await store.async_save(installation("T1", TOKEN_1, refresh="xoxe-1-refresh-token"))
    await store.async_save(installation("T2", TOKEN_2))

    dump = raw_dump(engine)
    for secret in (TOKEN_1, TOKEN_2, "xoxe-1-refresh-token", "planted"):
        assert secret.encode() not in dump

    bot1 = await store.async_find_bot(enterprise_id=None, team_id="T1")
    bot2 = await store.async_find_bot(enterprise_id=None, team_id="T2")
    assert bot1 is not None and bot1.bot_token == TOKEN_1
    assert bot1.bot_refresh_token == "xoxe-1-refresh-token" and bot1.bot_token_expires_at
    assert bot2 is not None and bot2.bot_token == TOKEN_2 and bot2.bot_user_id == "UT2"
    assert await store.async_find_bot(enterprise_id=None, team_id="T3") is None
    found = await store.async_find_installation(enterprise_id=None, team_id="T2")
    assert found is not None and found.bot_token == TOKEN_2
    with session_scope(engine) as session:  # the workspace row exists for the core
        assert session.get(Workspace, "slack:T1") is not None


async def test_reinstall_replaces_the_token(engine: Engine, vault: Vault) -> None:
    store = SqlInstallationStore(engine, vault)
    await store.async_save(installation("T1", TOKEN_1))
    await store.async_save(installation("T1", "xoxb-new-token"))
    bot = await store.async_find_bot(enterprise_id=None, team_id="T1")
    assert bot is not None and bot.bot_token == "xoxb-new-token"


async def test_uninstall_deletes_only_that_workspaces_tokens(engine: Engine, vault: Vault) -> None:
    store = SqlInstallationStore(engine, vault)
    await store.async_save(installation("T1", TOKEN_1))
    await store.async_save(installation("T2", TOKEN_2))
    await store.async_delete_installation(enterprise_id=None, team_id="T1", user_id="UADMIN")
    assert await store.async_find_bot(enterprise_id=None, team_id="T1") is not None  # user only
    await store.async_delete_all(enterprise_id=None, team_id="T1")
    assert await store.async_find_bot(enterprise_id=None, team_id="T1") is None
    assert await store.async_find_bot(enterprise_id=None, team_id="T2") is not None
    assert TOKEN_1.encode() not in raw_dump(engine)


async def test_a_token_copied_to_another_workspace_does_not_decrypt(
    engine: Engine, vault: Vault
) -> None:
    store = SqlInstallationStore(engine, vault)
    await store.async_save(installation("T1", TOKEN_1))
    await store.async_save(installation("T2", TOKEN_2))
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE slack_installations SET"
                " token_ciphertext = (SELECT token_ciphertext FROM slack_installations"
                " WHERE workspace_id = 'slack:T1'),"
                " token_nonce = (SELECT token_nonce FROM slack_installations"
                " WHERE workspace_id = 'slack:T1')"
                " WHERE workspace_id = 'slack:T2'"
            )
        )
    with pytest.raises(DecryptionError) as caught:
        await store.async_find_bot(enterprise_id=None, team_id="T2")
    assert caught.value.key_id == TOKEN_KEY_ID and TOKEN_1 not in str(caught.value)


async def test_oauth_state_is_single_use_and_expires(engine: Engine) -> None:
    store = SqlStateStore(engine, expiration_seconds=600)
    state = await store.async_issue()
    other = await store.async_issue()
    assert state != other and len(state) >= 32
    assert await store.async_consume(state)
    assert not await store.async_consume(state)  # replayed
    assert not await store.async_consume("never-issued")
    with session_scope(engine) as session:
        row = session.get(SlackOAuthState, other)
        assert row is not None
        row.expires_at = dt.datetime(2000, 1, 1)
    assert not await store.async_consume(other)  # expired


async def test_oauth_state_consumed_once_across_replicas(pg_url: str) -> None:
    engines = [make_engine(pg_url) for _ in range(4)]
    try:
        state = await SqlStateStore(engines[0]).async_issue()
        results = await asyncio.gather(
            *(SqlStateStore(e).async_consume(state) for e in engines for _ in range(3))
        )
        assert sorted(results) == [False] * 11 + [True]
    finally:
        for e in engines:
            e.dispose()


async def test_master_key_rotation_reseals_slack_tokens(engine: Engine, vault: Vault) -> None:
    store = SqlInstallationStore(engine, vault)
    await store.async_save(installation("T1", TOKEN_1, refresh="xoxe-1-refresh-token"))
    new_vault = Vault(parse_key(generate_key(), origin="test"))
    with session_scope(engine) as session:  # what `byokbot master-key rotate` runs
        assert reseal_all(session, current=vault, new=new_vault) == 1
    bot = await SqlInstallationStore(engine, new_vault).async_find_bot(
        enterprise_id=None, team_id="T1"
    )
    assert bot is not None and bot.bot_token == TOKEN_1
    assert bot.bot_refresh_token == "xoxe-1-refresh-token"
    with pytest.raises(DecryptionError):
        await store.async_find_bot(enterprise_id=None, team_id="T1")  # the old key alone
