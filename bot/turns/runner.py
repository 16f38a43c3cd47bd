"""A conversation turn: plan (route, guard, reserve), stream, settle and record.

Database work happens in short transactions on database threads, so the event loop
keeps streaming other answers: (1) the plan — route, claim the event id, check the key
and, when there is no platform history to read first, reserve the worst-case cost; (2)
only with history: the reservation once the request is built; (3) settle to the real
cost and write the usage row. No provider call is made unless its reservation
succeeded (or no budget applies), so a database outage can never bypass a budget.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from typing import TypeVar

from sqlalchemy.engine import Connection

from bot import metrics, safetext
from bot.boundary import IncomingMessage, ReplySink
from bot.dedupe import Deduper
from bot.errors import DatabaseUnavailable, ProviderError
from bot.providers.types import ChatMessage, ChatRequest, KeySpec, StreamItem
from bot.services import Services
from bot.transactions import Commit, TransactionRunner
from bot.turns import keyguard, records
from bot.turns.books import CallBooks
from bot.turns.notices import Notices
from bot.turns.outcome import Outcome, first_text, footer
from bot.turns.plan import Plan, Planner, build_request, naive_utc
from bot.turns.records import CallResult
from storage.lookups import AgentRow

logger = logging.getLogger(__name__)

T = TypeVar("T")
SETTLE_ATTEMPTS = 3


class TurnRunner:
    """Answers chat messages for one `Core`."""

    def __init__(self, services: Services, *, deduper: Deduper) -> None:
        self.services = services
        self.planner = Planner(services, deduper=deduper)
        self.notices = Notices(services)
        self.transactions = TransactionRunner(services.engine)

    async def db(self, fn: Callable[[Connection], T]) -> T:
        """Run a planning unit off the loop; outages raise `DatabaseUnavailable`."""
        return await self.transactions.run(fn, commit=Commit.AUTOCOMMIT)

    async def run(self, message: IncomingMessage, sink: ReplySink) -> None:
        """Answer one chat message (or ignore it); raises `DatabaseUnavailable` on outages."""
        if message.sender.is_bot or message.is_edit:
            return
        now = self.services.clock()
        plan = await self.db(lambda conn: self.planner.first(conn, message, now=now))
        if plan is None:
            return
        if plan.line is None and plan.request is None:  # the platform's history comes first
            plan.request = await self._request(message, plan)
            plan = await self.db(
                lambda conn: self.planner.reserve(conn, plan, now=self.services.clock())
            )
        await self.notices.alerts(plan.setup, plan.alerts)
        if plan.line is not None:
            await sink.send(plan.line, private=True)
            return
        await self._call(sink, plan)

    async def _request(self, message: IncomingMessage, plan: Plan) -> ChatRequest:
        agent = plan.setup.route.agent
        assert agent is not None and message.history is not None
        history: list[ChatMessage] = []
        try:
            history = safetext.clean_turns(await message.history())
        except Exception as exc:  # the platform's history is a nicety; answer without it
            logger.warning("could not read conversation history: %s", type(exc).__name__)
        # The key guard covers the context too, here in the core so every platform's
        # history passes it: a turn carrying a key is left out, never sent nor logged.
        history, dropped = keyguard.without_keys(history)
        if dropped:
            logger.info(
                "left %d context message(s) with a key shape out in workspace %s",
                dropped,
                plan.setup.workspace_id,
            )
        return build_request(agent, plan.setup.route.text, history)

    async def _call(self, sink: ReplySink, plan: Plan) -> None:
        """Make the provider call, stream it, then settle and record whatever happened."""
        setup, key, agent = plan.setup, plan.setup.key, plan.setup.route.agent
        assert key is not None and agent is not None and plan.request is not None
        assert plan.secret is not None
        outcome = Outcome(
            provider=key.provider,
            model=agent.model,
            worst=plan.worst,
            max_output_tokens=plan.request.max_tokens,
        )
        try:
            spec = KeySpec(provider=key.provider, secret=plan.secret, base_url=key.base_url)
            await self._relay(sink, spec, plan.request, agent, outcome)
        finally:
            outcome.end()
            failing = await self._finish(plan, outcome.result())
        if outcome.error is not None:
            await self.notices.provider_failure(
                sink, setup, agent, key, outcome, newly_failing=failing
            )

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

    async def _finish(self, plan: Plan, result: CallResult) -> bool:
        """Settle, write the usage row, mark a rejected key; True if the key just turned failing.

        The bookkeeping's steps (`accounting.CallBooks`) are retried briefly, each applied
        at most once: a lost settlement would leave its reservation held all period.
        """
        setup, facts = plan.setup, plan.facts
        assert facts is not None
        books = CallBooks(
            facts=facts,
            result=result,
            at=naive_utc(self.services.clock()),
            reservation=plan.reservation,
            key_last_used=None if setup.key is None else setup.key.last_used_at,
            alerts_wanted=self.notices.can_post(setup),
        )
        # One attempt more than outages get: for the fallback after another failure.
        for attempt in range(1, SETTLE_ATTEMPTS + 2):
            try:
                await self.transactions.run_steps(books.steps)
                break
            except DatabaseUnavailable:
                if attempt == SETTLE_ATTEMPTS:
                    logger.error(
                        "could not record usage for workspace %s (database unreachable); "
                        "settled=%s",
                        facts.workspace_id,
                        bool(books.steps.results),
                    )
                    break
                await asyncio.sleep(0.2 * attempt)
            except Exception as exc:
                if not self._settle_fallback(books, plan, exc):
                    break
        result = books.result
        metrics.count_provider_call(provider=facts.provider, status=result.status)
        if result.cost is not None:
            metrics.add_cost(provider=facts.provider, usd=result.cost)
        settled = books.settled()
        await self.notices.alerts(setup, settled.alerts)
        return settled.newly_failing

    def _settle_fallback(self, books: CallBooks, plan: Plan, exc: Exception) -> bool:
        """A step failed for another reason than an outage: finish with a plain estimate.

        Whatever the result held that the database refused, the reservation must not stay
        held: the remaining steps run again with the reserved estimate and nothing else.
        Returns True to retry (an outage on the way is retried like any other).
        """
        safe = records.estimated(
            CallResult(status=records.ESTIMATED, latency_ms=books.result.latency_ms),
            reserved=plan.worst,
            error_kind="unrecordable",
        )
        if books.result == safe:  # the plain estimate failed too: nothing more to try
            logger.error("could not record usage (%s); settled=%s", type(exc).__name__, False)
            return False
        logger.error(
            "could not record a call's usage (%s); recording its estimate", type(exc).__name__
        )
        books.result = safe
        return True


async def _chunks(
    first: str | None,
    items: AsyncGenerator[StreamItem, None],
    agent: AgentRow,
    outcome: Outcome,
) -> AsyncGenerator[str, None]:
    """The text the sink streams: the peeked first piece, the rest, then the cost footer.

    Once the output passes the max output tokens (`Outcome.cut`) the provider's stream is
    closed at once, before the crossing piece is relayed: no further byte is read.
    """
    if outcome.cut:
        await items.aclose()
    if first is not None:
        yield first
    if not outcome.done:
        try:
            async for item in items:
                text = outcome.take(item)
                if outcome.cut:
                    await items.aclose()
                if text is not None:
                    yield text
                if outcome.done:
                    break
        except ProviderError as exc:
            outcome.error = exc
            raise
    if outcome.completion is not None and not outcome.emitted:
        yield f"({agent.name} returned an empty answer)"
    if outcome.cut:
        yield f"\n\n({agent.name} stopped here: its answer reached --max-tokens {agent.max_tokens})"
    if agent.show_cost and outcome.done:
        outcome.end()
        yield "\n\n" + footer(agent=agent.name, model=agent.model, result=outcome.result())
