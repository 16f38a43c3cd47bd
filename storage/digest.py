"""Digest queries: the exactly-once claim on `digest_runs` and the usage figures a digest shows.

The claim is decided by the database alone: the primary key (workspace_id, day) lets exactly
one INSERT win, and a stale claim is taken over by one conditional UPDATE whose WHERE clause
only one writer can still satisfy. Each function runs in the caller's session; callers give
every claim step its own short transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import and_, case, false, func, or_, text, true, update
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from storage.models import (
    Agent,
    Budget,
    BudgetCounter,
    DigestRun,
    ProviderKey,
    UsageEvent,
    Workspace,
)

CLAIMED = "claimed"
POSTED = "posted"
FAILED = "failed"
SORT_MEMORY = "64MB"  # PostgreSQL work_mem for the digest's aggregation (see usage_buckets)
SKIPPED = "skipped"  # a day that ended before the digest channel was set: never posted


@dataclass(frozen=True, slots=True)
class UsageBucket:
    """Usage of one (day bucket, agent, key, model) combination."""

    bucket: int
    agent_name: str
    key_name: str
    provider: str
    model: str
    requests: int
    cost_pusd: int
    tokens: int
    unpriced: int
    estimated: int
    errors: int


@dataclass(frozen=True, slots=True)
class MemberBucket:
    """Usage of one member in one day bucket."""

    bucket: int
    user_id: str
    requests: int
    cost_pusd: int
    tokens: int


@dataclass(frozen=True, slots=True)
class FailureCount:
    """How often calls on one key ended with one usage status / error kind."""

    key_id: str | None
    key_name: str
    provider: str
    status: str
    error_kind: str | None
    count: int


@dataclass(frozen=True, slots=True)
class BudgetUse:
    """A budget, its agent's name (if any) and its counters by period start."""

    budget: Budget
    agent_name: str | None
    spent_pusd: dict[str, int]


def digest_workspaces(session: Session) -> Sequence[Workspace]:
    """Workspaces with a digest channel and the digest switched on."""
    stmt = (
        select(Workspace)
        .where(col(Workspace.digest_channel).is_not(None))
        .where(col(Workspace.digest_channel) != "")
        .where(col(Workspace.digest_enabled) == true())
        .order_by(col(Workspace.id))
    )
    return session.exec(stmt).all()


def get_workspace(session: Session, *, workspace_id: str) -> Workspace | None:
    """One workspace row, or None."""
    return session.get(Workspace, workspace_id)


def digest_runs_for(
    session: Session, *, workspace_ids: Collection[str], days: Collection[str]
) -> dict[tuple[str, str], DigestRun]:
    """The digest_runs rows of these workspaces on these days, keyed by (workspace, day)."""
    if not workspace_ids or not days:
        return {}
    stmt = select(DigestRun).where(
        col(DigestRun.workspace_id).in_(list(workspace_ids)), col(DigestRun.day).in_(list(days))
    )
    return {(run.workspace_id, run.day): run for run in session.exec(stmt).all()}


def claim_digest(
    session: Session, *, workspace_id: str, day: str, claimed_by: str, now: dt.datetime
) -> bool:
    """Insert the claim row; True only for the single writer whose INSERT created it."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = (
        insert(DigestRun)
        .values(
            workspace_id=workspace_id,
            day=day,
            status=CLAIMED,
            claimed_by=claimed_by[:100],
            claimed_at=now,
        )
        .on_conflict_do_nothing(index_elements=["workspace_id", "day"])
        .returning(col(DigestRun.day))
    )
    return session.execute(stmt).first() is not None


def skip_digest(session: Session, *, workspace_id: str, day: str, now: dt.datetime) -> bool:
    """Mark a day whose digest must never go out (unless already claimed); True if marked."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = (
        insert(DigestRun)
        .values(workspace_id=workspace_id, day=day, status=SKIPPED, claimed_at=now)
        .on_conflict_do_nothing(index_elements=["workspace_id", "day"])
        .returning(col(DigestRun.day))
    )
    return session.execute(stmt).first() is not None


