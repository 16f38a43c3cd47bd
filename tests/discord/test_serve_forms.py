"""Key forms (Discord modals) through the real `byokbot serve`: kept in the database, so a
submission is finished by whichever process receives it, once, for the user who opened it.

A modal's custom_id carries only a token (`byok-key-form:<token>`); what the form is for
sits in `pending_forms` (never the secret). A submission is an INTERACTION_CREATE of
type 5 pushed through the fake gateway, as Discord sends it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.fakes.discord import DEFERRED, MODAL, FakeDiscord
from tests.fakes.discord_driver import Answer, DiscordDriver
from tests.fakes.discord_gateway import ADMIN, ADMINISTRATOR, CHANNEL, GUILD, modal_data
from tests.fakes.providers import FakeOpenAI
from tests.kits.helpers import ServeProcess
from tests.kits.secret_hunt import assert_absent, database_bytes

SECRET = "sk-formsecret0123456789abcdefRSTU"
REPLAYED = "sk-formreplay0123456789abcdefWXYZ"
PREFIX = "byok-key-form:"
EXPIRED = "This key form has expired; run /byok key add … again."
WORKSPACE = f"discord:{GUILD}"


def _open(discord: DiscordDriver, provider: FakeOpenAI) -> dict[str, Any]:
    """`/byok key add openai prod` without a secret, by ADMIN; the modal the bot opened."""
    callback = discord.command_callback(
        "key",
        "add",
        {"provider": "openai", "name": "prod", "base_url": provider.base_url},
        user=ADMIN,
    )
    assert callback["type"] == MODAL, callback
    modal: dict[str, Any] = callback["data"]
    return modal


def _submit(
    discord: DiscordDriver, modal: dict[str, Any], secret: str, *, user: int
) -> tuple[str, Answer]:
    """Submit `modal` with `secret` typed in; the interaction's key and its answer."""
    (row,) = modal["components"]
    (field,) = row["components"]
    data = modal_data(modal["custom_id"], {field["custom_id"]: secret})
    key = discord.interact(5, data, user=user, channel=CHANNEL)
    return key, discord.answer_of(key)


def _rows(engine: Engine, query: str) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(query)).all()]


def _keys(engine: Engine) -> list[tuple[Any, ...]]:
    return _rows(engine, "SELECT workspace_id, name, masked FROM provider_keys")


def _pending(engine: Engine) -> list[tuple[Any, ...]]:
    return _rows(
        engine,
        "SELECT token, workspace_id, user_id, action, key_name, provider, base_url, verify "
        "FROM pending_forms",
    )


def _callbacks(fake: FakeDiscord, key: str) -> int:
    return len(fake.calls_to("POST", f"/interactions/{key}/callback"))


def _stored(answer: Answer, secret: str) -> None:
    """One private answer saying the key is stored, masked (`sk-…RSTU`), never in full."""
    assert answer.callback.get("type") == DEFERRED and answer.all_ephemeral, answer
    (line,) = [str(body.get("content")) for body in answer.followups]
    assert f"stored as sk-…{secret[-4:]}" in line, line
    assert secret not in line


def test_a_form_opened_before_a_restart_is_finished_by_the_new_process(
    discord: DiscordDriver,
    fake: FakeDiscord,
    provider: FakeOpenAI,
    serve: ServeProcess,
    env: dict[str, str],
    engine: Engine,
    database_url: str,
    tmp_path: Path,
) -> None:
    provider.valid_keys.add(SECRET)
    modal = _open(discord, provider)
    assert [row[0] for row in _pending(engine)] == [modal["custom_id"].removeprefix(PREFIX)]
    first_log = serve.log_text()
    assert serve.stop() == 0  # a deploy: the process that opened the modal is gone

    (tmp_path / "restarted").mkdir()
    with ServeProcess(env=env, cwd=tmp_path / "restarted") as restarted:
        driver = DiscordDriver(fake, log=restarted.log_text)
        driver.wait_ready()
        _key, answer = _submit(driver, modal, SECRET, user=ADMIN)
        _stored(answer, SECRET)
        assert _keys(engine) == [(WORKSPACE, "prod", f"sk-…{SECRET[-4:]}")]
        assert _pending(engine) == []  # taken
        (verify,) = provider.requests  # verified by the new process before it was stored
        assert verify.headers["authorization"] == f"Bearer {SECRET}"
        # The secret is in no database byte (SQLite file + WAL, or a pg_dump)…
        assert_absent(database_bytes(database_url), [SECRET], where="the database")
    logs = first_log + restarted.log_text()  # …nor in either process's DEBUG log
    assert_absent(logs.encode(), [SECRET], where="the serve logs")
    assert "Traceback" not in logs and "refused a key form" not in logs


