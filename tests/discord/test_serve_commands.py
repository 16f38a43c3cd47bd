"""`/byok` app commands through the real `byokbot serve` against the fake Discord.

Tests that need neither an empty database nor a process of their own share the module's
`byokbot serve` (`shared_discord`, tests/discord/conftest.py).

The process logs in over REST, connects to the fake gateway, syncs its commands, and is
then sent INTERACTION_CREATE dispatches; answers are read from the interaction callbacks
and webhook follow-ups the fake recorded (a usage export: the uploaded CSV file itself).
"""

from __future__ import annotations

import csv
import io
import re

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from tests.fakes.discord import EPHEMERAL, MODAL, FakeDiscord
from tests.fakes.discord_driver import DiscordDriver
from tests.fakes.discord_gateway import (
    ADMIN,
    ADMINISTRATOR,
    APP_ID,
    BOT_ID,
    CHANNEL,
    GUILD,
    MEMBER,
)
from tests.fakes.providers import FakeOpenAI
from tests.kits.helpers import ServeProcess
from tests.kits.serve_fixtures import usage_rows

SECRET = "sk-discordsecret0123456789abcdefXYZ"


def test_start_logs_in_identifies_with_the_intents_and_syncs_byok(
    discord: DiscordDriver, fake: FakeDiscord
) -> None:
    assert fake.calls_to("GET", "/users/@me") and fake.calls_to("GET", "/gateway/bot")
    assert all(c.authorization == f"Bot {fake.token}" for c in fake.calls_to("GET", "/users"))
    (identify,) = fake.identified
    guilds, guild_messages, dms, content = 1 << 0, 1 << 9, 1 << 12, 1 << 15
    assert identify["intents"] == guilds | guild_messages | dms | content
    (sync,) = fake.calls_to("PUT", f"/applications/{APP_ID}/commands")
    (byok,) = sync.body
    assert byok["name"] == "byok"
    assert byok.get("contexts") == [0] or byok.get("dm_permission") is False
    names = {o["name"]: {s["name"] for s in o.get("options", [])} for o in byok["options"]}
    assert names["key"] == {"add", "list", "rotate", "revoke", "delete", "test"}
    assert {"create", "set", "bind", "unbind", "default", "list", "show", "delete"} <= (
        names["agent"]
    )
    assert {"help", "usage", "audit", "limit", "digest", "admins", "models"} <= set(names)


def test_admin_agent_list_is_a_deferred_ephemeral_reply_with_the_core_text(
    discord: DiscordDriver, fake: FakeDiscord
) -> None:
    answer = discord.command("agent", "list", {}, user=ADMIN)
    assert answer.deferred_ephemeral
    assert answer.all_ephemeral
    assert answer.text.startswith("No agents yet"), answer.text


def test_administrator_role_is_an_admin_too(discord: DiscordDriver) -> None:
    answer = discord.command("key", "list", {}, user=ADMINISTRATOR)
    assert answer.all_ephemeral
    assert answer.text.startswith("No keys yet"), answer.text


def test_non_admin_is_refused_privately_and_audited(
    shared_discord: DiscordDriver, module_database_url: str
) -> None:
    discord, database_url = shared_discord, module_database_url

    def denials() -> list[tuple[str, str]]:
        engine = create_engine(database_url)
        try:
            with engine.connect() as conn:
                rows = conn.execute(text("SELECT actor_id, outcome FROM audit_events")).all()
        finally:
            engine.dispose()
        return [(row[0], row[1]) for row in rows if row[0] == str(MEMBER) and row[1] == "denied"]

    before = denials()  # the database is the module's: count this test's row only
    answer = discord.command("agent", "list", {}, user=MEMBER)
    assert answer.all_ephemeral
    assert answer.text.startswith("Only byokbot admins"), answer.text
    assert len(denials()) == len(before) + 1


def test_key_add_without_secret_opens_a_modal_whose_submission_stores_the_key(
    discord: DiscordDriver,
    fake: FakeDiscord,
    provider: FakeOpenAI,
    database_url: str,
    serve: ServeProcess,
) -> None:
    provider.valid_keys.add(SECRET)
    callback = discord.command_callback(
        "key",
        "add",
        {"provider": "openai", "name": "prod", "base_url": provider.base_url},
        user=ADMIN,
    )
    assert callback["type"] == MODAL, callback
    modal = callback["data"]
    (row,) = modal["components"]
    (field_,) = row["components"]
    assert field_["type"] == 4
    answer = discord.submit_modal(modal["custom_id"], {field_["custom_id"]: SECRET}, user=ADMIN)
    assert answer.all_ephemeral
    assert "stored" in answer.text, answer.text
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            keys = conn.execute(text("SELECT workspace_id, name FROM provider_keys")).all()
    finally:
        engine.dispose()
    assert keys == [(f"discord:{GUILD}", "prod")]
    (verify,) = provider.requests  # verified against the provider before it was stored
    assert verify.headers["authorization"] == f"Bearer {SECRET}"
    assert SECRET not in serve.log_text()
    assert SECRET not in " ".join(str(c.body) for c in fake.calls)
    assert not any(SECRET in str(c.body) for c in fake.calls_to("POST", "/interactions"))


