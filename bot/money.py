"""Exact money: `Decimal` dollars in code, integer pico-dollars (10^-12 USD) in the database."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

PICO = Decimal(10) ** 12


def to_pico(usd: Decimal, *, round_up: bool = False) -> int:
    """Dollars to whole pico-dollars (half-even, or ceiling for reservations)."""
    rounding = ROUND_CEILING if round_up else ROUND_HALF_EVEN
    return int((usd * PICO).to_integral_value(rounding=rounding))


def from_pico(pico: int) -> Decimal:
    """Whole pico-dollars to exact dollars."""
    return Decimal(pico) / PICO


# Below this a non-zero amount is shown as "<$0.000001" rather than rounded to nothing.
_SMALLEST = Decimal("0.000001")
_CENT = Decimal("0.01")


def format_usd(usd: Decimal) -> str:
    """Dollars for people, one rule everywhere: `$1,234.50`, `$0.42`, `$0.0042`, `<$0.000001`.

    2 decimals at $1 or more; below, 2 significant digits (at most 6 decimals, trailing
    zeros past the cents dropped); a non-zero amount never reads as $0. Exports keep the
    exact value instead.
    """
    if usd.is_nan() or usd.is_infinite():
        return "$?"
    sign = "-" if usd < 0 else ""
    amount = abs(usd)
    if amount == 0:
        return "$0.00"
    if amount < _SMALLEST:
        return f"{sign}<$0.000001"
    if amount >= 1:
        return f"{sign}${amount.quantize(_CENT, rounding=ROUND_HALF_UP):,.2f}"
    # Two significant digits: quantize at the second digit after the first non-zero one.
    digits = max(2, min(6, 1 - amount.adjusted()))
    shown = amount.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    if shown >= 1:
        return f"{sign}${shown:,.2f}"
    text = f"{shown:f}".rstrip("0")
    decimals = len(text.partition(".")[2])
    return f"{sign}${shown:.{max(2, decimals)}f}"


def format_pico(pico: int) -> str:
    """Stored pico-dollars for people: ``format_usd(from_pico(pico))``."""
    return format_usd(from_pico(pico))
