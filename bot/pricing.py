"""Price a call from the provider-reported usage with ``genai-prices``, in exact decimals."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal

from genai_prices import Usage as PricedUsage
from genai_prices.data_snapshot import DataSnapshot, get_snapshot
from genai_prices.types import (
    ModelInfo,
    ModelPrice,
    Provider,
    TieredPrices,
    _collect_resolved_model_prices,
    _compute_registry_priced_counts,
    calc_unit_price,
)
from genai_prices.units import UnitDef, _get_registry
from genai_prices.validation import validate_priced_units

from bot.providers.types import Usage

logger = logging.getLogger(__name__)

# Our provider ids -> genai-prices provider ids. None: let genai-prices infer the provider from
# the model name (an OpenAI-compatible proxy serving "gpt-4o" is priced as OpenAI's gpt-4o).
# Absent: never priced (a local ollama has no published price; flagged rather than $0).
_GENAI_PROVIDER: dict[str, str | None] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "gemini": "google",
    "azure-openai": "azure",
    "openrouter": "openrouter",
    "groq": "groq",
    "mistral": "mistral",
    "deepseek": "deepseek",
    "xai": "x-ai",
    "together": "together",
    "openai-compatible": None,
}


@dataclass(frozen=True, slots=True)
class Price:
    """The price of one call and the unit prices ($ per million tokens) it was charged at."""

    cost: Decimal | None
    priced: bool
    input_mtok: Decimal | None = None
    output_mtok: Decimal | None = None
    cache_read_mtok: Decimal | None = None
    cache_write_mtok: Decimal | None = None
    model_ref: str | None = None


UNPRICED = Price(cost=None, priced=False)
_UNKNOWN: set[tuple[str, str]] = set()
_UNKNOWN_MAX = 4096


def _unit(price: object, input_tokens: int) -> Decimal | None:
    """The $/MTok actually applied: tiers switch on the call's total input tokens."""
    if isinstance(price, TieredPrices):
        for tier in reversed(price.tiers):
            if input_tokens > tier.start:
                return tier.price
        return price.base
    return price if isinstance(price, Decimal) else None


@dataclass(frozen=True, slots=True)
class _Rates:
    """One price set, resolved and validated once."""

    resolved: tuple[tuple[UnitDef, Decimal | TieredPrices], ...]
    tiered: bool
    zeros: dict[str, int]


# Calls are priced far more often than models or prices change, and the library redoes its
# model match, unit resolution and validation on every call (most of a call's pricing time).
_MODELS: dict[tuple[str, str], tuple[DataSnapshot, Provider, ModelInfo]] = {}
_RATES: dict[int, tuple[ModelPrice, _Rates | None]] = {}
# Every usage key we report, positive and consistent (see ``_rates``).
_PROBE = {
    "input_tokens": 3,
    "output_tokens": 2,
    "cache_read_tokens": 1,
    "cache_write_tokens": 1,
    "output_reasoning_tokens": 1,
}


def _lookup(provider: str, model: str) -> tuple[Provider, ModelInfo] | None:
    """The library's (provider, model) match for our ids, found once per snapshot."""
    snapshot = get_snapshot()
    hit = _MODELS.get((provider, model))
    if hit is not None and hit[0] is snapshot:
        return hit[1], hit[2]
    try:
        found = snapshot.find_provider_model(model, None, _GENAI_PROVIDER[provider], None)
    except LookupError:
        return None
    if len(_MODELS) >= _UNKNOWN_MAX:
        _MODELS.clear()
    _MODELS[(provider, model)] = (snapshot, *found)
    return found


