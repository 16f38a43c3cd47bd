"""Pending key forms (`bot/forms.py` on `storage/forms.py`): taken once, by their owner, in
their workspace, before they expire; old ones pruned. Time comes from the services' clock."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text
from sqlalchemy.engine import Engine

from bot.boundary import Place, SecretForm, Sender
from bot.core import Core
from bot.forms import EXPIRED_LINE, FORM_TIMEOUT_SECONDS, PendingForms
from bot.services import Services
from tests.kits.commands_kit import SECRET, RecordingSink

PLACE = Place(workspace_id="discord:1", platform="discord", channel_id="10")
OWNER = Sender(user_id="100", is_platform_admin=True)
FORM = SecretForm(
    action="add", key_name="prod", provider="openai", base_url="https://x.example/v1", verify=False
)


class Clock:
    """A settable aware-UTC clock."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


async def test_a_form_is_taken_once_with_its_metadata(services: Services) -> None:
    forms = PendingForms(services)
    token = await forms.open(FORM, place=PLACE, sender=OWNER)
    assert len(token) >= 32
    assert await forms.take(token, place=PLACE, sender=OWNER) == FORM
    assert await forms.take(token, place=PLACE, sender=OWNER) is None


async def test_only_the_owner_in_the_same_workspace_takes_it(services: Services) -> None:
    forms = PendingForms(services)
    token = await forms.open(FORM, place=PLACE, sender=OWNER)
    elsewhere = Place(workspace_id="discord:2", platform="discord", channel_id="20")
    assert await forms.take(token, place=PLACE, sender=Sender(user_id="101")) is None
    assert await forms.take(token, place=elsewhere, sender=OWNER) is None
    assert await forms.take(token, place=PLACE, sender=OWNER) == FORM  # not burnt by them


async def test_a_form_expires_after_the_form_timeout_and_is_pruned(
    services: Services, engine: Engine
) -> None:
    clock = Clock()
    services.clock = clock
    forms = PendingForms(services)
    late = await forms.open(FORM, place=PLACE, sender=OWNER)
    in_time = await forms.open(FORM, place=PLACE, sender=OWNER)
    clock.now += dt.timedelta(seconds=FORM_TIMEOUT_SECONDS - 1)
    assert await forms.take(in_time, place=PLACE, sender=OWNER) == FORM
    clock.now += dt.timedelta(seconds=2)
    assert await forms.take(late, place=PLACE, sender=OWNER) is None
    assert _count(engine, "pending_forms") == 1  # expired, not yet pruned
    await forms.open(FORM, place=PLACE, sender=OWNER)  # opening a form prunes old ones
    assert _count(engine, "pending_forms") == 1


async def test_malformed_tokens_are_refused_quietly(services: Services) -> None:
    forms = PendingForms(services)
    for token in ("", "short", "x" * 65, "bad token with spaces!!", "' OR 1=1 --xxxxxxxx"):
        assert await forms.take(token, place=PLACE, sender=OWNER) is None


async def test_an_expired_submission_is_one_private_line_and_stores_nothing(
    services: Services, engine: Engine
) -> None:
    core = Core(services)
    sink = RecordingSink()
    unknown = "NoSuchToken0123456789abcdefghij"
    await core.submit_form(unknown, SECRET, place=PLACE, sender=OWNER, sink=sink)
    assert [(s.text, s.private) for s in sink.sent] == [(EXPIRED_LINE, True)]
    assert _count(engine, "provider_keys") == 0
    assert _count(engine, "audit_events") == 1  # the refusal is audited

    token = await core.open_form(FORM, place=PLACE, sender=OWNER)
    sink = RecordingSink()
    await core.submit_form(token, SECRET, place=PLACE, sender=OWNER, sink=sink)
    assert "stored as sk-" in sink.last and SECRET not in sink.text
    assert _count(engine, "provider_keys") == 1 and _count(engine, "pending_forms") == 0
