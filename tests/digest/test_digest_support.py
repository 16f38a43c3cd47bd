"""Shared helpers for the digest tests: planted rows, services, a recording channel poster.

This module holds no tests itself (its name keeps it among the digest's test files).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from bot.config import Settings
from bot.services import Services
from storage.engine import make_engine, session_scope
from storage.models import Agent, Budget, BudgetCounter, ProviderKey, UsageEvent, Workspace

__all__ = [
    "RecordingPoster",
    "add_agent",
    "add_budget",
    "add_key",
    "add_usage",
    "add_workspace",
    "engine_on",
    "local_utc",
    "make_services",
]


@contextmanager
def engine_on(url: str) -> Iterator[Engine]:
    """An engine on an existing database `url`, disposed afterwards."""
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


@dataclass
class RecordingPoster:
    """A channel poster fake: records posts, optionally appends them to a file, can fail."""

    log_path: Path | None = None
    fail_with: BaseException | None = None
    on_post: Callable[[], None] | None = None
    posts: list[dict[str, Any]] = field(default_factory=list)

    async def post(
        self,
        *,
        workspace_id: str,
        channel_id: str,
        text: str,
        file: tuple[str, bytes] | None = None,
    ) -> None:
        if self.on_post is not None:
            self.on_post()
        if self.fail_with is not None:
            raise self.fail_with
        self.posts.append(
            {"workspace_id": workspace_id, "channel_id": channel_id, "text": text, "file": file}
        )
        if self.log_path is not None:
            name = file[0] if file else "-"
            line = f"{os.getpid()}\t{workspace_id}\t{channel_id}\t{name}\n".encode()
            # O_APPEND: concurrent writers from several processes never interleave a line.
            fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)


def make_services(
    engine: Engine,
    *,
    posters: dict[str, Any],
    now: dt.datetime | Callable[[], dt.datetime],
) -> Services:
    """Services for the digest: real engine, fake posters, a fixed (or given) clock."""
    clock = now if callable(now) else (lambda: cast(dt.datetime, now))
    return Services(
        settings=Settings(BYOKBOT_DATABASE_URL=str(engine.url)),  # type: ignore[call-arg]
        engine=engine,
        vault=cast(Any, None),  # the digest never touches keys' secrets or providers
        providers=cast(Any, None),
        posters=posters,
        clock=clock,
    )


def local_utc(zone: str, *args: int) -> dt.datetime:
    """Naive UTC of a local wall-clock time in `zone` (args as for `datetime`)."""
    return dt.datetime(*args, tzinfo=ZoneInfo(zone)).astimezone(dt.UTC).replace(tzinfo=None)


def add_workspace(
    engine: Engine,
    workspace_id: str,
    *,
    timezone: str = "UTC",
    channel: str | None = "C-digest",
    at: str = "09:00",
    enabled: bool = True,
    platform: str = "slack",
    name: str = "",
) -> None:
    """Insert a workspace row with its digest settings."""
    with session_scope(engine) as session:
        session.add(
            Workspace(
                id=workspace_id,
                platform=platform,
                name=name,
                timezone=timezone,
                digest_channel=channel,
                digest_time=at,
                digest_enabled=enabled,
            )
        )


def add_usage(
    engine: Engine,
    workspace_id: str,
    *,
    at: dt.datetime,
    cost_pusd: int | None,
    agent: str = "writer",
    key: str = "openai-prod",
    model: str = "gpt-4o",
    provider: str = "openai",
    input_tokens: int = 100,
    output_tokens: int = 50,
    status: str = "ok",
    error_kind: str | None = None,
    priced: bool = True,
    estimated: bool = False,
    user: str = "",
) -> None:
    """Plant one usage row at naive-UTC `at`."""
    with session_scope(engine) as session:
        session.add(
            UsageEvent(
                workspace_id=workspace_id,
                agent_name=agent,
                key_name=key,
                provider=provider,
                model=model,
                status=status,
                error_kind=error_kind,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                cost_pusd=cost_pusd,
                priced=priced,
                estimated=estimated,
                user_id=user,
                created_at=at,
            )
        )


def add_key(
    engine: Engine, workspace_id: str, name: str, *, provider: str = "openai", status: str
) -> str:
    """Plant a provider key row (dummy ciphertext) and return its id."""
    key = ProviderKey(
        workspace_id=workspace_id,
        name=name,
        provider=provider,
        ciphertext=b"\x00" * 16,
        nonce=b"\x00" * 12,
        key_version="test",
        masked="sk-…test",
        status=status,
    )
    with session_scope(engine) as session:
        session.add(key)
    return key.id


def add_agent(engine: Engine, workspace_id: str, name: str) -> str:
    """Plant an agent row and return its id."""
    agent = Agent(workspace_id=workspace_id, name=name, model="gpt-4o")
    with session_scope(engine) as session:
        session.add(agent)
    return agent.id


def add_budget(
    engine: Engine,
    workspace_id: str,
    *,
    period: str,
    limit_pusd: int,
    agent_id: str | None = None,
    spent: dict[str, int] | None = None,
) -> None:
    """Plant a budget and its counters ({period_start: spent_pusd})."""
    budget = Budget(
        workspace_id=workspace_id,
        target="workspace" if agent_id is None else f"agent:{agent_id}",
        agent_id=agent_id,
        period=period,
        limit_pusd=limit_pusd,
    )
    with session_scope(engine) as session:
        session.add(budget)
        session.flush()
        assert budget.id is not None
        for start, amount in (spent or {}).items():
            session.add(BudgetCounter(budget_id=budget.id, period_start=start, spent_pusd=amount))
