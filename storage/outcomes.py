"""The one outcome vocabulary of usage rows, and the one mapping from how a call ended to it.

SPEC "Money": every usage row has exactly one of `OUTCOMES`. `usage`, `me`, the digest
and the CSV export all count the `usage_events.outcome` column with these words, so
they can never disagree. Migration 0005 converted older rows with the same rules.
"""

from __future__ import annotations

OK = "ok"
ERROR = "error"
TIMEOUT = "timeout"
CUT = "cut"
REFUSED_BUDGET = "refused_budget"
REFUSED_KEY = "refused_key"
REFUSED_LEAK = "refused_leak"

# In the order every report lists them.
OUTCOMES = (OK, ERROR, TIMEOUT, CUT, REFUSED_BUDGET, REFUSED_KEY, REFUSED_LEAK)
REFUSALS = (REFUSED_BUDGET, REFUSED_KEY, REFUSED_LEAK)

# Why a stream was stopped before its end: at the max output tokens, or interrupted.
CUT_KINDS = ("max_tokens", "interrupted")
# A call that completed but was charged its estimate (flagged `estimated`) is still `ok`.
COMPLETED_KINDS = (None, "implausible_usage", "no_usage", "unpriceable", "unrecordable")


def outcome_of(status: str, error_kind: str | None) -> str:
    """The outcome word of a row with this (internal) status and error kind."""
    if status == "refused":
        if error_kind == "budget":
            return REFUSED_BUDGET
        if error_kind == "leak":
            return REFUSED_LEAK
        return REFUSED_KEY
    if error_kind == "timeout":
        return TIMEOUT
    if error_kind in CUT_KINDS:
        return CUT
    if status == OK or (status == "estimated" and error_kind in COMPLETED_KINDS):
        return OK
    return ERROR


def summary(counts: dict[str, int]) -> str:
    """`3 ok, 1 cut, 2 refused_budget`: every non-zero outcome, in the fixed order."""
    parts = [f"{counts[word]:,} {word}" for word in OUTCOMES if counts.get(word)]
    return ", ".join(parts) if parts else "none"
