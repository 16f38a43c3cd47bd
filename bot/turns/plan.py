"""The database side of a turn before the provider call, decided in one transaction.

`Planner.first` routes the message, claims its event id, applies the key-leak guard
and the key checks, and — when the adapter has no conversation history to fetch —
builds the request and reserves its worst-case cost, all in one transaction. With
history to fetch, `Planner.reserve` makes the reservation in a second transaction once
the request is built. Everything here runs on a database thread, never on the loop.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy.engine import Connection

from bot.boundary import IncomingMessage
from bot.budgets import reservations
from bot.budgets.reservations import Alert, Reservation
from bot.dedupe import Deduper
from bot.errors import BudgetExceeded, DecryptionError
from bot.money import to_pico
from bot.pricing import worst_case_cost
from bot.providers.types import ChatMessage, ChatRequest
from bot.services import Services
from bot.turns import keyguard, records, trim
from bot.turns.records import CallFacts, CallResult
from bot.turns.setup import Setup, key_problem, load_setup
from bot.vault.keystore import Sealed
from storage.lookups import AgentRow

logger = logging.getLogger(__name__)


def naive_utc(now: dt.datetime) -> dt.datetime:
    """An aware `now` as the naive UTC every column holds."""
    return now.astimezone(dt.UTC).replace(tzinfo=None) if now.tzinfo else now


@functools.lru_cache(maxsize=4096)
def _worst_case(
    provider: str, model: str, input_tokens: int, max_output_tokens: int, _hour: str
) -> Decimal | None:
    # Pricing walks genai-prices' tables and the same shape of call recurs a lot; the
    # hour is in the key so that a published price change is picked up within it.
    return worst_case_cost(
        provider=provider,
        model=model,
        input_tokens=input_tokens,
        max_output_tokens=max_output_tokens,
    )


def build_request(agent: AgentRow, text: str, history: Sequence[ChatMessage]) -> ChatRequest:
    """The provider request: system prompt, trimmed history, the message, settings."""
    system = agent.prompt or None
    messages = trim.fit(
        history,
        ChatMessage("user", text),
        model=agent.model,
        system=system,
        max_output_tokens=agent.max_tokens,
    )
    return ChatRequest(
        model=agent.model,
        messages=messages,
        system=system,
        max_tokens=agent.max_tokens,
        temperature=agent.temperature,
    )


@dataclass(slots=True)
class Plan:
    """What the first transaction decided: a line to say instead, or a call to make."""

    setup: Setup
    facts: CallFacts | None = None
    line: str | None = None  # a private line instead of an answer (hint, refusal, ...)
    secret: str | None = field(default=None, repr=False)
    request: ChatRequest | None = field(default=None, repr=False)
    worst: Decimal | None = None
    reservation: Reservation | None = None
    alerts: list[Alert] = field(default_factory=list)

    @property
    def settled_later(self) -> bool:
        """True when a provider call (and its durable usage-row commit) follows."""
        return self.line is None


class Planner:
    """Runs the pre-call transactions of turns for one `Core`."""

    def __init__(self, services: Services, *, deduper: Deduper) -> None:
        self.services = services
        self.deduper = deduper

    def first(self, conn: Connection, message: IncomingMessage, *, now: dt.datetime) -> Plan | None:
        """Route, claim, guard, check the key and (without history to fetch) reserve."""
        setup = load_setup(conn, message, deduper=self.deduper, now=now)
        if setup is None:
            return None
        plan = Plan(setup)
        if keyguard.carries_key(message.text):
            logger.info(
                "refused a message carrying a key shape in workspace %s", setup.workspace_id
            )
            keyguard.audit_refusal(
                conn,
                workspace_id=setup.workspace_id,
                actor_id=message.sender.user_id,
                channel_id=message.place.channel_id,
                at=naive_utc(now),
            )
            plan.line = keyguard.WARNING
            return plan
        agent = setup.route.agent
        if agent is None:
            plan.line = setup.route.hint or ""
            return plan
        plan.facts = setup.facts(message)
        problem = key_problem(agent, setup.key)
        if problem is None:
            plan.secret = self._unseal(setup)
        if plan.secret is None:
            kind = "key_" + (problem.status if problem else "undecryptable")
            refused = CallResult(status=records.REFUSED, error_kind=kind)
            records.record(conn, plan.facts, refused, at=naive_utc(now))
            plan.line = (
                str(problem) if problem else f"Agent {agent.name}'s key cannot be decrypted."
            )
            return plan
        if message.history is None:
            plan.request = build_request(agent, setup.route.text, ())
            self.reserve(conn, plan, now=now)
        return plan

    def _unseal(self, setup: Setup) -> str | None:
        key = setup.key
        assert key is not None
        try:
            sealed = Sealed(key.ciphertext, key.nonce, key.key_version)
            return self.services.vault.unseal(
                sealed, workspace_id=setup.workspace_id, key_id=key.id
            )
        except DecryptionError:
            logger.error("stored key %s does not decrypt", key.id)
            return None

    def reserve(self, conn: Connection, plan: Plan, *, now: dt.datetime) -> Plan:
        """Reserve the request's worst case against every budget, or record the refusal."""
        setup, request, facts = plan.setup, plan.request, plan.facts
        assert request is not None and facts is not None and setup.key is not None
        plan.worst = _worst_case(
            setup.key.provider,
            request.model,
            trim.upper_bound_tokens(request.messages, system=request.system),
            request.max_tokens,
            now.strftime("%Y%m%d%H"),
        )
        if not setup.budgets:
            return plan
        # Every call holds at least one pico-dollar, so a budget spent to the limit refuses
        # even a model whose price is unknown (its cost is recorded as unpriced).
        amount = 1 if plan.worst is None else max(1, to_pico(plan.worst, round_up=True))
        held = reservations.plan(
            setup.budgets,
            agent_name=facts.agent_name,
            amount_pusd=amount,
            now=now,
            tz=setup.workspace.timezone,
        )
        try:
            plan.reservation = reservations.reserve(
                conn, held, amount_pusd=amount, relax_commit=True
            )
        except BudgetExceeded as exc:
            logger.info("budget refused a call in workspace %s", setup.workspace_id)
            refused = CallResult(status=records.REFUSED, error_kind="budget", cost=Decimal(0))
            records.record(conn, facts, refused, at=naive_utc(now))
            if setup.workspace.digest_channel and setup.platform in self.services.posters:
                plan.alerts = reservations.refused_alerts(conn, held)
            plan.line = str(exc)
        return plan
