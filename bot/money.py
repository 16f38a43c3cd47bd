"""Exact money: `Decimal` dollars in code, integer pico-dollars (10^-12 USD) in the database."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal

PICO = Decimal(10) ** 12


def to_pico(usd: Decimal, *, round_up: bool = False) -> int:
    """Dollars to whole pico-dollars (half-even, or ceiling for reservations)."""
    rounding = ROUND_CEILING if round_up else ROUND_HALF_EVEN
    return int((usd * PICO).to_integral_value(rounding=rounding))


def from_pico(pico: int) -> Decimal:
    """Whole pico-dollars to exact dollars."""
    return Decimal(pico) / PICO


def format_usd(usd: Decimal, *, places: int = 4) -> str:
    """`$0.0042`-style text; more places for tiny non-zero amounts so they never read as 0."""
    quantum = Decimal(1).scaleb(-places)
    shown = usd.quantize(quantum, rounding=ROUND_HALF_EVEN)
    if shown == 0 and usd != 0:
        return f"${usd.normalize():f}"
    return f"${shown:,f}"
