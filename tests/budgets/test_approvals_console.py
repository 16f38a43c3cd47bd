"""Ask an admin on the console: the refusal names the request; `approve`/`deny` decide it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.console.liveshell import LiveShell
from tests.console.test_console_e2e import REPLY, SECRET, ShellRunner, register_live
from tests.fakes.providers import FakeOpenAI

REQUEST = re.compile(
    r"Request ([a-z2-7]{8}): an admin can allow this call once with "
    r"/byok approve \1 \(or refuse with /byok deny \1\); it expires in an hour\."
)


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(valid_keys=[SECRET], reply=REPLY) as server:
        yield server


@pytest.fixture
def shell(database_url: str, tmp_path: Path) -> Iterator[LiveShell]:
    """One shell for the whole test; `/new` between steps stands for separate sessions."""
    env = ShellRunner(database_url, tmp_path).env
    with LiveShell(env=env, cwd=tmp_path) as runner:
        yield runner


def _request_id(out: str) -> str:
    found = REQUEST.findall(out)
    assert len(found) == 1, out
    return str(found[0])


def test_refusal_names_the_request_and_approve_allows_one_call(
    shell: LiveShell, fake: FakeOpenAI, engine: Engine
) -> None:
    register_live(shell, fake)
    setup = shell.send(
        "/byok agent create writer --key openai-prod --model gpt-4o-mini",
        "/byok agent bind writer",
        "/byok limit set writer 0.0001 --per day",
        "Write a haiku about zebras",
    )
    first = _request_id(setup)
    assert not fake.chat_requests  # refused before any provider call

    shell.send("/new")
    approved = shell.send(f"/byok approve {first.upper()}", "Write a haiku about zebras")
    assert (
        f"Approved request {first}: @console-user gets a one-off allowance of $0.00062"
        " on the daily budget of agent writer." in approved
    )
    assert f"[to @console-user] An admin approved request {first}" in approved
    assert "Send your message again." in approved
    assert approved.count(REPLY) == 1 and len(fake.chat_requests) == 1

    shell.send("/new")
    again = shell.send("Write a haiku about zebras")  # the allowance was spent once
    second = _request_id(again)
    assert second != first and len(fake.chat_requests) == 1

    decided = shell.send(
        f"/byok deny {second}", f"/byok approve {second}", f"/byok approve {first}"
    )
    lines = decided.splitlines()
    assert f"[to @console-user] An admin denied request {second}" in decided
    assert f"Request {second} was already denied; nothing changed." in lines
    assert f"Request {first} was already used; nothing changed." in lines
    assert (
        "There is no request zzzzzzzz in this workspace."
        in shell.send("/byok approve zzzzzzzz").splitlines()
    )
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM approval_requests")).mappings().all()
        audit = conn.execute(
            text("SELECT action, target, outcome FROM audit_events WHERE action LIKE 'approval.%'")
        ).all()
    assert {row["state"] for row in rows} == {"used", "denied"}
    # Metadata only: no column of a request can hold the message.
    assert all("zebra" not in str(value) for row in rows for value in row.values())
    assert sorted(tuple(row) for row in audit) == sorted(
        [
            ("approval.approve", first, "ok"),
            ("approval.deny", second, "ok"),
            ("approval.approve", second, "error"),
            ("approval.approve", first, "error"),
            ("approval.approve", "zzzzzzzz", "error"),
        ]
    )