def reclaim_digest(
    session: Session,
    *,
    workspace_id: str,
    day: str,
    claimed_by: str,
    now: dt.datetime,
    stale_before: dt.datetime,
) -> bool:
    """Take over a claim left `claimed` or `failed` before `stale_before`; True for the winner."""
    # The WHERE clause is re-checked against the row a concurrent winner just wrote (its
    # fresh claimed_at no longer matches), so at most one replica gets a row back.
    stmt = (
        update(DigestRun)
        .where(
            and_(
                col(DigestRun.workspace_id) == workspace_id,
                col(DigestRun.day) == day,
                col(DigestRun.status).in_([CLAIMED, FAILED]),
                col(DigestRun.claimed_at) < stale_before,
            )
        )
        .values(status=CLAIMED, claimed_by=claimed_by[:100], claimed_at=now)
        .returning(col(DigestRun.day))
    )
    return session.execute(stmt).first() is not None


def finish_digest(
    session: Session,
    *,
    workspace_id: str,
    day: str,
    claimed_by: str,
    status: str,
    now: dt.datetime,
) -> bool:
    """Mark our claim `posted` or `failed`; False when another replica took it over meanwhile."""
    stmt = (
        update(DigestRun)
        .where(
            and_(
                col(DigestRun.workspace_id) == workspace_id,
                col(DigestRun.day) == day,
                col(DigestRun.claimed_by) == claimed_by[:100],
                col(DigestRun.status) == CLAIMED,
            )
        )
        .values(status=status, posted_at=now if status == POSTED else None)
        .returning(col(DigestRun.day))
    )
    return session.execute(stmt).first() is not None


def usage_buckets(
    session: Session, *, workspace_id: str, boundaries: Sequence[dt.datetime]
) -> list[UsageBucket]:
    """Usage between consecutive naive-UTC `boundaries`, bucket i = [b[i], b[i+1])."""
    if len(boundaries) < 2:
        return []
    if session.get_bind().dialect.name == "postgresql":
        # PostgreSQL cannot estimate the groups of the CASE below and sorts every row of
        # the 14 days; at the default 4 MB that sort spills to disk (0.3 s at 1M rows).
        # In memory it does not: this transaction only, never the server's setting.
        session.execute(text(f"SET LOCAL work_mem = '{SORT_MEMORY}'"))
    created = col(UsageEvent.created_at)
    bucket = case(*[(created < end, index) for index, end in enumerate(boundaries[1:])], else_=-1)
    rows = (
        sa_select(
            bucket.label("bucket"),
            col(UsageEvent.agent_name).label("agent_name"),
            col(UsageEvent.key_name).label("key_name"),
            col(UsageEvent.provider).label("provider"),
            col(UsageEvent.model).label("model"),
            col(UsageEvent.cost_pusd).label("cost_pusd"),
            (col(UsageEvent.input_tokens) + col(UsageEvent.output_tokens)).label("tokens"),
            case((col(UsageEvent.priced) == false(), 1), else_=0).label("unpriced"),
            case((col(UsageEvent.estimated) == true(), 1), else_=0).label("estimated"),
            case((col(UsageEvent.error_kind).is_not(None), 1), else_=0).label("errors"),
        )
        .where(col(UsageEvent.workspace_id) == workspace_id)
        .where(created >= boundaries[0], created < boundaries[-1])
        .subquery()
    )
    # Grouping on the subquery's column (not on the CASE with its bound parameters) is what
    # PostgreSQL accepts; SQLite does either.
    keys = (rows.c.bucket, rows.c.agent_name, rows.c.key_name, rows.c.provider, rows.c.model)
    stmt = sa_select(
        *keys,
        func.count(),
        func.coalesce(func.sum(rows.c.cost_pusd), 0),
        func.coalesce(func.sum(rows.c.tokens), 0),
        func.coalesce(func.sum(rows.c.unpriced), 0),
        func.coalesce(func.sum(rows.c.estimated), 0),
        func.coalesce(func.sum(rows.c.errors), 0),
    ).group_by(*keys)
    return [
        UsageBucket(
            bucket=int(row[0]),
            agent_name=row[1],
            key_name=row[2],
            provider=row[3],
            model=row[4],
            requests=int(row[5]),
            cost_pusd=int(row[6]),
            tokens=int(row[7]),
            unpriced=int(row[8]),
            estimated=int(row[9]),
            errors=int(row[10]),
        )
        for row in session.execute(stmt).all()
    ]


