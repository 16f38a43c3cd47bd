"""Price a call from the provider-reported usage with ``genai-prices``, in exact decimals."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal

from genai_prices import Usage as PricedUsage
from genai_prices import calc_price
from genai_prices.types import PriceCalculation, TieredPrices

from bot.providers.base import Usage

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


def _calc(provider: str, model: str, usage: PricedUsage) -> PriceCalculation | None:
    if provider not in _GENAI_PROVIDER or not model or (provider, model) in _UNKNOWN:
        return None
    try:
        return calc_price(
            usage,
            model,
            provider_id=_GENAI_PROVIDER[provider],
            genai_request_timestamp=dt.datetime.now(dt.UTC),
        )
    except LookupError:
        # A miss scans every model; remember it (bounded: model names come from admins).
        if len(_UNKNOWN) >= _UNKNOWN_MAX:
            _UNKNOWN.clear()
        _UNKNOWN.add((provider, model))
        return None
    except ValueError:
        # Inconsistent counts (e.g. more cached than input tokens): flag, never guess.
        logger.warning("usage not priceable provider=%s model=%s", provider, model)
        return None


def price_call(*, provider: str, model: str, usage: Usage) -> Price:
    """Price exact usage; ``priced=False`` (cost None) when genai-prices does not know the model."""
    input_tokens = usage.input_tokens
    priced_usage = PricedUsage(
        input_tokens=input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        # Reasoning is inside output_tokens; genai-prices only splits it out for the rare
        # model with a separate reasoning rate, so nothing is counted twice.
        output_reasoning_tokens=usage.reasoning_tokens,
    )
    calc = _calc(provider, model, priced_usage)
    if calc is None:
        return UNPRICED
    prices = calc.model_price
    return Price(
        cost=calc.total_price,
        priced=True,
        input_mtok=_unit(prices.input_mtok, input_tokens),
        output_mtok=_unit(prices.output_mtok, input_tokens),
        cache_read_mtok=_unit(prices.cache_read_mtok, input_tokens),
        cache_write_mtok=_unit(prices.cache_write_mtok, input_tokens),
        model_ref=calc.model.id,
    )


def worst_case_cost(
    *, provider: str, model: str, input_tokens: int, max_output_tokens: int
) -> Decimal | None:
    """Cost if every prompt token is uncached input and the reply uses all its max tokens."""
    usage = Usage(input_tokens=max(0, input_tokens), output_tokens=max(0, max_output_tokens))
    return price_call(provider=provider, model=model, usage=usage).cost
