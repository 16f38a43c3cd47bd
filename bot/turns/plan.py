"""The database side of a turn before the provider call: load, guard, check and reserve.

`Planner.first` runs the first short transaction: `load_setup` routes the message
(reading the agent with its key in one statement), claims its event id (only for
messages the bot answers, so channel chatter writes nothing) and loads the workspace's
timezone and digest channel and the budgets that cover the call; then the key-leak
guard and the key checks run and — when the adapter has no conversation history to
fetch — the request is built and its worst-case cost reserved, all in that one
transaction. With history to fetch, `Planner.reserve` makes the reservation in a second
transaction once the request is built. Everything here runs on a database thread,
never on the loop.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy.engine import Connection

from bot import approvals, files
from bot.boundary import IncomingMessage
from bot.budgets import reservations
from bot.budgets.refusal import CallCost, audit_refusal
from bot.budgets.reservations import Alert, Reservation
from bot.clock import to_naive_utc
from bot.dedupe import Deduper
from bot.errors import BudgetExceeded, DecryptionError, KeyUnavailable
from bot.files import Intake
from bot.money import to_pico
from bot.pricing import worst_case_cost
from bot.providers.types import ChatMessage, ChatRequest
from bot.services import Services
from bot.turns import keyguard, records, routing, trim
from bot.turns.records import CallFacts, CallResult
from bot.turns.routing import Route
from bot.vault.keystore import Sealed
from storage.budgets import BudgetRow
from storage.lookups import AgentRow, KeyRow, WorkspaceRow, workspace_and_budgets

logger = logging.getLogger(__name__)


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


def build_request(
    agent: AgentRow,
    text: str,
    history: Sequence[ChatMessage],
    *,
    attached: Intake | None = None,
) -> ChatRequest:
    """The provider request: system prompt, trimmed history, the message (+ files), settings."""
    system = agent.prompt or None
    current = ChatMessage("user", text)
    if attached is not None and attached.sends_any:
        # Text files (already trimmed to fit) follow the message; images and PDFs are parts.
        joined = "\n\n".join(t for t in (text, attached.text) if t)
        current = ChatMessage("user", joined, parts=attached.parts)
    messages = trim.fit(
        history,
        current,
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


@dataclass(frozen=True, slots=True)
class Setup:
    """The routing verdict plus, when an agent answers, its key, workspace and budgets."""

    route: Route
    workspace_id: str
    platform: str
    key: KeyRow | None = None
    workspace: WorkspaceRow = field(default_factory=WorkspaceRow)
    budgets: tuple[BudgetRow, ...] = ()

    def facts(self, message: IncomingMessage) -> CallFacts:
        """The usage-row metadata of a call made for `message`."""
        agent = self.route.agent
        key = self.key
        return CallFacts(
            workspace_id=message.place.workspace_id,
            agent_id=None if agent is None else agent.id,
            agent_name="" if agent is None else agent.name,
            key_id=None if key is None else key.id,
            key_name="" if key is None else key.name,
            provider="" if key is None else key.provider,
            model="" if agent is None else agent.model,
            user_id=message.sender.user_id,
            channel_id=message.place.channel_id,
            event_id=message.event_id or None,
        )


def load_setup(
    conn: Connection, message: IncomingMessage, *, deduper: Deduper, now: dt.datetime
) -> Setup | None:
    """Route `message` and load what its turn needs; None when it is ignored or a duplicate."""
    route = routing.route(conn, message)
    if route.ignored:
        return None
    workspace_id, agent, event_id = message.place.workspace_id, route.agent, message.event_id
    workspace: WorkspaceRow = WorkspaceRow()
    budgets: tuple[BudgetRow, ...] = ()
    if agent is not None and event_id:
        # The claim and the settings in one statement where the backend allows.
        claimed, workspace, budgets = deduper.claim_and_load(
            conn,
            workspace_id=workspace_id,
            event_id=event_id,
            agent_id=agent.id,
            now=now,
            user_id=message.sender.user_id,
        )
    else:
        claimed = not event_id or deduper.claim(
            conn, workspace_id=workspace_id, event_id=event_id, now=now
        )
        if claimed and agent is not None:
            workspace, budgets = workspace_and_budgets(
                conn, workspace_id=workspace_id, agent_id=agent.id, user_id=message.sender.user_id
            )
    if not claimed:
        return None
    if deduper.prune_due(now):
        deduper.prune(conn, now=now)
    if agent is None:
        return Setup(route=route, workspace_id=workspace_id, platform=message.place.platform)
    return Setup(
        route=route,
        workspace_id=workspace_id,
        platform=message.place.platform,
        key=agent.key,
        workspace=workspace,
        budgets=budgets,
    )


def key_problem(agent: AgentRow, key: KeyRow | None) -> KeyUnavailable | None:
    """Why the agent's key cannot be used, as the one line the user sees; None if usable."""
    fix = f"/byok agent set {agent.name} --key …"
    if key is None:
        return KeyUnavailable(
            f"Agent {agent.name} has no key; an admin must set one with {fix}",
            key_name=None,
            status="missing",
        )
    if key.status == "revoked":
        return KeyUnavailable(
            f"Agent {agent.name}'s key {key.name} was revoked; "
            f"an admin must set another with {fix}",
            key_name=key.name,
            status="revoked",
        )
    if key.status != "active":
        return KeyUnavailable(
            f"Agent {agent.name}'s key {key.name} is failing (the provider rejected it); "
            f"an admin must rotate it with /byok key rotate {key.name} or set another "
            f"with {fix}",
            key_name=key.name,
            status=key.status,
        )
    return None


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
    refusal: str | None = None  # the outcome word of a refused call (for metrics)
    exceeded: BudgetExceeded | None = None  # the facts of a budget refusal (no content)
    approval_id: str | None = None  # the "Ask an admin" request a budget refusal opened

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
                at=to_naive_utc(now),
            )
            if setup.route.agent is not None:
                # A usage row (metadata only) so usage, me, the digest and the export count it.
                leak = CallResult(status=records.REFUSED, error_kind="leak", cost=Decimal(0))
                records.record(conn, setup.facts(message), leak, at=to_naive_utc(now))
            plan.line = keyguard.WARNING
            plan.refusal = "refused_leak"
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
            records.record(conn, plan.facts, refused, at=to_naive_utc(now))
            plan.line = (
                str(problem) if problem else f"Agent {agent.name}'s key cannot be decrypted."
            )
            plan.refusal = "refused_key"
            return plan
        # Files, like history, are fetched on the loop before the request is built.
        if message.history is None and message.agent_history is None and not message.files:
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
        prompt_tokens = trim.upper_bound_tokens(
            request.messages, system=request.system
        ) + files.upper_bound_tokens(setup.key.provider, request.model, request.messages)
        plan.worst = _worst_case(
            setup.key.provider,
            request.model,
            prompt_tokens,
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
            member=facts.user_id,
            platform=setup.platform,
        )
        cost = CallCost(
            prompt_tokens=prompt_tokens,
            max_output_tokens=request.max_tokens,
            model=request.model,
            worst=plan.worst,
        )
        try:
            plan.reservation = reservations.reserve(
                conn, held, amount_pusd=amount, relax_commit=True, cost=cost, now=now
            )
        except BudgetExceeded as exc:
            logger.info("budget refused a call in workspace %s", setup.workspace_id)
            refused = CallResult(status=records.REFUSED, error_kind="budget", cost=Decimal(0))
            records.record(conn, facts, refused, at=to_naive_utc(now))
            # No alert here: alerts count settled spend only (SPEC "Money").
            audit_refusal(
                conn,
                exc,
                workspace_id=setup.workspace_id,
                actor_id=facts.user_id,
                at=to_naive_utc(now),
            )
            plan.line = str(exc)
            plan.refusal = "refused_budget"
            plan.exceeded = exc
            plan.approval_id = approvals.open_for_refusal(
                conn,
                exc,
                held,
                workspace_id=setup.workspace_id,
                member_id=facts.user_id,
                agent_name=facts.agent_name,
                worst_pusd=amount,
                now=now,
            )
        return plan
