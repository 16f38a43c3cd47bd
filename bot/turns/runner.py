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
from decimal import Decimal
from typing import TypeVar

from sqlalchemy.engine import Connection

from bot import files, metrics, safetext
from bot.boundary import IncomingMessage, ReplySink
from bot.clock import to_naive_utc
from bot.dedupe import Deduper
from bot.errors import DatabaseUnavailable, ProviderError
from bot.providers.types import ChatMessage, ChatRequest, KeySpec
from bot.services import Services
from bot.transactions import Commit
from bot.turns import keyguard, records, trim
from bot.turns.books import CallBooks
from bot.turns.notices import Notices
from bot.turns.outcome import Outcome, footer, relayed
from bot.turns.plan import Plan, Planner, build_request
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
        self.transactions = services.db

    async def db(self, fn: Callable[[Connection], T]) -> T:
        """Run a planning unit off the loop; outages raise `DatabaseUnavailable`."""
        return await self.transactions.run(fn, commit=Commit.AUTOCOMMIT)

    async def run(self, message: IncomingMessage, sink: ReplySink) -> None:
        """Answer one chat message (or ignore it); raises `DatabaseUnavailable` on outages."""
        if message.sender.is_bot or message.is_edit:
            return
        now = self.services.clock()
        plan = await self._plan(lambda conn: self.planner.first(conn, message, now=now))
        if plan is None:
            return
        if plan.line is None and plan.request is None:  # history and files come first
            request = await self._request(message, plan, sink)
            if request is None:  # no text, and every file was left out (each has its line)
                return
            plan.request = request
            plan = await self._plan(
                lambda conn: self.planner.reserve(conn, plan, now=self.services.clock())
            )
        await self.notices.alerts(plan.setup, plan.alerts)
        if plan.refusal is not None:
            metrics.count_refusal(plan.refusal)
        if plan.line is not None and plan.approval_id is not None:
            await sink.send_refusal(plan.line, request_id=plan.approval_id)
            return
        if plan.line is not None:
            await sink.send(plan.line, private=True)
            return
        await self._call(sink, plan)

    async def _plan(self, fn: Callable[[Connection], T]) -> T:
        """A planning unit that a stop (cancellation) cannot split from its reservation.

        Cancelled while the unit runs on its thread, the turn waits for it and releases
        whatever it reserved (settled at no cost, recorded as interrupted) before ending,
        so a graceful stop leaves no reservation for the lease sweep.
        """
        unit = asyncio.ensure_future(self.db(fn))
        try:
            return await asyncio.shield(unit)
        except asyncio.CancelledError:
            try:
                plan = await unit
            except Exception:  # the unit failed: it holds nothing
                raise asyncio.CancelledError from None
            if isinstance(plan, Plan) and plan.reservation is not None and plan.facts is not None:
                interrupted = CallResult(
                    status=records.FAILED, error_kind="interrupted", cost=Decimal(0)
                )
                await self._finish(plan, interrupted)
            raise

    async def _request(
        self, message: IncomingMessage, plan: Plan, sink: ReplySink
    ) -> ChatRequest | None:
        agent = plan.setup.route.agent
        assert agent is not None
        history: list[ChatMessage] = []
        try:
            if message.agent_history is not None:  # the adapter's memory of this agent
                history = safetext.clean_turns(await message.agent_history(agent.name))
            elif message.history is not None:
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
        attached = await self._attachments(message, plan, sink)
        text = plan.setup.route.text
        if attached is not None and not attached.sends_any and not text.strip():
            return None
        return build_request(agent, text, history, attached=attached)

    async def _attachments(
        self, message: IncomingMessage, plan: Plan, sink: ReplySink
    ) -> files.Intake | None:
        """The message's own files, checked and read; one private line per file left out."""
        agent, key = plan.setup.route.agent, plan.setup.key
        if not message.files or agent is None or key is None:
            return None
        room = trim.files_room(
            model=agent.model,
            system=agent.prompt or None,
            text=plan.setup.route.text,
            max_output_tokens=agent.max_tokens,
        )
        attached = await files.take(
            message.files,
            provider=key.provider,
            model=agent.model,
            agent=agent.name,
            room_tokens=room,
            guard=keyguard.carries_key,
        )
        for line in attached.lines:
            await sink.send(line, private=True)
        return attached

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
            metrics.observe_latency(
                provider=key.provider,
                first_token=outcome.first_token_seconds,
                total=outcome.total_seconds,
            )
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
        async with aclosing(items), aclosing(relayed(items, outcome)) as texts:
            try:
                # Peeked before the sink starts streaming: a call that fails before any
                # output gets one clean error line instead of an empty streamed reply.
                first = await anext(texts, None)
            except ProviderError:  # recorded in `outcome`
                return
            try:
                await sink.stream(_chunks(first, texts, agent, outcome))
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
            at=to_naive_utc(self.services.clock()),
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
            if books.steps.results:  # recorded: the spend counted is the spend booked
                metrics.add_spend(
                    workspace=facts.workspace_id, agent=facts.agent_name, usd=result.cost
                )
        for budget_id, spent_pusd, limit_pusd in books.budget_use():
            metrics.set_budget_use(
                workspace=facts.workspace_id,
                budget_id=budget_id,
                spent_pusd=spent_pusd,
                limit_pusd=limit_pusd,
            )
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
    texts: AsyncGenerator[str, None],
    agent: AgentRow,
    outcome: Outcome,
) -> AsyncGenerator[str, None]:
    """The text the sink streams: the peeked first piece, the rest, then the cost footer."""
    if first is not None:
        yield first
    async for text in texts:
        yield text
    if outcome.completion is not None and not outcome.emitted:
        yield f"({agent.name} returned an empty answer)"
    if outcome.cut:
        yield f"\n\n({agent.name} stopped here: its answer reached --max-tokens {agent.max_tokens})"
    if agent.show_cost and outcome.done:
        outcome.end()
        yield "\n\n" + footer(agent=agent.name, model=agent.model, result=outcome.result())