def member_buckets(
    session: Session, *, workspace_id: str, boundaries: Sequence[dt.datetime]
) -> list[MemberBucket]:
    """Usage per member between consecutive naive-UTC `boundaries` (bucket i = [b[i], b[i+1]))."""
    if len(boundaries) < 2:
        return []
    created = col(UsageEvent.created_at)
    bucket = case(*[(created < end, index) for index, end in enumerate(boundaries[1:])], else_=-1)
    rows = (
        sa_select(
            bucket.label("bucket"),
            col(UsageEvent.user_id).label("user_id"),
            col(UsageEvent.cost_pusd).label("cost_pusd"),
            (col(UsageEvent.input_tokens) + col(UsageEvent.output_tokens)).label("tokens"),
        )
        .where(col(UsageEvent.workspace_id) == workspace_id)
        .where(created >= boundaries[0], created < boundaries[-1])
        .subquery()
    )
    keys = (rows.c.bucket, rows.c.user_id)
    stmt = sa_select(
        *keys,
        func.count(),
        func.coalesce(func.sum(rows.c.cost_pusd), 0),
        func.coalesce(func.sum(rows.c.tokens), 0),
    ).group_by(*keys)
    return [
        MemberBucket(
            bucket=int(row[0]),
            user_id=row[1],
            requests=int(row[2]),
            cost_pusd=int(row[3]),
            tokens=int(row[4]),
        )
        for row in session.execute(stmt).all()
    ]


def failure_counts(
    session: Session,
    *,
    workspace_id: str,
    start: dt.datetime,
    end: dt.datetime,
    kinds: Collection[str],
) -> list[FailureCount]:
    """Usage rows in [start, end) whose status or error kind is one of `kinds`, counted per key."""
    keys = (
        col(UsageEvent.key_id),
        col(UsageEvent.key_name),
        col(UsageEvent.provider),
        col(UsageEvent.status),
        col(UsageEvent.error_kind),
    )
    stmt = (
        sa_select(*keys, func.count())
        .where(col(UsageEvent.workspace_id) == workspace_id)
        .where(col(UsageEvent.created_at) >= start, col(UsageEvent.created_at) < end)
        .where(
            or_(
                col(UsageEvent.error_kind).in_(list(kinds)),
                col(UsageEvent.status).in_(list(kinds)),
            )
        )
        .group_by(*keys)
    )
    return [
        FailureCount(
            key_id=row[0],
            key_name=row[1],
            provider=row[2],
            status=row[3],
            error_kind=row[4],
            count=int(row[5]),
        )
        for row in session.execute(stmt).all()
    ]


def keys_by_status(session: Session, *, workspace_id: str, status: str) -> Sequence[ProviderKey]:
    """The workspace's keys in one status (e.g. 'failing'), by name."""
    stmt = (
        select(ProviderKey)
        .where(col(ProviderKey.workspace_id) == workspace_id, col(ProviderKey.status) == status)
        .order_by(col(ProviderKey.name))
    )
    return session.exec(stmt).all()


def budget_uses(
    session: Session, *, workspace_id: str, period_starts: Collection[str]
) -> list[BudgetUse]:
    """Every budget of the workspace with its spend in the given period starts."""
    stmt = (
        select(Budget, Agent.name)
        .join(Agent, col(Agent.id) == col(Budget.agent_id), isouter=True)
        .where(col(Budget.workspace_id) == workspace_id)
        .order_by(col(Budget.target), col(Budget.period))
    )
    found = session.exec(stmt).all()
    ids = [budget.id for budget, _ in found if budget.id is not None]
    spent: dict[int, dict[str, int]] = {budget_id: {} for budget_id in ids}
    if ids and period_starts:
        counters = select(BudgetCounter).where(
            col(BudgetCounter.budget_id).in_(ids),
            col(BudgetCounter.period_start).in_(list(period_starts)),
        )
        for counter in session.exec(counters).all():
            # An `each-user` budget has one counter per member: its line shows the most
            # any one member spent (the others are within that).
            by_period = spent[counter.budget_id]
            most = max(by_period.get(counter.period_start, 0), int(counter.spent_pusd))
            by_period[counter.period_start] = most
    return [
        BudgetUse(budget=budget, agent_name=name, spent_pusd=spent.get(budget.id or -1, {}))
        for budget, name in found
    ]
