"""One usage row per provider call, whatever happened: ok, estimated, refused or failed.

A row holds metadata only: who, which agent/key/model, tokens, the exact cost in
pico-dollars, the unit prices it was charged at (decimal text, so later price changes
never rewrite history), latency and the provider's request id.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from decimal import Decimal

from sqlalchemy.engine import Connection

from bot.errors import ProviderError
from bot.money import to_pico
from bot.providers.types import Usage
from storage import usage as store
from storage.outcomes import outcome_of

# Statuses a row can have.
OK = "ok"
ESTIMATED = "estimated"
REFUSED = "refused"
RATE_LIMITED = "rate_limited"
KEY_REJECTED = "key_rejected"
FAILED = "failed"

TOUCH_EVERY = dt.timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class CallFacts:
    """Who made the call, with which agent, key and model, from where."""

    workspace_id: str
    agent_id: str | None
    agent_name: str
    key_id: str | None
    key_name: str
    provider: str
    model: str
    user_id: str
    channel_id: str
    event_id: str | None


@dataclass(frozen=True, slots=True)
class UnitPrices:
    """USD per million tokens a call was charged at (None where the model has no such price)."""

    input_mtok: Decimal | None = None
    output_mtok: Decimal | None = None
    cache_read_mtok: Decimal | None = None
    cache_write_mtok: Decimal | None = None


@dataclass(frozen=True, slots=True)
class CallResult:
    """How a call ended and what it cost."""

    status: str
    error_kind: str | None = None
    usage: Usage | None = None
    cost: Decimal | None = None  # None: unpriced (or refused before any spend)
    priced: bool = True
    estimated: bool = False
    prices: UnitPrices = UnitPrices()
    latency_ms: int | None = None
    request_id: str | None = None

    @property
    def outcome(self) -> str:
        """The row's one outcome word (`storage.outcomes`): what every report counts."""
        return outcome_of(self.status, self.error_kind)

    @property
    def cost_pusd(self) -> int | None:
        """The cost in whole pico-dollars (what settles the budgets)."""
        return None if self.cost is None else to_pico(self.cost)


def failure(error: ProviderError, *, latency_ms: int | None) -> CallResult:
    """The result of a call the provider failed before reporting usage."""
    if error.kind == "rate_limited":
        status = RATE_LIMITED
    elif error.kind == "key_rejected":
        status = KEY_REJECTED
    else:
        status = FAILED
    return CallResult(
        status=status,
        error_kind=error.kind,
        cost=Decimal(0),
        latency_ms=latency_ms,
        request_id=_safe(error.request_id),
    )


def estimated(
    result: CallResult, *, reserved: Decimal | None, error_kind: str | None
) -> CallResult:
    """A stream cut before the provider reported usage: charge the reserved estimate, flagged."""
    return replace(
        result,
        status=ESTIMATED,
        error_kind=error_kind,
        cost=reserved,
        priced=reserved is not None,
        estimated=True,
    )


def _safe(value: str | None) -> str | None:
    return None if value is None else value[:200]


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")[:40]


def row_values(facts: CallFacts, result: CallResult, *, at: dt.datetime) -> dict[str, object]:
    """The `usage_events` columns for one call."""
    usage = result.usage or Usage()
    return dict(
        workspace_id=facts.workspace_id,
        agent_id=facts.agent_id,
        key_id=facts.key_id,
        provider=facts.provider,
        user_id=facts.user_id[:64],
        channel_id=facts.channel_id[:64],
        agent_name=facts.agent_name[:64],
        key_name=facts.key_name[:64],
        model=facts.model[:200],
        event_id=None if facts.event_id is None else facts.event_id[:128],
        status=result.status,
        error_kind=result.error_kind,
        outcome=result.outcome,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        reasoning_tokens=usage.reasoning_tokens,
        cost_pusd=result.cost_pusd,
        priced=result.priced,
        estimated=result.estimated,
        input_price_mtok=_text(result.prices.input_mtok),
        output_price_mtok=_text(result.prices.output_mtok),
        cache_read_price_mtok=_text(result.prices.cache_read_mtok),
        cache_write_price_mtok=_text(result.prices.cache_write_mtok),
        latency_ms=result.latency_ms,
        provider_request_id=_safe(result.request_id),
        created_at=at,
    )


def record(
    conn: Connection,
    facts: CallFacts,
    result: CallResult,
    *,
    at: dt.datetime,
    key_last_used: dt.datetime | None = None,
) -> None:
    """Write the call's usage row and, when a provider saw the key, its last-used time."""
    store.insert_usage(conn, row_values(facts, result, at=at))
    touch = key_to_touch(facts, result, at=at, last_used=key_last_used)
    if touch is not None:
        store.touch_key(conn, key_id=touch, at=at)


def key_to_touch(
    facts: CallFacts, result: CallResult, *, at: dt.datetime, last_used: dt.datetime | None
) -> str | None:
    """The key whose `last_used_at` this call should move to `at`, if any.

    Only a key a provider saw, and only when its time is older than a minute: one write
    fewer on almost every call, and a minute is as precise as anyone reads it.
    """
    if facts.key_id is None or result.status == REFUSED:
        return None
    if last_used is None or at - last_used >= TOUCH_EVERY:
        return facts.key_id
    return None


def mark_key_failing(conn: Connection, *, key_id: str, reason: str) -> bool:
    """Mark the key failing; True when this call is the one that changed it."""
    return store.mark_key_failing(conn, key_id=key_id, reason=reason)
