"""The dispatcher never raises: database outages, broken sinks, unexpected errors, any input."""

from __future__ import annotations

import asyncio
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from bot.boundary import SecretForm
from bot.commands import UNAVAILABLE
from bot.providers import Providers
from storage.engine import make_engine
from tests.kits.commands_kit import SECRET, Bot, RecordingSink, make_services
from tests.kits.logcapture import LogCapture
from tests.kits.outage import DatabaseSwitch


async def test_unreachable_database_answers_temporarily_unavailable(
    master_key: str, log_capture: LogCapture
) -> None:
    dead = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/nowhere")
    services = make_services(dead, master_key=master_key)
    bot = Bot(services)
    for line in ("key list", f"key add openai prod {SECRET}", "agent create w --key k --model m"):
        sink = await bot.run(line)
        assert [s.text for s in sink.sent] == [UNAVAILABLE] and sink.sent[0].private
    assert "Only" not in (await bot.run("help")).last  # help needs no database
    assert "Traceback" not in log_capture.text and SECRET not in log_capture.text
    await services.providers.aclose()
    dead.dispose()


async def test_postgres_outage_and_recovery(pg_url: str, master_key: str) -> None:
    engine = make_engine(pg_url)
    services = make_services(engine, master_key=master_key)
    bot = Bot(services)
    try:
        await bot.run(f"key add openai prod {SECRET} --no-verify")
        assert "prod" in (await bot.run("key list")).last
        switch = DatabaseSwitch(pg_url)
        switch.cut()
        try:
            assert (await bot.run("key list")).last == UNAVAILABLE
            assert (await bot.run("agent create w --key prod --model m")).last == UNAVAILABLE
        finally:
            switch.restore()
        # No restart, no reconnect call: the pool replaces the dropped connections itself.
        assert "prod" in (await bot.run("key list")).last
        assert "created" in (await bot.run("agent create w --key prod --model m")).last
    finally:
        await services.providers.aclose()
        engine.dispose()


class BrokenSink(RecordingSink):
    """An adapter whose delivery fails (network gone, message too long, ...)."""

    async def send(self, text: str, *, private: bool = False) -> None:
        raise ConnectionResetError("platform unreachable")

    async def open_secret_form(self, form: SecretForm) -> None:
        raise RuntimeError("modal failed")


async def test_a_failing_sink_never_makes_handle_raise(
    engine: Engine, master_key: str, log_capture: LogCapture
) -> None:
    services = make_services(engine, master_key=master_key)
    bot = Bot(services)
    for line in ("help", "key list", "nonsense", f"key add openai prod {SECRET} --no-verify"):
        await bot.run(line, sink=BrokenSink())
    assert "could not deliver a command reply" in log_capture.text
    assert SECRET not in log_capture.text
    await services.providers.aclose()


class FormlessSink(RecordingSink):
    """An adapter that cannot open its secret form."""

    async def open_secret_form(self, form: SecretForm) -> None:
        # Built at run time, so the text appears in no source line a traceback may show.
        raise RuntimeError("".join(reversed("ladom-eht-nepo-tonnac")) + form.key_name)


async def test_unexpected_errors_get_a_reference_and_a_log_line(
    engine: Engine, master_key: str, log_capture: LogCapture
) -> None:
    services = make_services(engine, master_key=master_key)
    bot = Bot(services)
    sink = await bot.run("key add openai prod", sink=FormlessSink())
    match = re.fullmatch(r"internal error \(ref ([0-9a-f]{8})\)", sink.last)
    assert match is not None
    assert f"ref {match.group(1)}" in log_capture.text and "RuntimeError" in log_capture.text
    assert "cannot-open-the-modal" not in log_capture.text  # messages may hold content
    await services.providers.aclose()


async def test_cancellation_propagates(engine: Engine, master_key: str) -> None:
    services = make_services(engine, master_key=master_key)
    bot = Bot(services)

    class SlowSink(RecordingSink):
        async def send(self, text: str, *, private: bool = False) -> None:
            await asyncio.sleep(10)

    task = asyncio.create_task(bot.run("help", sink=SlowSink()))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await services.providers.aclose()


_WORDS = st.sampled_from(
    [
        "key", "add", "list", "rotate", "revoke", "test", "agent", "create", "set", "show",
        "delete", "bind", "unbind", "default", "limit", "clear", "usage", "export", "digest",
        "channel", "at", "now", "off", "admins", "remove", "audit", "help", "openai", "ollama",
        "prod", "writer", "workspace", "--key", "--model", "--prompt", "--per", "--since", "--by",
        "--no-verify", "--all-messages", "--show-cost", "--max-tokens", "--temperature", "day",
        "month", "7d", "5", "0.5", "#x", "@y", "09:00", "UTC", "'a b'", SECRET,
    ]
)  # fmt: skip


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(st.one_of(_WORDS, st.text(max_size=6)), max_size=7))
def test_any_command_text_gets_an_answer_and_never_a_trace(
    engine: Engine, master_key: str, words: list[str]
) -> None:
    async def run() -> RecordingSink:
        providers = Providers(allow_private_base_urls=True, timeout=2.0, max_attempts=1)
        services = make_services(engine, master_key=master_key, providers=providers)
        try:
            return await Bot(services).run(" ".join(words))
        finally:
            await providers.aclose()

    sink = asyncio.run(run())
    answered = len(sink.sent) + len(sink.files) + len(sink.forms)
    assert answered >= 1
    assert all(s.private for s in sink.sent)
    assert "Traceback" not in sink.text and "internal error" not in sink.text
    assert SECRET not in sink.text
