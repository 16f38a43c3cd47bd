"""How one provider call ended, and what it is charged: the bridge from stream to usage row.

The same `CallResult` feeds the cost footer, the budget settlement and the usage row,
so what a user is shown is exactly what is recorded.

The stream is capped here too: a provider that ignores `max_tokens` would otherwise bill
past the reservation. The cap must never cut an honest answer (one the provider stopped
at `max_tokens`), so it counts tokens from below: every text chunk carries at least one
token, and real text averages well under `BYTES_PER_TOKEN_CEILING` bytes a token. Once
either count passes the agent's max output tokens the provider has ignored the limit, and
the turn stops reading and closes the stream: a provider streaming a token a chunk is cut
one chunk past the limit. A cut call is charged its reserved estimate, so the books never
pass the reservation whatever the provider did.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from decimal import Decimal

from bot.errors import ProviderError
from bot.money import format_usd
from bot.pricing import price_call
from bot.providers.types import Completion, StreamItem, TextDelta
from bot.turns import records
from bot.turns.records import CallResult, UnitPrices

logger = logging.getLogger(__name__)

# Why a call was charged its reservation although the stream ended (error_kind).
CUT_AT_MAX_TOKENS = "max_tokens"
IMPLAUSIBLE_USAGE = "implausible_usage"
# Average UTF-8 bytes a token of real output stays under (English ~4, code ~3, CJK ~3):
# the cut's byte count divided by this is a lower estimate of the tokens streamed.
BYTES_PER_TOKEN_CEILING = 8


@dataclass(slots=True)
class Outcome:
    """What the provider stream produced, filled in while it is relayed to the sink."""

    provider: str
    model: str
    worst: Decimal | None  # the reserved worst-case cost; None when the model is unpriced
    max_output_tokens: int | None = None  # None: no cap (the stream is read to its end)
    emitted: bool = False
    cut: bool = False  # stopped reading: the output passed the max output tokens
    output_bytes: int = 0
    output_chunks: int = 0  # text chunks: each carries at least one token
    completion: Completion | None = None
    error: ProviderError | None = None
    started: float = field(default_factory=time.perf_counter)
    first_text_at: float | None = None  # when the first text arrived (time to first token)
    ended: float | None = None
    _result: CallResult | None = None

    def end(self) -> None:
        """Stop the latency clock (first call wins)."""
        if self.ended is None:
            self.ended = time.perf_counter()

    @property
    def latency_ms(self) -> int:
        """Milliseconds from the request to the end of the stream (or now)."""
        ended = self.ended if self.ended is not None else time.perf_counter()
        return int((ended - self.started) * 1000)

    @property
    def first_token_seconds(self) -> float | None:
        """Seconds from the request to the first text; None if no text came."""
        return None if self.first_text_at is None else self.first_text_at - self.started

    @property
    def total_seconds(self) -> float:
        """Seconds from the request to the end of the stream (or now)."""
        ended = self.ended if self.ended is not None else time.perf_counter()
        return ended - self.started

    def take(self, item: StreamItem) -> str | None:
        """Record one stream item; the text to relay, if any. Sets `cut` past the cap."""
        if isinstance(item, TextDelta):
            if not item.text:
                return None
            if self.first_text_at is None:
                self.first_text_at = time.perf_counter()
            self.emitted = True
            self.output_bytes += len(item.text.encode("utf-8", "surrogatepass"))
            self.output_chunks += 1
            cap = self.max_output_tokens
            at_least = max(self.output_chunks, -(-self.output_bytes // BYTES_PER_TOKEN_CEILING))
            if cap is not None and at_least > cap:
                self.cut = True
                self.end()
            return item.text
        self.completion = item
        self.end()
        return None

    @property
    def done(self) -> bool:
        """Nothing more is to be read: the stream completed or was cut."""
        return self.cut or self.completion is not None

    def result(self) -> CallResult:
        """The call's status, tokens and exact cost (memoised once the stream has ended)."""
        if self._result is not None:
            return self._result
        try:
            result = self._compute()
        except Exception as exc:  # a result must exist: it settles the reservation
            logger.error(
                "could not price a call (%s); charging its reservation", type(exc).__name__
            )
            base = CallResult(status=records.ESTIMATED, latency_ms=self.latency_ms)
            result = records.estimated(base, reserved=self.worst, error_kind="unpriceable")
        if self.ended is not None:
            self._result = result
        return result

    def _compute(self) -> CallResult:
        done = self.completion
        if done is not None and done.usage is not None and self.error is None:
            if not done.usage.plausible:
                # Negative, fractional or absurd figures are not a bill: charge the estimate.
                base = CallResult(
                    status=records.ESTIMATED, latency_ms=self.latency_ms, request_id=done.request_id
                )
                return records.estimated(base, reserved=self.worst, error_kind=IMPLAUSIBLE_USAGE)
            price = price_call(provider=self.provider, model=self.model, usage=done.usage)
            return CallResult(
                status=records.OK,
                usage=done.usage,
                cost=price.cost,
                priced=price.priced,
                prices=UnitPrices(
                    price.input_mtok,
                    price.output_mtok,
                    price.cache_read_mtok,
                    price.cache_write_mtok,
                ),
                latency_ms=self.latency_ms,
                request_id=done.request_id,
            )
        if self.error is not None and not self.emitted:
            return records.failure(self.error, latency_ms=self.latency_ms)
        if self.error is None and done is None and not self.emitted:
            # Cancelled before the model produced anything: nothing to charge.
            return CallResult(
                status=records.FAILED,
                error_kind="interrupted",
                cost=Decimal(0),
                latency_ms=self.latency_ms,
            )
        # The stream was cut (or ended without usage) after the model had started to
        # answer: the provider charges for that, so charge the reserved estimate, flagged.
        if self.error is not None:
            kind, request_id = self.error.kind, self.error.request_id
        elif self.cut:
            kind, request_id = CUT_AT_MAX_TOKENS, None
        else:
            kind = "interrupted" if done is None else "no_usage"
            request_id = None if done is None else done.request_id
        base = CallResult(
            status=records.ESTIMATED, latency_ms=self.latency_ms, request_id=request_id
        )
        return records.estimated(base, reserved=self.worst, error_kind=kind)


def footer(*, agent: str, model: str, result: CallResult) -> str:
    """`writer · claude-sonnet-4-5 · 1,234 tokens · $0.0042` (unpriced / estimated flagged)."""
    tokens = 0 if result.usage is None else result.usage.total_tokens
    if result.cost is None:
        cost = "unpriced"
    elif result.estimated:
        cost = f"~{format_usd(result.cost)} (estimated)"
    else:
        cost = format_usd(result.cost)
    return f"{agent} · {model} · {tokens:,} tokens · {cost}"


async def relayed(
    items: AsyncGenerator[StreamItem, None], outcome: Outcome
) -> AsyncGenerator[str, None]:
    """The one stream loop: each item recorded in `outcome`, its text yielded as it comes.

    Once the output passes the max output tokens (`Outcome.cut`) the provider's stream is
    closed at once, before the crossing piece is relayed: no further byte is read. A
    `ProviderError` is recorded as the outcome's error and propagates.
    """
    try:
        async for item in items:
            text = outcome.take(item)
            if outcome.cut:
                await items.aclose()
            if text is not None:
                yield text
            if outcome.done:
                return
    except ProviderError as exc:
        outcome.error = exc
        raise
