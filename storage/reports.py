"""Usage aggregation for `/byok usage` and rows for `/byok usage export`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, case, func
from sqlmodel import Session, col, select

from storage.models import UsageEvent

_GROUP_COLUMNS: dict[str, Any] = {
    "agent": UsageEvent.agent_name,
    "key": UsageEvent.key_name,
    "model": UsageEvent.model,
    "user": UsageEvent.user_id,
}
_ANSWERED = ("ok", "estimated")


@dataclass(frozen=True, slots=True)
class UsageLine:
    """Totals of one group (or of everything): calls, tokens, exact cost and flags."""

    group: str
    calls: int  # rows that reached the provider (not refused by a budget)
    refused: int
    failed: int
    input_tokens: int
    output_tokens: int
    cost_pusd: int
    unpriced: int
    estimated: int

    @property
    def tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens


def _count(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _measures() -> list[Any]:
    status = col(UsageEvent.status)
    return [
        _count(status != "refused"),
        _count(status == "refused"),
        _count(status.not_in(("refused", *_ANSWERED))),
        func.coalesce(func.sum(UsageEvent.input_tokens), 0),
        func.coalesce(func.sum(UsageEvent.output_tokens), 0),
        func.coalesce(func.sum(UsageEvent.cost_pusd), 0),
        _count(col(UsageEvent.priced).is_(False)),
        _count(col(UsageEvent.estimated).is_(True)),
    ]


def _line(group: str, values: Sequence[Any]) -> UsageLine:
    # PostgreSQL sums BIGINT into NUMERIC; int() makes both backends alike.
    nums = [int(value or 0) for value in values]
    return UsageLine(group, *nums)


def usage_total(session: Session, *, workspace_id: str, since: dt.datetime) -> UsageLine:
    """Everything the workspace used since `since` (naive UTC)."""
    stmt = select(*_measures()).where(
        UsageEvent.workspace_id == workspace_id, UsageEvent.created_at >= since
    )
    row = session.exec(stmt).one()
    return _line("total", tuple(row))


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
