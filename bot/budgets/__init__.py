"""Budgets: periods, atomic reservations (leases), settling and alerts."""

from __future__ import annotations

from bot.budgets.leases import LEASE, run_sweep, schedule_lease_sweeps, sweep_expired
from bot.budgets.refusal import CallCost
from bot.budgets.reservations import (
    Alert,
    Held,
    Reservation,
    format_reset,
    period_start_utc,
    period_window,
)

__all__ = [
    "LEASE",
    "Alert",
    "CallCost",
    "Held",
    "Reservation",
    "format_reset",
    "period_start_utc",
    "period_window",
    "run_sweep",
    "schedule_lease_sweeps",
    "sweep_expired",
]
