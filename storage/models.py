"""SQLModel tables. Metadata only: no message content or model output ever has a column.

Money is stored as whole pico-dollars (10^-12 USD) in BIGINT columns so that sums and
the atomic budget statements are exact integer arithmetic on SQLite and PostgreSQL
alike; unit prices are stored as decimal text exactly as they were charged.
"""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import NaiveDatetime
from sqlalchemy import BigInteger, Column, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel


def naive_utcnow() -> dt.datetime:
    """Now in UTC as a naive datetime: every timestamp column holds naive UTC on both backends."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def new_id() -> str:
    """A random row id, known before insert so it can be bound into ciphertexts."""
    return uuid.uuid4().hex


class Workspace(SQLModel, table=True):
    """A Slack team, Discord guild or the local console."""

    __tablename__ = "workspaces"

    id: str = Field(primary_key=True, max_length=64)  # "slack:T123", "discord:42", "console"
    platform: str = Field(max_length=16)
    name: str = Field(default="", max_length=200)
    timezone: str = Field(default="UTC", max_length=64)
    digest_channel: str | None = Field(default=None, max_length=64)
    digest_time: str = Field(default="09:00", max_length=5)
    digest_enabled: bool = Field(default=True)
    default_agent_id: str | None = Field(default=None, max_length=32)
    created_at: NaiveDatetime = Field(default_factory=naive_utcnow)


class VaultMeta(SQLModel, table=True):
    """One row: a check value sealed under the current master key."""

    __tablename__ = "vault_meta"

    id: int = Field(default=1, primary_key=True)
    key_fingerprint: str = Field(max_length=32)
    check_nonce: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    check_ciphertext: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: NaiveDatetime = Field(default_factory=naive_utcnow)
    rotated_at: NaiveDatetime | None = None


class ProviderKey(SQLModel, table=True):
    """A provider credential, AES-GCM sealed and bound to (workspace, id)."""

    __tablename__ = "provider_keys"
    __table_args__ = (UniqueConstraint("workspace_id", "name", name="uq_key_name"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    workspace_id: str = Field(foreign_key="workspaces.id", index=True, max_length=64)
    name: str = Field(max_length=64)
    provider: str = Field(max_length=32)
    base_url: str | None = Field(default=None, max_length=500)
    ciphertext: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    nonce: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    key_version: str = Field(max_length=32)  # fingerprint of the master key that sealed it
    masked: str = Field(max_length=32)
    status: str = Field(default="active", max_length=16)  # active | failing | revoked
    status_reason: str | None = Field(default=None, max_length=200)
    created_by: str = Field(default="", max_length=64)
    created_at: NaiveDatetime = Field(default_factory=naive_utcnow)
    rotated_at: NaiveDatetime | None = None
    last_used_at: NaiveDatetime | None = None


class Agent(SQLModel, table=True):
    """A named persona: key + model + system prompt + generation settings."""

    __tablename__ = "agents"
    __table_args__ = (UniqueConstraint("workspace_id", "name", name="uq_agent_name"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    workspace_id: str = Field(foreign_key="workspaces.id", index=True, max_length=64)
    name: str = Field(max_length=64)
    key_id: str | None = Field(default=None, foreign_key="provider_keys.id", max_length=32)
    model: str = Field(max_length=200)
    prompt: str | None = None  # the admin's configuration, not message content
    max_tokens: int = Field(default=1024)
    temperature: float | None = None
    show_cost: bool = Field(default=False)
    created_by: str = Field(default="", max_length=64)
    created_at: NaiveDatetime = Field(default_factory=naive_utcnow)
    updated_at: NaiveDatetime = Field(default_factory=naive_utcnow)


class ChannelBinding(SQLModel, table=True):
    """An agent attached to a channel (one agent per channel)."""

    __tablename__ = "channel_bindings"
    __table_args__ = (UniqueConstraint("workspace_id", "channel_id", name="uq_binding_channel"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: str = Field(foreign_key="workspaces.id", index=True, max_length=64)
    channel_id: str = Field(max_length=64)
    agent_id: str = Field(foreign_key="agents.id", index=True, max_length=32)
    all_messages: bool = Field(default=False)
    created_by: str = Field(default="", max_length=64)
    created_at: NaiveDatetime = Field(default_factory=naive_utcnow)


class Admin(SQLModel, table=True):
    """A user granted admin rights with `/byok admins add`."""

    __tablename__ = "admins"

    workspace_id: str = Field(foreign_key="workspaces.id", primary_key=True, max_length=64)
    user_id: str = Field(primary_key=True, max_length=64)
    granted_by: str = Field(default="", max_length=64)
    created_at: NaiveDatetime = Field(default_factory=naive_utcnow)


class Budget(SQLModel, table=True):
    """A spending limit on an agent or the whole workspace, per day or month."""

    __tablename__ = "budgets"
    __table_args__ = (UniqueConstraint("workspace_id", "target", "period", name="uq_budget"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: str = Field(foreign_key="workspaces.id", index=True, max_length=64)
    # "workspace", "agent:<agent id>", "user:<member id>" or "each-user"
    target: str = Field(max_length=64)
    agent_id: str | None = Field(default=None, foreign_key="agents.id", max_length=32)
    member_id: str | None = Field(default=None, max_length=64)  # the member of a "user:" budget
    period: str = Field(max_length=8)  # day | month
    limit_pusd: int = Field(sa_column=Column(BigInteger, nullable=False))
    soft: bool = Field(default=False)  # a soft limit never refuses; it only alerts
    created_by: str = Field(default="", max_length=64)
    created_at: NaiveDatetime = Field(default_factory=naive_utcnow)


class BudgetCounter(SQLModel, table=True):
    """Spent and reserved money of one budget in one period (the atomic counter row).

    `member` is "" for a budget shared by its whole scope; an `each-user` budget keeps
    one counter per member and period.
    """

    __tablename__ = "budget_counters"

    budget_id: int = Field(foreign_key="budgets.id", primary_key=True)
    period_start: str = Field(primary_key=True, max_length=10)  # "2026-11-27" or "2026-11"
    member: str = Field(default="", primary_key=True, max_length=64)
    spent_pusd: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    reserved_pusd: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    alert80_sent: bool = Field(default=False)
    alert100_sent: bool = Field(default=False)


class BudgetLease(SQLModel, table=True):
    """One call's reservation on one budget counter: held until settled, or until it expires.

    A process that dies mid-call never settles; the lease's expiry lets any replica
    release its amount from `budget_counters.reserved_pusd` (see storage/leases.py). No
    foreign key: a lease may outlive its budget (deleted mid-call) until it is settled
    or swept.
    """

    __tablename__ = "budget_leases"

    id: str = Field(primary_key=True, max_length=32)  # one per call, shared by its budgets
    budget_id: int = Field(primary_key=True)
    period_start: str = Field(max_length=10)
    member: str = Field(default="", max_length=64)  # the counter's member ("" when shared)
    amount_pusd: int = Field(sa_column=Column(BigInteger, nullable=False))
    expires_at: NaiveDatetime = Field(index=True)
    # The call's real cost once it settled (PostgreSQL's two-step settlement); until its
    # counters took it, a sweep charges it (storage/leases.py).
    spent_pusd: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class UsageEvent(SQLModel, table=True):
    """One provider call (or refused call): tokens, cost, latency, ids — never content."""

    __tablename__ = "usage_events"
    __table_args__ = (Index("ix_usage_ws_time", "workspace_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: str = Field(foreign_key="workspaces.id", max_length=64)
    agent_id: str | None = Field(default=None, max_length=32)
    agent_name: str = Field(default="", max_length=64)
    key_id: str | None = Field(default=None, max_length=32)
    key_name: str = Field(default="", max_length=64)
    provider: str = Field(default="", max_length=32)
    model: str = Field(default="", max_length=200)
    user_id: str = Field(default="", max_length=64)
    channel_id: str = Field(default="", max_length=64)
    event_id: str | None = Field(default=None, max_length=128)
    status: str = Field(max_length=24)  # ok | estimated | refused | rate_limited | failed | ...
    error_kind: str | None = Field(default=None, max_length=32)
    # One word of storage.outcomes.OUTCOMES: what usage, me, the digest and the export count.
    outcome: str = Field(default="ok", max_length=16)
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cost_pusd: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    priced: bool = Field(default=True)
    estimated: bool = Field(default=False)
    input_price_mtok: str | None = Field(default=None, max_length=40)
    output_price_mtok: str | None = Field(default=None, max_length=40)
    cache_read_price_mtok: str | None = Field(default=None, max_length=40)
    cache_write_price_mtok: str | None = Field(default=None, max_length=40)
    latency_ms: int | None = None
    provider_request_id: str | None = Field(default=None, max_length=200)
    created_at: NaiveDatetime = Field(default_factory=naive_utcnow)


class AuditEvent(SQLModel, table=True):
    """Who did what to which target, when, with what outcome — never secrets or content."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_ws_time", "workspace_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: str = Field(max_length=64)
    actor_id: str = Field(max_length=64)
    action: str = Field(max_length=64)  # e.g. "key.add", "agent.bind", "message.refused"
    target: str = Field(default="", max_length=200)
    outcome: str = Field(max_length=32)  # ok | denied | error | refused
    detail: str = Field(default="", max_length=300)
    created_at: NaiveDatetime = Field(default_factory=naive_utcnow)