def _rates(model_price: ModelPrice) -> _Rates | None:
    """What ``ModelPrice.calc_price`` recomputes on every call but depends on the prices only.

    None: this price set is outside the fast path; the library prices it in full instead.
    """
    hit = _RATES.get(id(model_price))
    if hit is not None and hit[0] is model_price:
        return hit[1]
    rates: _Rates | None = None
    try:
        registry = _get_registry()
        resolved = _collect_resolved_model_prices(model_price, registry)
        validate_priced_units(tuple(unit for unit, _ in resolved), registry)
        # Priced usage keys we never report: the library infers them as 0 or raises. With
        # every key we report positive it has the most reason to raise; if it does not here,
        # it never will, so passing an explicit 0 up front gives the very same counts.
        probe = PricedUsage(**_PROBE)
        missing = [u.usage_key for u, _ in resolved if u.usage_key not in _PROBE]
        for usage_key in missing:
            getattr(probe, usage_key)
        tiered = any(isinstance(price, TieredPrices) for _, price in resolved)
        rates = _Rates(resolved, tiered, dict.fromkeys(missing, 0))
    except (ValueError, KeyError, AttributeError):
        rates = None
    if len(_RATES) >= _UNKNOWN_MAX:
        _RATES.clear()
    # Keyed by identity (ModelPrice is unhashable); the stored object keeps the id valid.
    _RATES[id(model_price)] = (model_price, rates)
    return rates


def _total(rates: _Rates, usage: PricedUsage) -> Decimal:
    """``ModelPrice.calc_price``'s total, step for step, with the per-price work done once."""
    counts = _compute_registry_priced_counts(rates.resolved, usage)
    total_input = usage.input_tokens if rates.tiered else 0
    total = Decimal(0)
    for unit, price in rates.resolved:
        total += calc_unit_price(price, counts[unit.usage_key], total_input, unit.per)
    return total


def _calc(
    provider: str, model: str, counts: dict[str, int]
) -> tuple[Decimal, ModelPrice, str] | None:
    """Total cost, the prices applied and the model id; None if the model is not priced."""
    if provider not in _GENAI_PROVIDER or not model or (provider, model) in _UNKNOWN:
        return None
    found = _lookup(provider, model)
    if found is None:
        # A miss scans every model; remember it (bounded: model names come from admins).
        if len(_UNKNOWN) >= _UNKNOWN_MAX:
            _UNKNOWN.clear()
        _UNKNOWN.add((provider, model))
        return None
    genai_provider, info = found
    now = dt.datetime.now(dt.UTC)
    try:
        model_price = info.get_prices(now)
        rates = _rates(model_price)
        if rates is None or genai_provider.id == "groq":  # groq bills audio specially
            usage = PricedUsage(**counts)
            calc = info.calc_price(usage, genai_provider, genai_request_timestamp=now)
            return calc.total_price, calc.model_price, info.id
        return _total(rates, PricedUsage(**counts, **rates.zeros)), model_price, info.id
    except ValueError:
        # Inconsistent counts (e.g. more cached than input tokens): flag, never guess.
        logger.warning("usage not priceable provider=%s model=%s", provider, model)
        return None


def price_call(*, provider: str, model: str, usage: Usage) -> Price:
    """Price exact usage; ``priced=False`` (cost None) when genai-prices does not know the model."""
    input_tokens = usage.input_tokens
    counts = {
        "input_tokens": input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_tokens": usage.cache_read_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        # Reasoning is inside output_tokens; genai-prices only splits it out for the rare
        # model with a separate reasoning rate, so nothing is counted twice.
        "output_reasoning_tokens": usage.reasoning_tokens,
    }
    calc = _calc(provider, model, counts)
    if calc is None:
        return UNPRICED
    cost, prices, model_ref = calc
    return Price(
        cost=cost,
        priced=True,
        input_mtok=_unit(prices.input_mtok, input_tokens),
        output_mtok=_unit(prices.output_mtok, input_tokens),
        cache_read_mtok=_unit(prices.cache_read_mtok, input_tokens),
        cache_write_mtok=_unit(prices.cache_write_mtok, input_tokens),
        model_ref=model_ref,
    )


def worst_case_cost(
    *, provider: str, model: str, input_tokens: int, max_output_tokens: int
) -> Decimal | None:
    """Cost if every prompt token is uncached input and the reply uses all its max tokens."""
    usage = Usage(input_tokens=max(0, input_tokens), output_tokens=max(0, max_output_tokens))
    return price_call(provider=provider, model=model, usage=usage).cost


def list_prices(*, provider: str, model: str) -> tuple[Decimal, Decimal] | None:
    """The model's input and output price per million tokens (base tier); None if unpriced."""
    price = price_call(provider=provider, model=model, usage=Usage(input_tokens=1, output_tokens=1))
    if not price.priced or price.input_mtok is None or price.output_mtok is None:
        return None
    return price.input_mtok, price.output_mtok
