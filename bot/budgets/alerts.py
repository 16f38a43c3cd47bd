"""Budget alerts: a settled counter that reached 80% or 100% of its limit, claimed once a period.

Alerts count settled spend only: money merely reserved by calls in flight may never be
spent. Each level's flag is flipped by one conditional UPDATE, so of several callers
(processes, replicas) exactly one claims it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection

from bot.budgets.periods import adjective, format_reset
from bot.money import format_usd, from_pico
from storage import budgets as store

if TYPE_CHECKING:
    from bot.budgets.reservations import Held, Reservation

ALERT_LEVELS = (80, 100)


@dataclass(frozen=True, slots=True)
class Alert:
    """A budget that just crossed 80% or 100% in its period (claimed for this caller)."""

    label: str
    period: str
    level: int
    spent: Decimal
    limit: Decimal
    resets_at: dt.datetime
    soft: bool = False

    def text(self) -> str:
        """The line posted to the digest channel."""
        usage = f"{format_usd(self.spent)} of {format_usd(self.limit)} spent"
        reset = format_reset(self.resets_at)
        kind = "soft " if self.soft else ""
        what = f"Budget alert: the {adjective(self.period)} {kind}budget of {self.label}"
        if self.level >= 100 and self.soft:
            return f"{what} has reached its limit ({usage}); calls still go ahead until {reset}."
        if self.level >= 100:
            return (
                f"{what} has reached its limit ({usage}); "
                f"calls that would pass it are refused until {reset}."
            )
        return f"{what} has reached {self.level}% ({usage}); it resets {reset}."


def settle(
    conn: Connection, reservation: Reservation, *, spent_pusd: int, alerts_wanted: bool = True
) -> list[Alert]:
    """Swap the reservation for the real cost; return the alerts this call claimed.

    With `alerts_wanted` false (no digest channel to post to) no alert is claimed, so
    the alert still comes if a channel is set later in the period.
    """
    alerts: list[Alert] = []
    for item in reservation.held:
        state = store.settle(
            conn,
            budget_id=item.budget_id,
            period_start=item.period_key,
            reserved_pusd=item.amount_pusd,
            spent_pusd=spent_pusd,
            lease_id=item.lease_id,
            member=item.member,
        )
        if alerts_wanted:
            alerts.extend(claim_alerts(conn, item, state))
    return alerts


def alerts_due(item: Held, state: store.CounterState | None) -> bool:
    """True when a settled counter reached an alert level it has not had this period."""
    return state is not None and any(
        not state.alert_sent(level) for level in _levels(item, state.spent_pusd)
    )


def claim_alerts(conn: Connection, item: Held, state: store.CounterState | None) -> list[Alert]:
    """Claim the alerts a settled counter has reached (None: its row is gone, no alert)."""
    if state is None or not alerts_due(item, state):
        return []
    alerts = []
    for level in _levels(item, state.spent_pusd):
        if state.alert_sent(level):
            continue  # claimed earlier in the period: no UPDATE needed to learn that
        if store.claim_alert(
            conn,
            budget_id=item.budget_id,
            period_start=item.period_key,
            level=level,
            member=item.member,
        ):
            alerts.append(
                Alert(
                    label=item.label,
                    period=item.period,
                    level=level,
                    spent=from_pico(state.spent_pusd),
                    limit=from_pico(item.limit_pusd),
                    resets_at=item.resets_at,
                    soft=item.soft,
                )
            )
    return alerts


def _levels(item: Held, spent_pusd: int) -> list[int]:
    # Settled spend only: money merely reserved by calls in flight may never be spent.
    limit = item.limit_pusd
    levels = []
    if limit > 0 and spent_pusd * 100 >= 80 * limit:
        levels.append(80)
    if spent_pusd >= limit:
        levels.append(100)
    return levels
