"""Guarantee 1 against a hostile provider that echoes the request's key back.

The fakes' ``echo_key`` mode puts the key the request carried in the error code, the error
message, the in-stream error code and the ``x-request-id`` / ``request-id`` headers. Nothing
of it may reach a reply, the audit trail, a usage row, the CSV export, the database or a log.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.errors import ProviderError
from bot.providers import Providers
from bot.providers.types import ChatMessage, ChatRequest, Completion, KeySpec
from tests.fakes.fixtures import *  # noqa: F403
from tests.fakes.fixtures import FAMILIES, run_stream
from tests.fakes.providers import FakeOpenAI, FakeServer, Fault
from tests.kits.helpers import run_byokbot
from tests.kits.secret_hunt import assert_absent, database_bytes

# Short enough to pass the old "short token" test (<= 64 chars of [A-Za-z0-9_.:-]).
SECRET = "sk-proj-EchoedBackKey0123456789abcdefXYZ"
# A key of no recognisable shape (Mistral's and Azure's look like this).
SHAPELESS = "Q7vXk2mPz9LwR4tY8nB3cF6hJ1sD5gAe"
REQUEST = ChatRequest(model="m", messages=(ChatMessage("user", "hi"),))


@pytest.fixture
def fakes(
    openai_fake: FakeOpenAI, anthropic_fake: FakeServer, gemini_fake: FakeServer
) -> Iterator[dict[str, FakeServer]]:
    found: dict[str, FakeServer] = {
        "openai": openai_fake,
        "anthropic": anthropic_fake,
        "gemini": gemini_fake,
    }
    for fake in found.values():
        fake.valid_keys = {SECRET, SHAPELESS}
        fake.echo_key = True
    yield found
    for fake in found.values():
        fake.reset()


def _assert_clean(secret: str, *texts: object) -> None:
    for text in texts:
        assert secret not in str(text), "an echoed key got through"


SCENARIOS = {
    "http_400": Fault.http_status(400),
    "http_401": Fault.http_status(401),
    "http_429": Fault.http_status(429, headers={"retry-after": "3600"}),
    "in_stream": Fault.error_event(after=1),
    "bad_key": None,  # the fake answers 401 on its own
}


@pytest.mark.parametrize("secret", [SECRET, SHAPELESS], ids=["shaped", "shapeless"])
@pytest.mark.parametrize("scenario", list(SCENARIOS))
@pytest.mark.parametrize("family", FAMILIES)
async def test_an_echoed_key_is_masked_in_every_error(
    fakes: dict[str, FakeServer], family: str, scenario: str, secret: str
) -> None:
    fake = fakes[family]
    fault = SCENARIOS[scenario]
    if fault is not None:
        fake.script(fault)
    else:
        fake.valid_keys = {"another-key-entirely"}
    p = Providers(allow_private_base_urls=True, timeout=3.0, max_attempts=1)
    key = KeySpec(family, secret, fake.base_url)
    try:
        items, error = await run_stream(p, key, REQUEST)
        verify_error: ProviderError | None = None
        if fault is not None:
            fake.script(fault if scenario != "in_stream" else Fault.http_status(400))
        try:
            await p.verify_key(key)
        except ProviderError as exc:
            verify_error = exc
    finally:
        await p.aclose()
    assert error is not None and verify_error is not None
    # The fake really echoed it: the test is not vacuous.
    assert any(secret in str(r.headers) for r in fake.requests)
    for failure in (error, verify_error):
        _assert_clean(secret, failure, repr(failure), failure.request_id, failure.args)
    _assert_clean(secret, *items)


@pytest.mark.parametrize("secret", [SECRET, SHAPELESS], ids=["shaped", "shapeless"])
@pytest.mark.parametrize("family", FAMILIES)
async def test_an_echoed_request_id_on_success_is_dropped(
    fakes: dict[str, FakeServer], family: str, secret: str
) -> None:
    p = Providers(allow_private_base_urls=True, timeout=3.0)
    try:
        items, error = await run_stream(p, KeySpec(family, secret, fakes[family].base_url))
    finally:
        await p.aclose()
    assert error is None
    done = items[-1]
    assert isinstance(done, Completion) and done.usage is not None
    assert done.request_id is None
    _assert_clean(secret, *items)


# ----- through the real console: reply, audit, usage rows, export, database, logs ------------


def _csv_rows(out: str) -> list[dict[str, str]]:
    start = out.index("--- byokbot-usage-since-")
    body = out[start:].split("\n", 1)[1].split("\n--- end of", 1)[0]
    return list(csv.DictReader(io.StringIO(body)))


def test_an_echoing_provider_leaks_nothing_through_the_shell(
    tmp_path: Path, database_url: str
) -> None:
    with FakeOpenAI(valid_keys=[SECRET], reply="Fine, thanks.") as fake:
        fake.echo_key = True
        # In request order: the first verification, a chat, a chat, the key test.
        fake.script(Fault.http_status(400, endpoint="models"))
        fake.script(Fault.http_status(400, endpoint="chat"))
        fake.script(Fault.error_event(after=1))
        fake.script(Fault.http_status(400, endpoint="models"))
        add = f"/byok key add openai-compatible prod {SECRET} --base-url {fake.base_url}"
        lines = [
            add,  # verification refused with the key echoed: not stored
            add,  # stored
            "/byok agent create helper --key prod --model gpt-4o-mini",
            "/byok agent default helper",
            "How are you?",  # HTTP 400, key as error code, message and request id
            "And now?",  # in-stream error event with the key as its code
            "Once more",  # answered; the key as the request id
            "/byok key test prod",  # HTTP 400 again on the key test
            "/byok key list",
            "/byok usage export",
            "/byok audit 50",
        ]
        env = {
            "BYOKBOT_DATABASE_URL": database_url,
            "BYOKBOT_MASTER_KEY_FILE": str(tmp_path / "master.key"),
            "BYOKBOT_ALLOW_PRIVATE_BASE_URLS": "true",
            "BYOKBOT_LOG_LEVEL": "DEBUG",
            "USER": "tester",
        }
        result = run_byokbot(
            "shell", env=env, cwd=tmp_path, stdin="\n".join(lines) + "\n", timeout=120
        )
        chats = fake.chat_requests
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Traceback" not in out + result.stderr
    # Not vacuous: every scripted echo was sent and the calls really failed and were recorded.
    assert len(chats) == 3 and all(SECRET in c.headers["authorization"] for c in chats)
    assert "could not verify the key" in out and "stored" in out
    assert "refused (HTTP 400" in out and "cut off" in out and "Fine, thanks." in out
    assert "could not test key prod" in out
    rows = _csv_rows(out)
    assert len(rows) == 3 and {r["outcome"] for r in rows} >= {"ok", "error"}
    logs = [p.read_bytes() for p in tmp_path.rglob("*.log")]
    everything = (out + result.stderr).encode() + b"".join(logs)
    assert_absent(everything, [SECRET], where="the console output, export, audit or logs")
    assert_absent(database_bytes(database_url), [SECRET], where="the database")
