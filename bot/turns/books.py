"""After a provider call: its usage row, the settlement of its reservation, alerts, key state.

Three resumable steps (see `transactions.Steps`), each applied at most once:
1. the usage row, the key's last-used time and the settlement of every budget counter
   (in the lock order of reservations) — one statement on PostgreSQL, run outside a
   transaction block (one round trip, committed durably);
2. only for a rejected key: marking it failing;
3. only when a counter reached an alert level it has not had this period: the claims of
   the 80% / 100% alerts.
A turn therefore settles in a single round trip, whatever its budgets; an empty step
sends nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from bot.budgets import reservations
from bot.budgets.reservations import Alert, Held, Reservation
from bot.transactions import Commit, Steps
from bot.turns import records
from bot.turns.records import CallFacts, CallResult
from storage.accounting import CounterSettlement, settle_call_counters
from storage.budgets import CounterState


@dataclass(frozen=True, slots=True)
class Settled:
    """What the bookkeeping of a call found: alerts it claimed, a key it marked failing."""

    alerts: list[Alert]
    newly_failing: bool


class CallBooks:
    """The bookkeeping of one finished call, as `steps` for a `TransactionRunner`."""

    def __init__(
        self,
        *,
        facts: CallFacts,
        result: CallResult,
        at: dt.datetime,
        reservation: Reservation | None,
        key_last_used: dt.datetime | None,
        alerts_wanted: bool,
    ) -> None:
        self.facts = facts
        self.result = result
        self.at = at
        self.held: tuple[Held, ...] = () if reservation is None else reservation.held
        self.key_last_used = key_last_used
        self.alerts_wanted = alerts_wanted
        # Written by the steps (wholly, so a retried step overwrites a failed attempt)
        # and read only for the steps that committed.
        self._states: list[CounterState | None] = []
        self._failing = False
        self._alerts_claimed: list[Alert] = []
        self.steps = Steps(
            [
                (self._settle_first, Commit.AUTOCOMMIT),
                (self._settle_rest, Commit.TRANSACTION),
                (self._claim_alerts, Commit.TRANSACTION),
            ]
        )

    def settled(self) -> Settled:
        """What the committed steps found (nothing for the steps that did not commit)."""
        done = len(self.steps.results)
        return Settled(
            alerts=list(self._alerts_claimed) if done > 2 else [],
            newly_failing=self._failing if done > 1 else False,
        )

    def budget_use(self) -> list[tuple[int, int, int]]:
        """(budget id, settled spend, limit) in pico-dollars of each counter settled."""
        done = len(self.steps.results)
        states = self._states if done else []
        return [
            (item.budget_id, state.spent_pusd, item.limit_pusd)
            for item, state in zip(self.held, states, strict=False)
            if state is not None
        ]

    def _settlement(self, item: Held) -> CounterSettlement:
        return CounterSettlement(
            budget_id=item.budget_id,
            period_start=item.period_key,
            reserved_pusd=item.amount_pusd,
            spent_pusd=self.result.cost_pusd or 0,
            lease_id=item.lease_id,
            member=item.member,
        )

    def _settle_first(self, conn: Connection) -> None:
        self._states = settle_call_counters(
            conn,
            usage_row=records.row_values(self.facts, self.result, at=self.at),
            touch_key=records.key_to_touch(
                self.facts, self.result, at=self.at, last_used=self.key_last_used
            ),
            at=self.at,
            counters=[self._settlement(item) for item in self.held],
        )

    def _settle_rest(self, conn: Connection) -> None:
        self._failing = False
        if self.result.status == records.KEY_REJECTED and self.facts.key_id is not None:
            self._failing = records.mark_key_failing(
                conn, key_id=self.facts.key_id, reason="rejected by the provider"
            )

    def _claim_alerts(self, conn: Connection) -> None:
        claimed: list[Alert] = []
        if self.alerts_wanted:
            for item, state in zip(self.held, self._states, strict=True):
                claimed.extend(reservations.claim_alerts(conn, item, state))
        self._alerts_claimed = claimed
