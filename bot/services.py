"""The long-lived objects the core works with, built once by the composition root."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from bot.boundary import ChannelPoster
from bot.clock import aware_utcnow
from bot.config import Settings
from bot.transactions import TransactionRunner, runner_for

if TYPE_CHECKING:
    from bot.providers import Providers
    from bot.vault.keystore import Vault


@dataclass(slots=True)
class Services:
    """Settings, database (and its runner), vault, provider clients, posters and the clock."""

    settings: Settings
    engine: Engine
    vault: Vault
    providers: Providers
    posters: dict[str, ChannelPoster] = field(default_factory=dict)  # platform -> poster
    clock: Callable[[], dt.datetime] = aware_utcnow

    @property
    def db(self) -> TransactionRunner:
        """The one runner for database work off the event loop (outages: DatabaseUnavailable)."""
        return runner_for(self.engine)
