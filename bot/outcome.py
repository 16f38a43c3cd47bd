"""How one provider call ended, and what it is charged: the bridge from stream to usage row.

The same `CallResult` feeds the cost footer, the budget settlement and the usage row,
so what a user is shown is exactly what is recorded.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal

from bot import usage
from bot.errors import ProviderError
from bot.money import format_usd
from bot.pricing import price_call
from bot.providers.base import Completion, StreamItem, TextDelta
from bot.usage import CallResult, UnitPrices


@dataclass(slots=True)
class Outcome:
    """What the provider stream produced, filled in while it is relayed to the sink."""

    provider: str
    model: str
    worst: Decimal | None  # the reserved worst-case cost; None when the model is unpriced
    emitted: bool = False
    completion: Completion | None = None
    error: ProviderError | None = None
    started: float = field(default_factory=time.perf_counter)
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

    def result(self) -> CallResult:
        """The call's status, tokens and exact cost (memoised once the stream has ended)."""
        if self._result is not None:
            return self._result
        result = self._compute()
        if self.ended is not None:
            self._result = result
        return result

    def _compute(self) -> CallResult:
        done = self.completion
        if done is not None and done.usage is not None and self.error is None:
            price = price_call(provider=self.provider, model=self.model, usage=done.usage)
            return CallResult(
                status=usage.OK,
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
            return usage.failure(self.error, latency_ms=self.latency_ms)
        if self.error is None and done is None and not self.emitted:
            # Cancelled before the model produced anything: nothing to charge.
            return CallResult(
                status=usage.FAILED,
                error_kind="interrupted",
                cost=Decimal(0),
                latency_ms=self.latency_ms,
            )
        # The stream was cut (or ended without usage) after the model had started to
        # answer: the provider charges for that, so charge the reserved estimate, flagged.
        if self.error is not None:
            kind, request_id = self.error.kind, self.error.request_id
        else:
            kind = "interrupted" if done is None else "no_usage"
            request_id = None if done is None else done.request_id
        base = CallResult(status=usage.ESTIMATED, latency_ms=self.latency_ms, request_id=request_id)
        return usage.estimated(base, reserved=self.worst, error_kind=kind)


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


async def first_text(items: AsyncIterator[StreamItem], outcome: Outcome) -> str | None:
    """Pull items until the first text (returned) or the completion; errors propagate.

    Peeking before the sink starts streaming means a call that fails before any output
    gets one clean error line instead of an empty streamed reply.
    """
    async for item in items:
        if isinstance(item, TextDelta):
            if item.text:
                outcome.emitted = True
                return item.text
        else:
            outcome.completion = item
            outcome.end()
            return None
    return None
