"""A conversation turn: route, guard, reserve, stream, settle, record — in that order.

Database work happens in three short transactions, each in a worker thread so the event
loop keeps streaming other answers: (1) route, claim the event id and load agent, key,
workspace and budgets; (2) reserve the worst-case cost against every budget; (3)
settle to the real cost and write the usage row. No provider call is made unless (2)
succeeded (or no budget applies), so a database outage can never bypass a budget.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from decimal import Decimal
from typing import TypeVar

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from bot import budgets, context, keyguard, usage
from bot.boundary import IncomingMessage, ReplySink
from bot.budgets import Alert, Held, Reservation
from bot.dedupe import Deduper
from bot.errors import BudgetExceeded, DatabaseUnavailable, DecryptionError, ProviderError
from bot.money import to_pico
from bot.notices import Notices
from bot.outcome import Outcome, first_text, footer
from bot.pricing import worst_case_cost
from bot.providers.base import ChatMessage, ChatRequest, KeySpec, StreamItem, TextDelta
from bot.routing import AgentRow, KeyRow
from bot.services import Services
from bot.turnsetup import Setup, key_problem, load_setup
from bot.usage import CallFacts, CallResult

logger = logging.getLogger(__name__)

T = TypeVar("T")
SETTLE_ATTEMPTS = 3


@functools.lru_cache(maxsize=4096)
def _worst_case(
    provider: str, model: str, input_tokens: int, max_output_tokens: int, _hour: str
) -> Decimal | None:
    # Pricing a call walks genai-prices' tables; the same shape of call recurs a lot.
    # The hour is part of the key so a published price change is picked up within it.
    return worst_case_cost(
        provider=provider,
        model=model,
        input_tokens=input_tokens,
        max_output_tokens=max_output_tokens,
    )


def is_outage(exc: BaseException) -> bool:
    """True for errors that mean "the database is unreachable right now"."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout | DatabaseUnavailable):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def naive_utc(now: dt.datetime) -> dt.datetime:
    """An aware `now` as the naive UTC every column holds."""
    return now.astimezone(dt.UTC).replace(tzinfo=None) if now.tzinfo else now


