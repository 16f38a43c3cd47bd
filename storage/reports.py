"""Usage aggregation for `/byok usage` and rows for `/byok usage export`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, case, func
from sqlmodel import Session, col, select

from storage.models import UsageEvent
from storage.outcomes import OUTCOMES, REFUSALS

_GROUP_COLUMNS: dict[str, Any] = {
    "agent": UsageEvent.agent_name,
    "key": UsageEvent.key_name,
    "model": UsageEvent.model,
    "user": UsageEvent.user_id,
}


@dataclass(frozen=True, slots=True)
class UsageLine:
    """Totals of one group (or of everything): outcomes, tokens, exact cost and flags."""

    group: str
    outcomes: dict[str, int]  # every word of storage.outcomes.OUTCOMES -> rows
    input_tokens: int
    output_tokens: int
    cost_pusd: int
    unpriced: int
    estimated: int

    @property
    def calls(self) -> int:
        """Rows that reached the provider (every outcome but the refusals)."""
        return sum(n for word, n in self.outcomes.items() if word not in REFUSALS)

    @property
    def refused(self) -> int:
        """Rows refused before any provider call (budget, key or leak)."""
        return sum(self.outcomes[word] for word in REFUSALS)

    @property
    def tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens


def _count(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _measures() -> list[Any]:
    outcome = col(UsageEvent.outcome)
    return [
        *(_count(outcome == word) for word in OUTCOMES),
        func.coalesce(func.sum(UsageEvent.input_tokens), 0),
        func.coalesce(func.sum(UsageEvent.output_tokens), 0),
        func.coalesce(func.sum(UsageEvent.cost_pusd), 0),
        _count(col(UsageEvent.priced).is_(False)),
        _count(col(UsageEvent.estimated).is_(True)),
    ]


def _line(group: str, values: Sequence[Any]) -> UsageLine:
    # PostgreSQL sums BIGINT into NUMERIC; int() makes both backends alike.
    nums = [int(value or 0) for value in values]
    outcomes = dict(zip(OUTCOMES, nums[: len(OUTCOMES)], strict=True))
    return UsageLine(group, outcomes, *nums[len(OUTCOMES) :])


def usage_total(session: Session, *, workspace_id: str, since: dt.datetime) -> UsageLine:
    """Everything the workspace used since `since` (naive UTC)."""
    stmt = select(*_measures()).where(
        UsageEvent.workspace_id == workspace_id, UsageEvent.created_at >= since
    )
    row = session.exec(stmt).one()
    return _line("total", tuple(row))


def outcome_counts(
    session: Session,
    *,
    workspace_id: str,
    start: dt.datetime,
    end: dt.datetime | None = None,
    user_id: str | None = None,
) -> dict[str, int]:
    """Rows per outcome word in [start, end) (naive UTC), of one member if `user_id`; every
    word present, zeros included (`storage.outcomes.summary` words them)."""
    stmt = select(*(_count(col(UsageEvent.outcome) == word) for word in OUTCOMES)).where(
        UsageEvent.workspace_id == workspace_id, UsageEvent.created_at >= start
    )
    if end is not None:
        stmt = stmt.where(UsageEvent.created_at < end)
    if user_id is not None:
        stmt = stmt.where(UsageEvent.user_id == user_id)
    row = session.exec(stmt).one()
    return dict(zip(OUTCOMES, (int(value or 0) for value in row), strict=True))


def usage_by(
    session: Session, *, workspace_id: str, since: dt.datetime, by: str
) -> list[UsageLine]:
    """Usage since `since` grouped by agent, key, model or user; costliest first."""
    group = _GROUP_COLUMNS[by]
    stmt = (
        select(group, *_measures())
        .where(UsageEvent.workspace_id == workspace_id, UsageEvent.created_at >= since)
        .group_by(group)
    )
    lines = [_line(str(row[0] or ""), tuple(row[1:])) for row in session.exec(stmt).all()]
    return sorted(lines, key=lambda line: (-line.cost_pusd, -line.calls, line.group))


def usage_events(
    session: Session, *, workspace_id: str, since: dt.datetime, limit: int = 200_000
) -> Sequence[UsageEvent]:
    """The workspace's usage rows since `since`, oldest first (for the CSV export)."""
    stmt = (
        select(UsageEvent)
        .where(UsageEvent.workspace_id == workspace_id, UsageEvent.created_at >= since)
        .order_by(col(UsageEvent.created_at), col(UsageEvent.id))
        .limit(limit)
    )
    return session.exec(stmt).all()
