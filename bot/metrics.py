"""Prometheus metrics served at `/metrics`.

Label values come only from closed vocabularies (platform names, provider names,
outcome words), never from user input, so a key, token or message can never become
a label. Anything outside a vocabulary is counted as "other".
"""

from __future__ import annotations

import re
from decimal import Decimal

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from bot.providers import PROVIDER_IDS

REGISTRY = CollectorRegistry(auto_describe=True)
CONTENT_TYPE = CONTENT_TYPE_LATEST

PLATFORMS = frozenset({"slack", "discord", "console"})
PROVIDERS = frozenset(PROVIDER_IDS)
# Outcomes and statuses are short snake_case words chosen by our code (usage statuses,
# error kinds, "ok", "denied", ...); the shape check keeps anything else out.
_WORD = re.compile(r"^[a-z][a-z0-9_]{0,31}$")

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


def _platform(value: str) -> str:
    return value if value in PLATFORMS else "other"


def _provider(value: str) -> str:
    return value if value in PROVIDERS else "other"


def _word(value: str) -> str:
    return value if _WORD.match(value) else "other"


def count_message(*, platform: str, outcome: str) -> None:
    """Count one chat message (outcome: answered, refused, ignored, failed, ...)."""
    MESSAGES.labels(platform=_platform(platform), outcome=_word(outcome)).inc()


def count_command(*, platform: str, outcome: str) -> None:
    """Count one /byok command (outcome: ok, denied, error, ...)."""
    COMMANDS.labels(platform=_platform(platform), outcome=_word(outcome)).inc()


def count_provider_call(*, provider: str, status: str) -> None:
    """Count one provider call (status: the usage row's status word)."""
    PROVIDER_CALLS.labels(provider=_provider(provider), status=_word(status)).inc()


def add_cost(*, provider: str, usd: Decimal) -> None:
    """Add a priced call's cost (the exact figure lives in the database; this is a gauge)."""
    if usd > 0:
        COST.labels(provider=_provider(provider)).inc(float(usd))


def render() -> bytes:
    """The registry in Prometheus text exposition format."""
    return generate_latest(REGISTRY)