class DigestRun(SQLModel, table=True):
    """A digest claimed for one workspace and day; the primary key makes it exactly-once."""

    __tablename__ = "digest_runs"

    workspace_id: str = Field(foreign_key="workspaces.id", primary_key=True, max_length=64)
    day: str = Field(primary_key=True, max_length=10)
    status: str = Field(default="claimed", max_length=16)  # claimed | posted | failed
    claimed_by: str = Field(default="", max_length=100)
    claimed_at: NaiveDatetime = Field(default_factory=naive_utcnow)
    posted_at: NaiveDatetime | None = None


class ProcessedEvent(SQLModel, table=True):
    """A platform event id claimed by one process; the unique insert de-duplicates."""

    __tablename__ = "processed_events"

    event_key: str = Field(primary_key=True, max_length=200)
    created_at: NaiveDatetime = Field(default_factory=naive_utcnow, index=True)


class PendingForm(SQLModel, table=True):
    """A private key form that is open: what it is for and who opened it — never the secret.

    The secret arrives only with the form's submission and goes straight to the core; this
    row lets a submission be finished by whichever process (or restarted one) receives it.
    """

    __tablename__ = "pending_forms"

    token: str = Field(primary_key=True, max_length=64)  # random; the form's platform id
    workspace_id: str = Field(foreign_key="workspaces.id", max_length=64)
    user_id: str = Field(max_length=64)  # who opened it: only they may submit it
    action: str = Field(max_length=16)  # add | rotate
    key_name: str = Field(max_length=64)
    provider: str | None = Field(default=None, max_length=32)
    base_url: str | None = Field(default=None, max_length=500)
    verify: bool = Field(default=True)
    created_at: NaiveDatetime = Field(default_factory=naive_utcnow, index=True)


class ApprovalRequest(SQLModel, table=True):
    """A member's request to pass a budget once ("Ask an admin"); never the message itself."""

    __tablename__ = "approval_requests"

    id: str = Field(primary_key=True, max_length=16)  # 8 random base32 characters
    workspace_id: str = Field(foreign_key="workspaces.id", index=True, max_length=64)
    member_id: str = Field(max_length=64)
    agent_name: str = Field(default="", max_length=64)
    budget_id: int  # no foreign key: `limit clear` may delete the budget meanwhile
    budget_label: str = Field(default="", max_length=120)
    period_start: str = Field(max_length=10)
    worst_pusd: int = Field(sa_column=Column(BigInteger, nullable=False))
    # pending | asked | approved | denied | expired | used
    state: str = Field(default="pending", max_length=16)
    allowance_pusd: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    decided_by: str | None = Field(default=None, max_length=64)
    created_at: NaiveDatetime = Field(default_factory=naive_utcnow)
    expires_at: NaiveDatetime