class TurnRunner:
    """Answers chat messages for one `Core`."""

    def __init__(self, services: Services, *, deduper: Deduper) -> None:
        self.services = services
        self.deduper = deduper
        self.notices = Notices(services)

    async def db(self, fn: Callable[[Connection], T]) -> T:
        """Run `fn` in one transaction in a worker thread; outages raise `DatabaseUnavailable`."""

        def work() -> T:
            with self.services.engine.begin() as conn:
                return fn(conn)

        try:
            return await asyncio.to_thread(work)
        except Exception as exc:
            if is_outage(exc):
                raise DatabaseUnavailable("database unreachable") from None
            raise

    async def run(self, message: IncomingMessage, sink: ReplySink) -> None:
        """Answer one chat message (or ignore it); raises `DatabaseUnavailable` on outages."""
        if message.sender.is_bot or message.is_edit:
            return
        now = self.services.clock()
        setup = await self.db(lambda conn: load_setup(conn, message, deduper=self.deduper, now=now))
        if setup is None:
            return
        if keyguard.carries_key(message.text):
            await self._refuse_leak(message, sink, now=now)
        elif setup.route.agent is None:
            await sink.send(setup.route.hint or "", private=True)
        else:
            await self._answer(message, sink, setup, setup.route.agent)

    async def _refuse_leak(
        self, message: IncomingMessage, sink: ReplySink, *, now: dt.datetime
    ) -> None:
        place = message.place
        logger.info("refused a message carrying a key shape in workspace %s", place.workspace_id)
        await self.db(
            lambda conn: keyguard.audit_refusal(
                conn,
                workspace_id=place.workspace_id,
                actor_id=message.sender.user_id,
                channel_id=place.channel_id,
                at=naive_utc(now),
            )
        )
        await sink.send(keyguard.WARNING, private=True)

    async def _answer(
        self, message: IncomingMessage, sink: ReplySink, setup: Setup, agent: AgentRow
    ) -> None:
        facts = setup.facts(message)
        key = setup.key
        problem = key_problem(agent, key)
        secret = None if key is None or problem is not None else self._unseal(message, key)
        if key is None or secret is None:
            line = str(problem) if problem else f"Agent {agent.name}'s key cannot be decrypted."
            kind = "key_" + (problem.status if problem else "undecryptable")
            await self._finish(
                setup, facts, None, CallResult(status=usage.REFUSED, error_kind=kind)
            )
            await sink.send(line, private=True)
            return
        request = await self._request(message, agent, setup.route.text)
        worst = _worst_case(
            key.provider,
            agent.model,
            context.upper_bound_tokens(request.messages, system=request.system),
            agent.max_tokens,
            self.services.clock().strftime("%Y%m%d%H"),
        )
        reservation = await self._reserve(setup, facts, agent, sink, worst)
        if reservation is False:
            return
        outcome = Outcome(provider=key.provider, model=agent.model, worst=worst)
        try:
            spec = KeySpec(provider=key.provider, secret=secret, base_url=key.base_url)
            await self._relay(sink, spec, request, agent, outcome)
        finally:
            outcome.end()
            held = reservation if isinstance(reservation, Reservation) else None
            failing = await self._finish(setup, facts, held, outcome.result())
        if outcome.error is not None:
            await self.notices.provider_failure(
                sink, setup, agent, key, outcome, newly_failing=failing
            )

    def _unseal(self, message: IncomingMessage, key: KeyRow) -> str | None:
        try:
            return self.services.vault.unseal(
                key.sealed, workspace_id=message.place.workspace_id, key_id=key.id
            )
        except DecryptionError:
            logger.error("stored key %s does not decrypt", key.id)
            return None

    async def _request(self, message: IncomingMessage, agent: AgentRow, text: str) -> ChatRequest:
        history: tuple[ChatMessage, ...] = ()
        if message.history is not None:
            try:
                history = tuple(await message.history())
            except Exception as exc:  # the platform's history is a nicety; answer without it
                logger.warning("could not read conversation history: %s", type(exc).__name__)
        system = agent.prompt or None
        messages = context.fit(
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

    async def _reserve(
        self,
        setup: Setup,
        facts: CallFacts,
        agent: AgentRow,
        sink: ReplySink,
        worst: Decimal | None,
    ) -> Reservation | bool:
        """The reservation (True when no budget applies); False once a refusal was told."""
        if not setup.budgets:
            return True
        # An unpriced model reserves nothing, but an exhausted budget still refuses it.
        amount = 0 if worst is None else to_pico(worst, round_up=True)
        held = budgets.plan(
            setup.budgets,
            agent_name=agent.name,
            amount_pusd=amount,
            now=self.services.clock(),
            tz=setup.workspace.timezone,
        )
        try:
            return await self.db(lambda conn: budgets.reserve(conn, held, amount_pusd=amount))
        except BudgetExceeded as exc:
            logger.info("budget refused a call in workspace %s", facts.workspace_id)
            alerts = await self.db(lambda conn: self._refused(conn, facts, held))
            await self.notices.alerts(setup, alerts)
            await sink.send(str(exc), private=True)
            return False

    def _refused(self, conn: Connection, facts: CallFacts, held: tuple[Held, ...]) -> list[Alert]:
        result = CallResult(status=usage.REFUSED, error_kind="budget", cost=Decimal(0))
        usage.record(conn, facts, result, at=naive_utc(self.services.clock()))
        return budgets.refused_alerts(conn, held)

    async def _relay(
        self,
        sink: ReplySink,
        spec: KeySpec,
        request: ChatRequest,
        agent: AgentRow,
        outcome: Outcome,
    ) -> None:
        """Stream the provider's answer to the sink, recording everything in `outcome`."""
        items = self.services.providers.stream_chat(spec, request)
        async with aclosing(items):
            try:
                first = await first_text(items, outcome)
            except ProviderError as exc:
                outcome.error = exc
                return
            try:
                await sink.stream(_chunks(first, items, agent, outcome))
            except ProviderError as exc:
                outcome.error = exc

    async def _finish(
        self,
        setup: Setup,
        facts: CallFacts,
        reservation: Reservation | None,
        result: CallResult,
    ) -> bool:
        """Settle, write the usage row, mark a rejected key; True if the key just turned failing.

        Retried briefly: a lost settlement would leave its reservation held all period.
        """
        at = naive_utc(self.services.clock())

        def work(conn: Connection) -> tuple[list[Alert], bool]:
            alerts: list[Alert] = []
            if reservation is not None:
                spent = result.cost_pusd or 0
                alerts = budgets.settle(conn, reservation, spent_pusd=spent)
            last_used = None if setup.key is None else setup.key.last_used_at
            usage.record(conn, facts, result, at=at, key_last_used=last_used)
            failing = False
            if result.status == usage.KEY_REJECTED and facts.key_id is not None:
                failing = usage.mark_key_failing(
                    conn, key_id=facts.key_id, reason="rejected by the provider"
                )
            return alerts, failing

        for attempt in range(1, SETTLE_ATTEMPTS + 1):
            try:
                alerts, failing = await self.db(work)
                break
            except DatabaseUnavailable:
                if attempt == SETTLE_ATTEMPTS:
                    logger.error(
                        "could not record usage for workspace %s (database unreachable); "
                        "%d pico-USD stay reserved this period",
                        facts.workspace_id,
                        0 if reservation is None else reservation.amount_pusd,
                    )
                    return False
                await asyncio.sleep(0.2 * attempt)
        await self.notices.alerts(setup, alerts)
        return failing


async def _chunks(
    first: str | None, items: AsyncIterator[StreamItem], agent: AgentRow, outcome: Outcome
) -> AsyncGenerator[str, None]:
    """The text the sink streams: the peeked first piece, the rest, then the cost footer."""
    if first is not None:
        yield first
    if outcome.completion is None:
        try:
            async for item in items:
                if isinstance(item, TextDelta):
                    if item.text:
                        outcome.emitted = True
                        yield item.text
                else:
                    outcome.completion = item
                    outcome.end()
        except ProviderError as exc:
            outcome.error = exc
            raise
    if outcome.completion is not None and not outcome.emitted:
        yield f"({agent.name} returned an empty answer)"
    if agent.show_cost and outcome.completion is not None:
        outcome.end()
        yield "\n\n" + footer(agent=agent.name, model=agent.model, result=outcome.result())
