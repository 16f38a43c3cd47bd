"""Prometheus metrics served at `/metrics`.

Label values come only from closed vocabularies (platform names, provider names,
outcome words) or from identifiers the bot itself checked (workspace ids such as
`slack:T0123`, agent names, budget ids), never from message text, so a key, token,
file name or message can never become a label. Anything outside a vocabulary or shape
is counted as "other". Latency histograms are labelled by provider only, so their
series stay few however many workspaces and agents there are.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from bot.providers import PROVIDER_IDS

REGISTRY = CollectorRegistry(auto_describe=True)
CONTENT_TYPE = CONTENT_TYPE_LATEST

PLATFORMS = frozenset({"slack", "discord", "console"})
PROVIDERS = frozenset(PROVIDER_IDS)
# Outcomes and statuses are short snake_case words chosen by our code (usage statuses,
# error kinds, "ok", "denied", ...); the shape check keeps anything else out.
_WORD = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
# Workspace ids are `console`, `slack:<team id>` or `discord:<guild id>`; agent names are
# checked by the command grammar; budget ids are integers.
_WORKSPACE = re.compile(r"^(console|slack:[A-Z0-9]{1,32}|discord:[0-9]{1,24})$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# The outcome words of refused calls (SPEC "Money"), the only values of `outcome` below.
REFUSAL_OUTCOMES = frozenset({"refused_budget", "refused_key", "refused_leak"})
# Seconds: a first token usually comes within a few seconds, a whole answer within the
# 120 s call deadline.
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0)

MESSAGES = Counter(
    "byokbot_messages",
    "Chat messages handled, by platform and outcome.",
    ("platform", "outcome"),
    registry=REGISTRY,
)
COMMANDS = Counter(
    "byokbot_commands",
    "/byok commands handled, by platform and outcome.",
    ("platform", "outcome"),
    registry=REGISTRY,
)
PROVIDER_CALLS = Counter(
    "byokbot_provider_calls",
    "Calls to AI providers, by provider and status.",
    ("provider", "status"),
    registry=REGISTRY,
)
COST = Counter(
    "byokbot_cost_usd",
    "Money spent at AI providers in US dollars, by provider.",
    ("provider",),
    registry=REGISTRY,
)

FIRST_TOKEN_SECONDS = Histogram(
    "byokbot_provider_first_token_seconds",
    "Seconds from sending a provider call to its first streamed text, by provider.",
    ("provider",),
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
CALL_SECONDS = Histogram(
    "byokbot_provider_call_seconds",
    "Seconds from sending a provider call to the end of its stream, by provider.",
    ("provider",),
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
SPEND = Counter(
    "byokbot_spend_usd",
    "Money charged for AI calls in US dollars, by workspace and agent.",
    ("workspace", "agent"),
    registry=REGISTRY,
)
BUDGET_USE = Gauge(
    "byokbot_budget_use_ratio",
    "Settled spend of a budget's current period as a fraction of its limit (1 = reached).",
    ("workspace", "budget"),
    registry=REGISTRY,
)
REFUSALS = Counter(
    "byokbot_refusals",
    "Calls refused before reaching a provider, by outcome word.",
    ("outcome",),
    registry=REGISTRY,
)


# Labelled children by (metric, values): `labels()` checks and locks on every call, and
# every answer touches five series. Bounded by the series the registry holds anyway.
_CHILDREN: dict[tuple[object, ...], Any] = {}


def _series(metric: Counter | Gauge | Histogram, *values: str) -> Any:
    key = (metric, *values)
    child = _CHILDREN.get(key)
    if child is None:
        child = _CHILDREN[key] = metric.labels(*values)
    return child


def _platform(value: str) -> str:
    return value if value in PLATFORMS else "other"


def _provider(value: str) -> str:
    return value if value in PROVIDERS else "other"


def _word(value: str) -> str:
    return value if _WORD.match(value) else "other"


def _workspace(value: str) -> str:
    return value if _WORKSPACE.match(value) else "other"


def _name(value: str) -> str:
    return value if _NAME.match(value) else "other"


def count_message(*, platform: str, outcome: str) -> None:
    """Count one chat message (outcome: answered, refused, ignored, failed, ...)."""
    _series(MESSAGES, _platform(platform), _word(outcome)).inc()


def count_command(*, platform: str, outcome: str) -> None:
    """Count one /byok command (outcome: ok, denied, error, ...)."""
    _series(COMMANDS, _platform(platform), _word(outcome)).inc()


def count_provider_call(*, provider: str, status: str) -> None:
    """Count one provider call (status: the usage row's status word)."""
    _series(PROVIDER_CALLS, _provider(provider), _word(status)).inc()


def add_cost(*, provider: str, usd: Decimal) -> None:
    """Add a priced call's cost (the exact figure lives in the database; this is a gauge)."""
    if usd > 0:
        _series(COST, _provider(provider)).inc(float(usd))


def observe_latency(*, provider: str, first_token: float | None, total: float) -> None:
    """Record a provider call's time to first token (when text came) and total time."""
    label = _provider(provider)
    if first_token is not None:
        _series(FIRST_TOKEN_SECONDS, label).observe(max(first_token, 0.0))
    _series(CALL_SECONDS, label).observe(max(total, 0.0))


def add_spend(*, workspace: str, agent: str, usd: Decimal) -> None:
    """Add a call's charged cost to its workspace's and agent's spend."""
    if usd > 0:
        _series(SPEND, _workspace(workspace), _name(agent)).inc(float(usd))


def set_budget_use(*, workspace: str, budget_id: int, spent_pusd: int, limit_pusd: int) -> None:
    """Set a budget's use of its limit after a settlement (0 when the limit is 0 or less)."""
    ratio = spent_pusd / limit_pusd if limit_pusd > 0 else 0.0
    _series(BUDGET_USE, _workspace(workspace), str(int(budget_id))).set(ratio)


def count_refusal(outcome: str) -> None:
    """Count one refused call (`refused_budget`, `refused_key` or `refused_leak`)."""
    _series(REFUSALS, outcome if outcome in REFUSAL_OUTCOMES else "other").inc()


def render() -> bytes:
    """The registry in Prometheus text exposition format."""
    return generate_latest(REGISTRY)
