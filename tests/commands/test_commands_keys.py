"""`/byok key …` through the dispatcher: verify, store sealed, show masked, rotate, revoke, test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.vault.keystore import Sealed, mask
from storage.models import Agent, ProviderKey
from tests.fakes.fixtures import _openai_server, openai_fake  # noqa: F401
from tests.fakes.providers import FakeOpenAI, Fault
from tests.kits.commands_kit import (
    BAD_SECRET,
    OTHER_SECRET,
    SECRET,
    Bot,
    RecordingSink,
    audit_rows,
    make_services,
)
from tests.kits.logcapture import LogCapture


@pytest.fixture
async def bot(engine: Engine, master_key: str) -> AsyncIterator[Bot]:
    services = make_services(engine, master_key=master_key)
    yield Bot(services)
    await services.providers.aclose()


@pytest.fixture
def fake(openai_fake: FakeOpenAI) -> FakeOpenAI:  # noqa: F811
    openai_fake.valid_keys = {SECRET, OTHER_SECRET}
    return openai_fake


def _keys(engine: Engine) -> list[ProviderKey]:
    with Session(engine) as session:
        return list(session.exec(select(ProviderKey)).all())


def _unseal(bot: Bot, key: ProviderKey) -> str:
    sealed = Sealed(key.ciphertext, key.nonce, key.key_version)
    return bot.services.vault.unseal(sealed, workspace_id=key.workspace_id, key_id=key.id)


async def test_add_verifies_then_stores_sealed_and_replies_masked(
    bot: Bot, fake: FakeOpenAI, engine: Engine, log_capture: LogCapture
) -> None:
    sink = await bot.run(f"key add openai prod {SECRET} --base-url {fake.base_url}")
    assert sink.sent and all(sent.private for sent in sink.sent)
    assert mask(SECRET) in sink.last and "verified" in sink.last
    assert len(fake.requests) == 1 and fake.requests[0].path.endswith("/models")
    [key] = _keys(engine)
    assert (key.name, key.provider, key.status, key.masked) == (
        "prod",
        "openai",
        "active",
        mask(SECRET),
    )
    assert key.base_url == fake.base_url.rstrip("/")
    assert SECRET.encode() not in key.ciphertext and _unseal(bot, key) == SECRET
    listing = await bot.run("key list")
    assert "prod" in listing.last and mask(SECRET) in listing.last and "active" in listing.last
    assert "127.0.0.1" in listing.last  # custom base URL host shown
    everything = sink.text + listing.text + log_capture.text
    everything += "".join(f"{a.target}{a.detail}" for a in audit_rows(engine))
    assert SECRET not in everything
    assert [a.action for a in audit_rows(engine)] == ["key.add"]


async def test_rejected_key_is_not_stored(bot: Bot, fake: FakeOpenAI, engine: Engine) -> None:
    sink = await bot.run(f"key add openai prod {BAD_SECRET} --base-url {fake.base_url}")
    assert "rejected" in sink.last and "not stored" in sink.last
    assert "\n" not in sink.last and BAD_SECRET not in sink.text
    assert _keys(engine) == []
    [row] = audit_rows(engine)
    assert (row.action, row.outcome) == ("key.add", "refused")
    assert BAD_SECRET not in row.detail


async def test_unreachable_provider_is_not_stored_and_says_no_verify(
    bot: Bot, fake: FakeOpenAI, engine: Engine
) -> None:
    fake.script(Fault.http_status(503), times=5)
    sink = await bot.run(f"key add openai prod {SECRET} --base-url {fake.base_url}")
    assert "could not verify" in sink.last and "--no-verify" in sink.last
    assert _keys(engine) == []


async def test_no_verify_stores_without_calling_the_provider(
    bot: Bot, fake: FakeOpenAI, engine: Engine
) -> None:
    sink = await bot.run(f"key add openai prod {BAD_SECRET} --base-url {fake.base_url} --no-verify")
    assert "not verified" in sink.last
    assert fake.requests == []
    [key] = _keys(engine)
    assert _unseal(bot, key) == BAD_SECRET


async def test_missing_secret_opens_a_private_form_then_submit_stores(
    bot: Bot, fake: FakeOpenAI, engine: Engine
) -> None:
    sink = await bot.run(f"key add openai prod --base-url {fake.base_url}")
    [form] = sink.forms
    assert (form.action, form.key_name, form.provider, form.verify) == (
        "add",
        "prod",
        "openai",
        True,
    )
    assert _keys(engine) == []
    done = await bot.submit(form, f"  {SECRET}\n")
    assert mask(SECRET) in done.last and SECRET not in done.text
    [key] = _keys(engine)
    assert _unseal(bot, key) == SECRET


async def test_submitted_secret_needs_an_admin(bot: Bot, fake: FakeOpenAI, engine: Engine) -> None:
    sink = await bot.run(f"key add openai prod --base-url {fake.base_url}")
    refused = await bot.submit(sink.forms[0], SECRET, user="intruder", admin=False)
    assert "Only byokbot admins" in refused.last
    assert _keys(engine) == [] and fake.requests == []
    assert audit_rows(engine)[-1].outcome == "denied"


async def test_secret_shape_is_checked_without_echo(bot: Bot, fake: FakeOpenAI) -> None:
    sink = await bot.run(f"key add openai prod --base-url {fake.base_url}")
    done = await bot.submit(sink.forms[0], "sk-abc def\u00e9")
    assert "printable ASCII" in done.last and "abc" not in done.last
    empty = await bot.submit(sink.forms[0], "   ")
    assert "needs a secret" in empty.last
    assert fake.requests == []


async def test_existing_active_name_conflicts_revoked_name_is_replaced(
    bot: Bot, fake: FakeOpenAI, engine: Engine
) -> None:
    await bot.run(f"key add openai prod {SECRET} --base-url {fake.base_url}")
    again = await bot.run(f"key add openai prod {OTHER_SECRET} --base-url {fake.base_url}")
    assert "already exists" in again.last and "key rotate" in again.last
    await bot.run("agent create writer --key prod --model gpt-4o-mini")
    await bot.run("key revoke prod")
    [old] = _keys(engine)
    readd = await bot.run(f"key add openai prod {OTHER_SECRET} --base-url {fake.base_url}")
    assert "replaces the revoked key" in readd.last
    [key] = _keys(engine)
    assert key.id == old.id and key.status == "active" and _unseal(bot, key) == OTHER_SECRET
    with Session(engine) as session:
        agent = session.exec(select(Agent)).one()
    assert agent.key_id == key.id  # the agent works again with the new secret


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/v1",
        "https://127.0.0.1/v1",
        "https://localhost/v1",
        "https://10.1.2.3/v1",
        "https://169.254.169.254/latest",
        "https://user:pw@api.example.com/v1",
        "https://[::1]/v1",
        "ftp://api.example.com",
    ],
)
async def test_private_base_urls_are_refused_by_default(
    engine: Engine, master_key: str, url: str
) -> None:
    services = make_services(engine, master_key=master_key, allow_private=False)
    bot = Bot(services)
    sink = await bot.run(f"key add openai-compatible local {SECRET} --base-url {url}")
    await services.providers.aclose()
    assert "--base-url refused" in sink.last and SECRET not in sink.text
    assert _keys(engine) == []


async def test_provider_rules(bot: Bot) -> None:
    assert "unknown provider" in (await bot.run(f"key add opneai prod {SECRET}")).last
    assert "needs --base-url" in (await bot.run(f"key add azure-openai az {SECRET}")).last
    assert "needs --base-url" in (await bot.run(f"key add openai-compatible c {SECRET}")).last


async def test_ollama_key_may_be_a_dash(bot: Bot, fake: FakeOpenAI, engine: Engine) -> None:
    sink = await bot.run(f"key add ollama local - --base-url {fake.base_url} --no-verify")
    assert "(no key)" in sink.last
    [key] = _keys(engine)
    assert _unseal(bot, key) == "-"


async def test_rotate_verifies_and_keeps_the_id(bot: Bot, fake: FakeOpenAI, engine: Engine) -> None:
    await bot.run(f"key add openai prod {SECRET} --base-url {fake.base_url}")
    [before] = _keys(engine)
    rejected = await bot.run(f"key rotate prod {BAD_SECRET}")
    assert "rejected" in rejected.last
    assert _unseal(bot, _keys(engine)[0]) == SECRET  # the old secret stays
    sink = await bot.run(f"key rotate prod {OTHER_SECRET}")
    assert mask(OTHER_SECRET) in sink.last and OTHER_SECRET not in sink.text
    [after] = _keys(engine)
    assert after.id == before.id and after.rotated_at is not None
    assert _unseal(bot, after) == OTHER_SECRET and after.masked == mask(OTHER_SECRET)
    assert fake.requests[-1].headers["authorization"] == f"Bearer {OTHER_SECRET}"
    form = await bot.run("key rotate prod")
    assert form.forms[0].action == "rotate" and form.forms[0].provider == "openai"
    assert "no key called" in (await bot.run(f"key rotate nope {SECRET}")).last


async def test_revoke_wipes_the_secret_and_names_the_agents(
    bot: Bot, fake: FakeOpenAI, engine: Engine
) -> None:
    await bot.run(f"key add openai prod {SECRET} --base-url {fake.base_url}")
    await bot.run("agent create writer --key prod --model gpt-4o-mini")
    sink = await bot.run("key revoke prod")
    assert "revoked" in sink.last and "writer" in sink.last
    [key] = _keys(engine)
    assert key.status == "revoked" and key.ciphertext == b"" and key.nonce == b""
    assert "already revoked" in (await bot.run("key revoke prod")).last
    listing = await bot.run("key list")
    assert "revoked" in listing.last
    assert "revoked" in (await bot.run("key test prod")).last
    created = await bot.run("agent create other --key prod --model gpt-4o-mini")
    assert "revoked" in created.last


async def test_key_test_marks_failing_and_back(bot: Bot, fake: FakeOpenAI, engine: Engine) -> None:
    await bot.run(f"key add openai prod {SECRET} --base-url {fake.base_url}")
    assert "works" in (await bot.run("key test prod")).last
    fake.valid_keys = {OTHER_SECRET}  # the provider revoked our key
    failing = await bot.run("key test prod")
    assert "rejected" in failing.last and "failing" in failing.last
    assert _keys(engine)[0].status == "failing"
    assert "failing" in (await bot.run("key list")).last
    fake.valid_keys = {SECRET}
    await bot.run("key test prod")
    assert _keys(engine)[0].status == "active"
    outcomes = [(a.action, a.outcome) for a in audit_rows(engine) if a.action == "key.test"]
    assert outcomes == [("key.test", "ok"), ("key.test", "refused"), ("key.test", "ok")]


async def test_key_replies_are_always_private_and_never_hold_the_secret(
    bot: Bot, fake: FakeOpenAI, engine: Engine, log_capture: LogCapture
) -> None:
    sink = RecordingSink()
    lines = [
        f"key add openai prod {SECRET} --base-url {fake.base_url}",
        f"key add openai prod {SECRET}",
        f"key add openai Bad!Name {SECRET}",
        f"key add {SECRET}",
        f"key add openai prod {SECRET} extra",
        f"key add openai prod {SECRET} --bogus",
        f"key rotate prod {SECRET} --no-verify",
        f"key rotate {SECRET}",
        "key list",
        "key test prod",
        "key revoke prod",
        f"{SECRET}",
        f"kye add openai prod {SECRET}",
    ]
    for line in lines:
        await bot.run(line, sink=sink)
    assert len(sink.sent) >= len(lines)
    assert all(sent.private for sent in sink.sent)
    rows = audit_rows(engine)
    stored = "".join(f"{a.action}{a.target}{a.detail}{a.outcome}" for a in rows)
    assert SECRET not in sink.text and SECRET not in stored and SECRET not in log_capture.text
    assert SECRET[8:30] not in sink.text + stored + log_capture.text
