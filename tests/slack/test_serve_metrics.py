"""`/metrics` of a real `byokbot serve` after real calls: latency histograms, spend per
workspace and agent, budget use, refusals by outcome — and no message text in any label.
"""

from __future__ import annotations

import json
import re
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes.providers import FakeOpenAI
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_driver import SlackDriver
from tests.fakes.slack_signing import message_event
from tests.kits.helpers import REPO, ServeProcess
from tests.kits.slack_replies import thread_replies

WORKSPACE = "slack:T0001"
SECRET_WORDS = "zebra-quartz-7781"  # in every message: must never reach /metrics
LEAK = "sk-proj-MetricsLeak0123456789abcdefghijklmn"


def samples(server: ServeProcess) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the scrape by (name, labels)."""
    scrape = httpx.get(f"{server.url}/metrics", timeout=10)
    assert scrape.status_code == 200
    assert SECRET_WORDS not in scrape.text and LEAK[:16] not in scrape.text
    found = {}
    for family in text_string_to_metric_families(scrape.text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    """One sample's value (0 when absent)."""
    return found.get((name, frozenset(labels.items())), 0.0)


def answers(fake: FakeSlackAPI) -> int:
    """Answers finished and private lines posted so far."""
    finished = sum(reply.finished for reply in thread_replies(fake))  # whole or streamed
    return finished + len(fake.calls_to("chat.postEphemeral"))


def mention(slack: SlackDriver, fake: FakeSlackAPI, text: str) -> None:
    """A mention of the bot, waited for until the bot posted its private or public answer."""
    before = answers(fake)
    slack.event(
        message_event(
            user="UMEMBER", text=f"<@UBOT> {text}", channel="C0001", event_type="app_mention"
        )
    )
    fake.wait_for(lambda f: answers(f) > before)
    time.sleep(0.5)  # the bookkeeping after the answer


def test_metrics_show_latency_spend_budget_use_and_refusals(
    slack: SlackDriver, fake: FakeSlackAPI, provider: FakeOpenAI, serve: ServeProcess
) -> None:
    slack.create_agent(provider.base_url)
    assert "set to" in slack.admin("limit set workspace 100 --per day")
    mention(slack, fake, f"hello {SECRET_WORDS}")
    found = samples(serve)
    for histogram in ("byokbot_provider_first_token_seconds", "byokbot_provider_call_seconds"):
        assert value(found, f"{histogram}_count", provider="openai") >= 1, histogram
        assert value(found, f"{histogram}_sum", provider="openai") > 0, histogram
        assert value(found, f"{histogram}_bucket", provider="openai", le="+Inf") >= 1
    spend = value(found, "byokbot_spend_usd_total", workspace=WORKSPACE, agent="writer")
    assert spend > 0
    use = [v for (name, _labels), v in found.items() if name == "byokbot_budget_use_ratio"]
    assert use and 0 < max(use) < 1

    mention(slack, fake, f"my key is {LEAK} {SECRET_WORDS}")
    assert "set to" in slack.admin("limit set workspace 0.0001 --per day")
    mention(slack, fake, f"a refused question {SECRET_WORDS}")
    found = samples(serve)
    assert value(found, "byokbot_refusals_total", outcome="refused_leak") == 1
    assert value(found, "byokbot_refusals_total", outcome="refused_budget") == 1
    assert len(provider.chat_requests) == 1  # neither refusal reached the provider

    # Every series the ready Grafana dashboard queries is one this scrape has.
    dashboard = json.loads((REPO / "docs" / "grafana-dashboard.json").read_text(encoding="utf-8"))
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\bbyokbot_[a-z_]+", target["expr"])
    }
    scraped = {name for name, _labels in found}
    assert queried and queried <= scraped, sorted(queried - scraped)
    assert {"byokbot_provider_first_token_seconds_bucket", "byokbot_spend_usd_total"} <= queried