def test_a_form_in_one_process_is_handled_exactly_once(
    discord: DiscordDriver,
    fake: FakeDiscord,
    provider: FakeOpenAI,
    serve: ServeProcess,
    engine: Engine,
) -> None:
    provider.valid_keys.add(SECRET)
    modal = _open(discord, provider)
    custom_id = modal["custom_id"]
    assert custom_id.startswith(PREFIX) and len(custom_id) <= 100
    # What the form is for is in the database, under the token; the secret cannot be.
    ((form_token, *meta),) = _pending(engine)
    assert custom_id == PREFIX + form_token
    assert meta == [WORKSPACE, str(ADMIN), "add", "prod", "openai", provider.base_url, True]

    key, answer = _submit(discord, modal, SECRET, user=ADMIN)
    _stored(answer, SECRET)
    time.sleep(0.5)  # room for a second handling, were there one
    assert _callbacks(fake, key) == 1  # acknowledged once…
    token = key.split("/", 1)[1]
    followups = [c for c in fake.calls if c.path.startswith("/webhooks/") and token in c.path]
    assert len(followups) == 1  # …and answered once
    assert len(_keys(engine)) == 1 and len(provider.requests) == 1
    assert _pending(engine) == []
    log = serve.log_text()
    assert "refused a key form" not in log and "handling failed" not in log, log
    assert "Traceback" not in log and SECRET not in log


def test_another_users_submission_is_refused_and_leaves_the_form_to_its_owner(
    discord: DiscordDriver, provider: FakeOpenAI, serve: ServeProcess, engine: Engine
) -> None:
    provider.valid_keys.update({SECRET, REPLAYED})
    modal = _open(discord, provider)
    # ADMINISTRATOR may manage keys, but this form was opened by ADMIN.
    _key, refused = _submit(discord, modal, REPLAYED, user=ADMINISTRATOR)
    assert refused.all_ephemeral and refused.text == EXPIRED, refused.text
    assert _keys(engine) == [] and provider.requests == []  # nothing verified or stored
    assert len(_pending(engine)) == 1  # the owner's form is not burnt
    audit = _rows(engine, "SELECT actor_id, action, outcome FROM audit_events")
    assert (str(ADMINISTRATOR), "key.form", "refused") in audit, audit

    _key, answer = _submit(discord, modal, SECRET, user=ADMIN)
    _stored(answer, SECRET)
    assert _keys(engine) == [(WORKSPACE, "prod", f"sk-…{SECRET[-4:]}")]
    log = serve.log_text()
    assert "Traceback" not in log and SECRET not in log and REPLAYED not in log


def test_a_replayed_submission_gets_the_expired_line_and_stores_nothing(
    discord: DiscordDriver, provider: FakeOpenAI, serve: ServeProcess, engine: Engine
) -> None:
    provider.valid_keys.update({SECRET, REPLAYED})
    modal = _open(discord, provider)
    _key, first = _submit(discord, modal, SECRET, user=ADMIN)
    _stored(first, SECRET)

    _key, again = _submit(discord, modal, REPLAYED, user=ADMIN)  # the same token once more
    assert again.all_ephemeral and again.text == EXPIRED, again.text
    assert _keys(engine) == [(WORKSPACE, "prod", f"sk-…{SECRET[-4:]}")]  # the first, unchanged
    assert len(provider.requests) == 1  # the replayed secret was never even verified
    log = serve.log_text()
    assert "Traceback" not in log and SECRET not in log and REPLAYED not in log
