"""A conversation turn: route, guard, plan and reserve, stream, settle and record."""

from __future__ import annotations

from bot.turns.books import CallBooks
from bot.turns.records import CallFacts, CallResult, row_values
from bot.turns.routing import NO_AGENT_HINT, Route, route
from bot.turns.runner import TurnRunner

__all__ = [
    "NO_AGENT_HINT",
    "CallBooks",
    "CallFacts",
    "CallResult",
    "Route",
    "TurnRunner",
    "route",
    "row_values",
]
