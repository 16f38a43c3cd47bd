"""Conversation turns end to end in process: real Core, real HTTP to fake providers, real DB."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

import pytest
from sqlalchemy.engine import Engine

from bot.core import Core
from bot.money import from_pico
from bot.pricing import price_call, worst_case_cost
from bot.providers.types import ChatMessage, Usage
from bot.services import Services
from tests.fakes.fixtures import *  # noqa: F403
from tests.fakes.fixtures import TEST_KEY
from tests.fakes.providers import FakeAnthropic, FakeOpenAI, Fault
from tests.kits.turnkit import Clock, RecordingPoster, RecordingSink, World, make_services, talk


@pytest.fixture
def poster() -> RecordingPoster:
    return RecordingPoster()


@pytest.fixture
async def services(
    engine: Engine, master_key: str, poster: RecordingPoster
) -> AsyncIterator[Services]:
    svc = make_services(engine, master_key, posters={"slack": poster})
    yield svc
    await svc.providers.aclose()


@pytest.fixture
def world(services: Services) -> World:
    w = World(services)
    w.workspace(digest_channel="CADMIN")
    return w


@pytest.fixture
def core(services: Services) -> Core:
    return Core(services)


@pytest.fixture
def writer(world: World, openai_fake: FakeOpenAI) -> Iterator[tuple[str, str]]:
    """Agent `writer` on key `openai-prod`, bound to channel C1; yields (agent id, key id)."""
    key_id = world.key("openai-prod", secret=TEST_KEY, base_url=openai_fake.base_url)
    agent_id = world.agent("writer", key_id=key_id, model="gpt-4o-mini", prompt="Be terse.")
    world.bind(agent_id, "C1")
    yield agent_id, key_id


async def test_answer_streams_and_records_exact_cost(
    core: Core, world: World, openai_fake: FakeOpenAI, writer: tuple[str, str]
) -> None:
    openai_fake.usage = Usage(input_tokens=1234, output_tokens=567, cache_read_tokens=200)
    sink = await talk(core, world, "<@UBOT> draft a haiku")

    assert [r.kind for r in sink.replies] == ["stream"]
    assert sink.last.text == openai_fake.reply
    assert len(sink.chunks) > 1  # streamed piece by piece, not in one go
    sent = openai_fake.chat_requests[-1].json
    assert sent["messages"][0] == {"role": "system", "content": "Be terse."}
    assert sent["messages"][-1]["content"] == "draft a haiku"  # mention stripped

    (row,) = world.usage_rows()
    expected = price_call(provider="openai", model="gpt-4o-mini", usage=openai_fake.usage)
    assert expected.cost is not None
    assert from_pico(row.cost_pusd or 0) == expected.cost
    # 1034 uncached input at $0.15, 200 cached at $0.075, 567 output at $0.60 per MTok.
    assert expected.cost == Decimal("0.0001551") + Decimal("0.000015") + Decimal("0.0003402")
    assert (row.status, row.priced, row.estimated) == ("ok", True, False)
    assert (row.input_tokens, row.output_tokens, row.cache_read_tokens) == (1234, 567, 200)
    assert (row.input_price_mtok, row.output_price_mtok) == ("0.15", "0.6")
    assert row.cache_read_price_mtok == "0.075"
    assert row.agent_name == "writer" and row.key_name == "openai-prod"
    assert row.user_id == "U1" and row.channel_id == "C1" and row.provider == "openai"
    assert row.provider_request_id == "req_fake_0001"
    assert row.latency_ms is not None and row.latency_ms >= 0


async def test_cost_footer_matches_usage_row(
    core: Core, world: World, anthropic_fake: FakeAnthropic
) -> None:
    anthropic_fake.usage = Usage(input_tokens=1000, output_tokens=234)
    key_id = world.key(
        "claude", secret=TEST_KEY, base_url=anthropic_fake.base_url, provider="anthropic"
    )
    agent_id = world.agent("writer", key_id=key_id, model="claude-sonnet-4-5", show_cost=True)
    world.bind(agent_id, "C1")

    sink = await talk(core, world, "<@UBOT> hi")

    (row,) = world.usage_rows()
    assert from_pico(row.cost_pusd or 0) == Decimal("0.00651")  # 1000 x $3 + 234 x $15 per MTok
    assert sink.last.text.endswith("\n\nwriter · claude-sonnet-4-5 · 1,234 tokens · $0.0065")


async def test_history_is_trimmed_and_starts_with_user(
    core: Core, world: World, openai_fake: FakeOpenAI, writer: tuple[str, str]
) -> None:
    history = [ChatMessage("assistant", "earlier answer")]
    history += [ChatMessage("user", f"old question {i} " + "x" * 4000) for i in range(40)]
    history += [ChatMessage("assistant", "latest answer")]
    await talk(core, world, "<@UBOT> and now?", history=history)

    messages = openai_fake.chat_requests[-1].json["messages"]
    roles = [m["role"] for m in messages]
    assert roles[0] == "system" and roles[1] == "user"
    assert all(a != b for a, b in itertools.pairwise(roles[1:]))
    body = json.dumps(messages)
    assert "earlier answer" not in body and "old question 0 " not in body  # oldest dropped
    assert "old question 39" in body and "latest answer" in body
    assert messages[-1] == {"role": "user", "content": "and now?"}
    assert len(body) < 4 * 30_000  # within the history cap, not 160k characters


async def test_budget_refusal_names_budget_and_reset(
    core: Core, world: World, openai_fake: FakeOpenAI, writer: tuple[str, str], services: Services
) -> None:
    agent_id, _ = writer
    clock = Clock(dt.datetime(2026, 11, 27, 15, 0, tzinfo=dt.UTC))
    services.clock = clock
    world.workspace(timezone="Europe/Berlin", digest_channel="CADMIN")
    worst = worst_case_cost(
        provider="openai", model="gpt-4o-mini", input_tokens=0, max_output_tokens=256
    )
    assert worst is not None
    # Each call uses all 256 output tokens, so after one the rest is short of a worst case.
    openai_fake.usage = Usage(input_tokens=12, output_tokens=256)
    budget_id = world.budget(str(worst * 3 / 2), agent_id=agent_id)

    first = await talk(core, world, "<@UBOT> one")
    assert first.last.kind == "stream"
    second = await talk(core, world, "<@UBOT> two")

    assert len(openai_fake.chat_requests) == 1
    line = second.last
    assert line.private and line.kind == "send"
    # One private message: which budget, what is left, the worst case and why, what to
    # do, and when it resets (workspace timezone). Approvals may add a request line below.
    assert line.text.splitlines()[0] == (
        "Over budget: writer's daily limit has $0.000075 left of $0.00023, and this call"
        " could cost up to $0.00016: ~28 prompt tokens + 256 max output tokens at"
        " gpt-4o-mini's price. Send a shorter message, lower the agent's --max-tokens, or ask"
        " an admin to raise the limit. It resets at 00:00 Europe/Berlin (in 8 h)."
    )
    audited = world.scalar(
        "SELECT actor_id || '|' || target || '|' || outcome FROM audit_events"
        " WHERE action = 'budget.refused'"
    )
    assert audited == "U1|writer's daily limit|refused"
    statuses = [r.status for r in world.usage_rows()]
    assert statuses == ["ok", "refused"]
    counter = world.counter(budget_id)
    assert counter.period_start == "2026-11-27"
    assert counter.reserved_pusd == 0
    assert counter.spent_pusd == world.usage_rows()[0].cost_pusd


async def test_alerts_once_at_80_and_once_at_100(
    core: Core, world: World, openai_fake: FakeOpenAI, poster: RecordingPoster
) -> None:
    key_id = world.key("openai-prod", secret=TEST_KEY, base_url=openai_fake.base_url)
    world.bind(world.agent("tiny", key_id=key_id, max_tokens=1), "C1")
    openai_fake.reply = "!"  # one token: within max_tokens, so the stream is read to its end
    # "hi" reserves 10 input tokens (2 bytes + framing) and 1 output token: $0.0000021,
    # and the provider reports exactly that, so ten calls fill the $0.000021 budget.
    openai_fake.usage = Usage(input_tokens=10, output_tokens=1)
    budget_id = world.budget("0.000021")
    for _ in range(7):
        assert (await talk(core, world, "<@UBOT> hi")).last.kind == "stream"
    assert poster.posts == []
    await talk(core, world, "<@UBOT> hi")  # 80%
    assert len(poster.posts) == 1
    ws, channel, text = poster.posts[0]
    assert (ws, channel) == (world.workspace_id, "CADMIN")
    assert text.startswith("Budget alert: the daily budget of the workspace has reached 80%")
    await talk(core, world, "<@UBOT> hi")  # 90%: no new alert
    assert len(poster.posts) == 1
    await talk(core, world, "<@UBOT> hi")  # exactly 100%
    assert len(poster.posts) == 2 and "has reached its limit" in poster.posts[1][2]
    refused = await talk(core, world, "<@UBOT> hi")
    await talk(core, world, "<@UBOT> hi")
    assert "Over budget" in refused.last.text
    assert len(poster.posts) == 2  # still one alert per level
    assert [r.status for r in world.usage_rows()].count("ok") == 10
    assert [r.status for r in world.usage_rows()][-2:] == ["refused", "refused"]
    counter = world.counter(budget_id)
    assert (counter.spent_pusd, counter.reserved_pusd) == (21_000_000, 0)
    assert counter.alert80_sent and counter.alert100_sent


async def test_revoked_key_gives_clear_line_and_no_call(
    core: Core, world: World, openai_fake: FakeOpenAI
) -> None:
    key_id = world.key(
        "openai-prod", secret=TEST_KEY, base_url=openai_fake.base_url, status="revoked"
    )
    world.bind(world.agent("writer", key_id=key_id), "C1")

    sink = await talk(core, world, "<@UBOT> hello")

    assert openai_fake.chat_requests == []
    assert sink.last.private
    assert sink.last.text == (
        "Agent writer's key openai-prod was revoked; an admin must set another with "
        "/byok agent set writer --key …"
    )
    (row,) = world.usage_rows()
    assert (row.status, row.error_kind) == ("refused", "key_revoked")


async def test_rejected_key_marks_failing_and_tells_admins_once(
    core: Core, world: World, openai_fake: FakeOpenAI, poster: RecordingPoster
) -> None:
    key_id = world.key(
        "openai-prod", secret="sk-wrong-key-000000000000000000", base_url=openai_fake.base_url
    )
    world.bind(world.agent("writer", key_id=key_id), "C1")

    sink = await talk(core, world, "<@UBOT> hello")

    assert sink.last.private and "rejected" in sink.last.text and "401" in sink.last.text
    assert "/byok key rotate openai-prod" in sink.last.text
    assert world.key_status(key_id) == "failing"
    (row,) = world.usage_rows()
    assert (row.status, row.error_kind, row.cost_pusd) == ("key_rejected", "key_rejected", 0)
    assert len(poster.posts) == 1 and "openai-prod" in poster.posts[0][2]

    again = await talk(core, world, "<@UBOT> hello again")
    assert "is failing" in again.last.text
    assert len(openai_fake.chat_requests) == 1 and len(poster.posts) == 1


async def test_stream_cut_is_charged_at_the_estimate(
    core: Core, world: World, openai_fake: FakeOpenAI, writer: tuple[str, str]
) -> None:
    openai_fake.script(Fault.cut(after=2))
    sink = await talk(core, world, "<@UBOT> tell me a story")

    streamed = [r for r in sink.replies if r.kind == "stream"]
    assert streamed and streamed[0].text  # the part that arrived was shown
    assert sink.last.private and "cut off" in sink.last.text
    (row,) = world.usage_rows()
    assert (row.status, row.estimated, row.priced) == ("estimated", True, True)
    assert row.cost_pusd is not None and row.cost_pusd > 0
    sent = openai_fake.chat_requests[-1].json["messages"]
    upper = sum(len(m["content"].encode()) + 8 for m in sent)
    worst = worst_case_cost(
        provider="openai", model="gpt-4o-mini", input_tokens=upper, max_output_tokens=256
    )
    assert worst is not None and from_pico(row.cost_pusd) == worst


async def test_usage_missing_is_estimated(
    core: Core, world: World, openai_fake: FakeOpenAI, writer: tuple[str, str]
) -> None:
    openai_fake.script(Fault.no_usage())
    sink = await talk(core, world, "<@UBOT> hi")
    assert sink.last.kind == "stream" and sink.last.text == openai_fake.reply
    (row,) = world.usage_rows()
    assert (row.status, row.estimated, row.error_kind) == ("estimated", True, "no_usage")


async def test_unpriced_model_is_flagged_not_zero(
    core: Core, world: World, openai_fake: FakeOpenAI
) -> None:
    key_id = world.key(
        "local", secret=TEST_KEY, base_url=openai_fake.base_url, provider="openai-compatible"
    )
    world.bind(
        world.agent("writer", key_id=key_id, model="my-own-finetune-7b", show_cost=True), "C1"
    )

    sink = await talk(core, world, "<@UBOT> hi")

    (row,) = world.usage_rows()
    assert (row.status, row.priced, row.cost_pusd) == ("ok", False, None)
    assert (row.input_tokens, row.output_tokens) == (12, 7)
    assert sink.last.text.endswith("writer · my-own-finetune-7b · 19 tokens · unpriced")


@pytest.mark.parametrize(
    ("fault", "status", "kind", "words"),
    [
        (
            Fault.http_status(429, headers={"Retry-After": "0"}),
            "rate_limited",
            "rate_limited",
            "HTTP 429",
        ),
        (Fault.http_status(503), "failed", "unavailable", "HTTP 503"),
    ],
)
async def test_provider_failure_after_retries_is_one_line_and_a_row(
    core: Core,
    world: World,
    openai_fake: FakeOpenAI,
    writer: tuple[str, str],
    fault: Fault,
    status: str,
    kind: str,
    words: str,
) -> None:
    openai_fake.script(fault, times=10)
    sink = await talk(core, world, "<@UBOT> hi")

    assert len(openai_fake.chat_requests) == 3  # retried inside the providers client
    assert len(sink.replies) == 1 and sink.last.private
    assert "\n" not in sink.last.text and "Traceback" not in sink.last.text
    assert sink.last.text.startswith("writer could not answer:") and words in sink.last.text
    (row,) = world.usage_rows()
    assert (row.status, row.error_kind, row.cost_pusd) == (status, kind, 0)


async def test_key_shaped_message_never_reaches_a_model(
    core: Core, world: World, openai_fake: FakeOpenAI, writer: tuple[str, str]
) -> None:
    leaked = "sk-proj-" + "A1b2C3d4" * 6
    sink = await talk(core, world, f"<@UBOT> is this key ok? {leaked}")

    assert openai_fake.requests == []
    assert sink.last.private and "revoke it at the provider" in sink.last.text
    assert leaked not in "".join(sink.texts)
    audit = world.scalar("SELECT action || '/' || outcome FROM audit_events")
    assert audit == "message.refused/refused"
    assert world.scalar("SELECT count(*) FROM audit_events WHERE detail LIKE '%sk-%'") == 0


async def test_duplicate_delivery_answered_once_across_cores(
    world: World, openai_fake: FakeOpenAI, writer: tuple[str, str], services: Services
) -> None:
    one, two = Core(services), Core(services)
    message = world.message("<@UBOT> hi", event_id="Ev-dup")
    sinks = [RecordingSink(), RecordingSink()]
    await asyncio.gather(
        one.handle_message(message, sinks[0]), two.handle_message(message, sinks[1])
    )
    await one.handle_message(message, RecordingSink())

    assert len(openai_fake.chat_requests) == 1
    assert sorted(len(s.replies) for s in sinks) == [0, 1]
    assert len(world.usage_rows()) == 1


async def test_bot_and_edited_messages_are_ignored(
    core: Core, world: World, openai_fake: FakeOpenAI, writer: tuple[str, str]
) -> None:
    assert (await talk(core, world, "<@UBOT> hi", is_bot=True)).replies == []
    assert (await talk(core, world, "<@UBOT> hi", is_edit=True)).replies == []
    assert openai_fake.requests == []


async def test_alerts_wait_for_a_digest_channel(
    core: Core, world: World, openai_fake: FakeOpenAI, poster: RecordingPoster
) -> None:
    world.workspace(digest_channel=None)
    key_id = world.key("openai-prod", secret=TEST_KEY, base_url=openai_fake.base_url)
    world.bind(world.agent("tiny", key_id=key_id, max_tokens=1), "C1")
    openai_fake.reply = "!"  # one token: within max_tokens, so the stream is read to its end
    openai_fake.usage = Usage(input_tokens=10, output_tokens=1)
    budget_id = world.budget("0.000021")
    for _ in range(8):  # 80% with nowhere to post
        await talk(core, world, "<@UBOT> hi")
    assert poster.posts == [] and not world.counter(budget_id).alert80_sent
    world.workspace(digest_channel="CADMIN")
    await talk(core, world, "<@UBOT> hi")  # 90%: the pending 80% alert goes out now
    assert [p[1] for p in poster.posts] == ["CADMIN"] and "reached 80%" in poster.posts[0][2]


async def test_metrics_count_calls_messages_and_cost(
    core: Core, world: World, openai_fake: FakeOpenAI, writer: tuple[str, str]
) -> None:
    from bot import metrics

    def sample(name: str, **labels: str) -> float:
        return metrics.REGISTRY.get_sample_value(name, labels) or 0.0

    calls = sample("byokbot_provider_calls_total", provider="openai", status="ok")
    messages = sample("byokbot_messages_total", platform="slack", outcome="handled")
    cost = sample("byokbot_cost_usd_total", provider="openai")
    await talk(core, world, "<@UBOT> count me")
    assert sample("byokbot_provider_calls_total", provider="openai", status="ok") == calls + 1
    assert sample("byokbot_messages_total", platform="slack", outcome="handled") == messages + 1
    assert sample("byokbot_cost_usd_total", provider="openai") > cost
    assert TEST_KEY not in metrics.render().decode()


async def test_limit_set_mid_period_counts_the_spend_already_made(
    core: Core, world: World, openai_fake: FakeOpenAI, writer: tuple[str, str], services: Services
) -> None:
    agent_id, _ = writer
    services.clock = Clock(dt.datetime(2026, 11, 27, 15, 0, tzinfo=dt.UTC))
    world.workspace(timezone="Europe/Berlin", digest_channel="CADMIN")
    openai_fake.usage = Usage(input_tokens=12, output_tokens=256)
    worst = worst_case_cost(
        provider="openai", model="gpt-4o-mini", input_tokens=0, max_output_tokens=256
    )
    assert worst is not None
    # Two calls under no limit, then a limit with room for one more worst case only if the
    # earlier spend were forgotten: the new period counter starts from that spend.
    for text in ("one", "two"):
        assert (await talk(core, world, f"<@UBOT> {text}")).last.kind == "stream"
    spent = sum(r.cost_pusd or 0 for r in world.usage_rows())
    budget_id = world.budget(str(worst * 3 / 2), agent_id=agent_id)

    third = await talk(core, world, "<@UBOT> three")

    assert "Over budget: writer's daily limit has $0.00 left of" in third.last.text
    assert len(openai_fake.chat_requests) == 2
    assert world.counter(budget_id).spent_pusd == spent