def test_inline_secret_is_stored_never_echoed_nor_logged(
    shared_discord: DiscordDriver,
    shared_fake: FakeDiscord,
    shared_serve: ServeProcess,
    provider: FakeOpenAI,
) -> None:
    discord, fake, serve = shared_discord, shared_fake, shared_serve
    options = {
        "provider": "openai",
        "name": "inline",
        "secret": SECRET,
        "base_url": provider.base_url,
        "no_verify": True,
    }
    answer = discord.command("key", "add", options, user=ADMIN)
    assert answer.all_ephemeral and "stored" in answer.text, answer.text
    listing = discord.command("key", "list", {}, user=ADMIN)
    assert "inline" in listing.text
    sent = " ".join(str(c.body) for c in fake.calls if not c.path.startswith("/interactions"))
    assert SECRET not in sent and SECRET not in listing.text
    assert SECRET not in serve.log_text()


def test_usage_export_is_an_ephemeral_csv_upload_with_metadata_only(
    discord: DiscordDriver, fake: FakeDiscord, provider: FakeOpenAI, engine: Engine
) -> None:
    provider.reply = "ANSWER-CANARY: four."
    discord.create_agent(provider.base_url)
    discord.say(f"<@{BOT_ID}> PROMPT-CANARY what is 2+2?")
    fake.wait_for(lambda _f: usage_rows(engine) == 1)  # written once the answer is done
    answer = discord.command(None, "usage", {"export": True}, user=ADMIN)
    assert answer.deferred_ephemeral and answer.all_ephemeral
    uploads = [c for c in fake.calls if c.files]
    (call,) = uploads  # one multipart request, the interaction's follow-up webhook
    assert call.method == "POST" and call.path.startswith(f"/webhooks/{APP_ID}/itoken")
    (upload,) = call.files
    assert upload.field == "files[0]"  # Discord's multipart naming, described in payload_json
    assert re.fullmatch(r"byokbot-usage-since-\d{4}-\d{2}-\d{2}\.csv", upload.filename)
    assert call.body["attachments"] == [{"id": 0, "filename": upload.filename}]
    assert int(call.body["flags"]) & EPHEMERAL
    assert "1 call" in call.body["content"]

    content = upload.content.decode("utf-8")
    header, *lines = content.split("\r\n")
    assert header.split(",")[:8] == [
        "time_utc", "agent", "key", "provider", "model", "user", "channel", "outcome",
    ]  # fmt: skip
    assert {"input_tokens", "output_tokens", "cost_usd", "latency_ms"} <= set(header.split(","))
    (row,) = csv.DictReader(io.StringIO(content))
    assert (row["agent"], row["key"], row["provider"]) == ("writer", "writer-key", "openai")
    assert (row["model"], row["outcome"]) == ("gpt-4o-mini", "ok")
    assert row["user"] == str(MEMBER) and row["channel"] == str(CHANNEL)
    assert int(row["input_tokens"]) > 0 and int(row["output_tokens"]) > 0
    assert lines[-1] == "" and len(lines) == 2  # one row, CRLF-terminated
    # Metadata only: neither the question nor the answer is in the file or its message.
    for said in ("PROMPT-CANARY", "2+2", "ANSWER-CANARY", "four"):
        assert said not in content and said not in str(call.body), said


@pytest.mark.parametrize("why", ["over-the-size-limit", "upload-refused"])
def test_an_export_discord_cannot_take_is_one_private_line_not_a_hang(
    shared_discord: DiscordDriver, shared_fake: FakeDiscord, why: str
) -> None:
    discord, fake = shared_discord, shared_fake
    hook = f"/webhooks/{APP_ID}/"
    if why == "over-the-size-limit":
        fake.attachment_size_limit = 100  # told in the interaction; the CSV header is larger
    else:
        fake.fail(
            "POST", hook, status=400, code=50035, message="Invalid Form Body", uploads_only=True
        )
    answer = discord.command(None, "usage", {"export": True}, user=ADMIN)
    assert answer.deferred_ephemeral and answer.all_ephemeral
    delivered = [c for c in fake.calls if c.path.startswith(hook) and c.status == 200]
    assert not any(c.files for c in delivered)  # no file got through…
    (told,) = [str(c.body["content"]) for c in delivered]  # …but the admin is told, once
    assert told.startswith("byokbot-usage-since-") and "\n" not in told, told
    expected = "too large to send here" if why == "over-the-size-limit" else "could not be sent"
    assert expected in told, told


def test_limit_set_soft_each_user_and_me_for_a_member(shared_discord: DiscordDriver) -> None:
    discord = shared_discord
    options = {"usd": "2", "per": "day", "target": "each-user", "soft": True}
    answer = discord.command("limit", "set", options, user=ADMIN)
    assert answer.all_ephemeral
    assert answer.text.startswith("Daily soft limit for each member set to $2.00."), answer.text
    listed = discord.command("limit", "list", {}, user=ADMIN).text
    assert "• each member — daily, soft: $2.00 each" in listed, listed
    mine = discord.command(None, "me", {}, user=MEMBER)
    assert mine.all_ephemeral
    assert mine.text.startswith("Your spend (UTC):"), mine.text
    assert "• your per-member daily limit (soft): $0.00 spent" in mine.text, mine.text
    cleared = discord.command("limit", "clear", {"target": "each-user"}, user=ADMIN).text
    assert cleared == "Each member's limit removed.", cleared
