"""Pricing: genai-prices' published rates applied exactly; unknown models flagged, never $0."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from genai_prices.data_snapshot import get_snapshot
from genai_prices.types import ModelPrice
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.pricing import UNPRICED, Price, price_call, worst_case_cost
from bot.providers.types import Usage

MTOK = Decimal(1_000_000)


def published(genai_provider: str, model: str) -> ModelPrice:
    """The library's own price object for a model, read independently of ``bot.pricing``."""
    _, info = get_snapshot().find_provider_model(model, None, genai_provider, None)
    return info.get_prices(dt.datetime.now(dt.UTC))


def expected_cost(prices: ModelPrice, usage: Usage) -> Decimal:
    """Cost from first principles for flat (non-tiered) prices."""
    read, write = usage.cache_read_tokens, usage.cache_write_tokens
    read_price = prices.cache_read_mtok if prices.cache_read_mtok is not None else prices.input_mtok
    write_price = (
        prices.cache_write_mtok if prices.cache_write_mtok is not None else prices.input_mtok
    )
    assert isinstance(prices.input_mtok, Decimal) and isinstance(prices.output_mtok, Decimal)
    assert isinstance(read_price, Decimal) and isinstance(write_price, Decimal)
    total = (
        (usage.input_tokens - read - write) * prices.input_mtok
        + read * read_price
        + write * write_price
        + usage.output_tokens * prices.output_mtok
    )
    return total / MTOK


@pytest.mark.parametrize(
    ("provider", "genai_provider", "model", "usage"),
    [
        ("openai", "openai", "gpt-4o", Usage(10_000, 2_000, cache_read_tokens=4_000)),
        ("openai", "openai", "gpt-4o-mini", Usage(1_234, 567, cache_read_tokens=200)),
        ("openai", "openai", "o3", Usage(5_000, 9_000, reasoning_tokens=8_000)),
        ("azure-openai", "azure", "gpt-4o", Usage(1_000, 100)),
        ("gemini", "google", "gemini-2.5-flash", Usage(8_000, 3_000, 1_000, 0, 2_500)),
        ("xai", "x-ai", "grok-4", Usage(3_000, 400)),
        ("deepseek", "deepseek", "deepseek-chat", Usage(3_000, 400, cache_read_tokens=1_000)),
    ],
)
def test_flat_prices_match_the_library_figures(
    provider: str, genai_provider: str, model: str, usage: Usage
) -> None:
    prices = published(genai_provider, model)
    price = price_call(provider=provider, model=model, usage=usage)
    assert price.priced
    assert price.cost == expected_cost(prices, usage)
    assert type(price.cost) is Decimal
    assert price.input_mtok == prices.input_mtok
    assert price.output_mtok == prices.output_mtok
    assert price.cache_read_mtok == prices.cache_read_mtok


def test_anthropic_cache_reads_and_writes_match_the_library() -> None:
    prices = published("anthropic", "claude-sonnet-4-5")
    usage = Usage(
        input_tokens=3_500, output_tokens=400, cache_read_tokens=2_000, cache_write_tokens=500
    )
    price = price_call(provider="anthropic", model="claude-sonnet-4-5", usage=usage)
    # Under 200k input tokens the tiered prices sit at their base rates.
    base = {
        k: getattr(prices, k).base
        for k in ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok")
    }
    want = (
        1_000 * base["input_mtok"]
        + 2_000 * base["cache_read_mtok"]
        + 500 * base["cache_write_mtok"]
        + 400 * base["output_mtok"]
    ) / MTOK
    assert price.cost == want
    assert price.cache_write_mtok == base["cache_write_mtok"]
    assert price.model_ref == "claude-sonnet-4-5"


def test_hand_verified_figures() -> None:
    # gpt-4o: $2.50 in, $1.25 cached in, $10 out per MTok.
    # 800 plain in + 200 cached + 500 out = (2000 + 250 + 5000) / 1e6 = $0.00725
    gpt = price_call(provider="openai", model="gpt-4o", usage=Usage(1_000, 500, 200))
    assert gpt.cost == Decimal("0.00725")
    assert (gpt.input_mtok, gpt.output_mtok, gpt.cache_read_mtok) == (
        Decimal("2.5"),
        Decimal("10"),
        Decimal("1.25"),
    )
    # claude-sonnet-4-5: $3 in, $0.30 cache read, $3.75 cache write, $15 out per MTok.
    # 1000*3 + 2000*0.3 + 500*3.75 + 400*15 = 3000 + 600 + 1875 + 6000 = 11475 -> $0.011475
    claude = Usage(3_500, 400, cache_read_tokens=2_000, cache_write_tokens=500)
    assert price_call(provider="anthropic", model="claude-sonnet-4-5", usage=claude).cost == (
        Decimal("0.011475")
    )
    # gemini-2.5-flash: $0.30 in, $2.50 out (thoughts are output): 1000*0.3 + 600*2.5 = 1800
    flash = Usage(1_000, 600, reasoning_tokens=100)
    assert price_call(provider="gemini", model="gemini-2.5-flash", usage=flash).cost == (
        Decimal("0.0018")
    )


def test_reasoning_tokens_are_not_counted_twice() -> None:
    plain = price_call(provider="openai", model="o3", usage=Usage(1_000, 5_000))
    reasoning = price_call(
        provider="openai", model="o3", usage=Usage(1_000, 5_000, reasoning_tokens=4_500)
    )
    assert plain.cost == reasoning.cost


def test_tiered_prices_switch_on_total_input() -> None:
    prices = published("anthropic", "claude-sonnet-4-5")
    big = Usage(250_000, 1_000)
    price = price_call(provider="anthropic", model="claude-sonnet-4-5", usage=big)
    tier_in = prices.input_mtok.tiers[-1].price
    tier_out = prices.output_mtok.tiers[-1].price
    assert price.input_mtok == tier_in and price.output_mtok == tier_out
    assert price.cost == (250_000 * tier_in + 1_000 * tier_out) / MTOK


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("openai", "gpt-does-not-exist-9"),
        ("anthropic", "claude-imaginary"),
        ("gemini", ""),
        ("ollama", "llama3.1:8b"),  # local: no published price, flagged rather than $0
        ("openai-compatible", "my-finetune-v7"),
        ("azure-openai", "my-deployment-name"),
        ("not-a-provider", "gpt-4o"),
    ],
)
def test_unknown_models_are_flagged_not_zero(provider: str, model: str) -> None:
    price = price_call(provider=provider, model=model, usage=Usage(100, 100))
    assert price == UNPRICED
    assert price.priced is False and price.cost is None
    assert (
        worst_case_cost(provider=provider, model=model, input_tokens=10, max_output_tokens=10)
        is None
    )


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("openai-compatible", "gpt-4o"),
        ("openrouter", "anthropic/claude-sonnet-4.5"),
        ("groq", "llama-3.3-70b-versatile"),
        ("mistral", "mistral-large-latest"),
    ],
)
def test_presets_and_inferred_providers_are_priced(provider: str, model: str) -> None:
    price = price_call(provider=provider, model=model, usage=Usage(1_000, 100))
    assert price.priced and price.cost is not None and price.cost > 0
    assert price.model_ref


def test_inconsistent_usage_is_flagged_not_guessed() -> None:
    price = price_call(provider="openai", model="gpt-4o", usage=Usage(10, 5, cache_read_tokens=99))
    assert price == UNPRICED


def test_zero_usage_costs_exactly_zero_but_is_priced() -> None:
    price = price_call(provider="openai", model="gpt-4o", usage=Usage())
    assert price.priced and price.cost == Decimal(0)


def test_price_is_frozen() -> None:
    price = price_call(provider="openai", model="gpt-4o", usage=Usage(1, 1))
    assert isinstance(price, Price)
    with pytest.raises(AttributeError):
        price.cost = Decimal(0)  # type: ignore[misc]


def test_worst_case_is_prompt_plus_max_output_at_list_price() -> None:
    prices = published("openai", "gpt-4o-mini")
    got = worst_case_cost(
        provider="openai", model="gpt-4o-mini", input_tokens=1_500, max_output_tokens=1_024
    )
    assert got == (1_500 * prices.input_mtok + 1_024 * prices.output_mtok) / MTOK


@settings(max_examples=60, deadline=None)
@given(
    model=st.sampled_from(
        [("openai", "gpt-4o"), ("anthropic", "claude-sonnet-4-5"), ("gemini", "gemini-2.5-flash")]
    ),
    max_in=st.integers(0, 300_000),
    max_out=st.integers(0, 64_000),
    data=st.data(),
)
def test_worst_case_bounds_any_real_call(
    model: tuple[str, str], max_in: int, max_out: int, data: st.DataObject
) -> None:
    """Settling never exceeds the reservation when the call stays within its limits."""
    provider, name = model
    used_in = data.draw(st.integers(0, max_in))
    used_out = data.draw(st.integers(0, max_out))
    cached = data.draw(st.integers(0, used_in))
    reasoning = data.draw(st.integers(0, used_out))
    reserved = worst_case_cost(
        provider=provider, model=name, input_tokens=max_in, max_output_tokens=max_out
    )
    # Cache writes can cost more than input, but we never ask for caching, so none happen.
    actual = price_call(
        provider=provider,
        model=name,
        usage=Usage(used_in, used_out, cache_read_tokens=cached, reasoning_tokens=reasoning),
    )
    assert reserved is not None and actual.cost is not None
    assert actual.cost <= reserved


_CACHE_USAGES = (
    Usage(0, 0),
    Usage(1_234, 567, cache_read_tokens=200),
    Usage(9_000, 4_000, 1_000, 2_000, 3_000),
    Usage(250_000, 1_000, cache_read_tokens=100_000, cache_write_tokens=50_000),
)


@pytest.mark.parametrize("usage", _CACHE_USAGES)
def test_cached_rates_match_calc_price_for_every_published_model(usage: Usage) -> None:
    """bot.pricing skips the library's per-call set-up; the figures must not move by a digit."""
    from genai_prices import Usage as LibUsage
    from genai_prices import calc_price

    from bot import pricing

    ours = {v: k for k, v in pricing._GENAI_PROVIDER.items() if v is not None}
    now = dt.datetime.now(dt.UTC)
    checked = 0
    for provider in get_snapshot().providers:
        if provider.id not in ours:
            continue
        for model in provider.models:
            lib_usage = LibUsage(
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cache_read_tokens=usage.cache_read_tokens,
                cache_write_tokens=usage.cache_write_tokens,
                output_reasoning_tokens=usage.reasoning_tokens,
            )
            try:
                want = calc_price(
                    lib_usage, model.id, provider_id=provider.id, genai_request_timestamp=now
                )
            except LookupError:
                continue
            except ValueError:  # the library refuses these counts: flagged, never guessed
                assert not price_call(
                    provider=ours[provider.id], model=model.id, usage=usage
                ).priced
                continue
            got = price_call(provider=ours[provider.id], model=model.id, usage=usage)
            assert got.cost == want.total_price, (provider.id, model.id)
            assert str(got.cost) == str(want.total_price), (provider.id, model.id)
            assert got.model_ref == want.model.id
            checked += 1
    assert checked > 100
