"""The long-lived objects the core works with, built once by the composition root."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from bot.boundary import ChannelPoster
from bot.config import Settings

if TYPE_CHECKING:
    from bot.providers import Providers
    from bot.vault.keystore import Vault


def utcnow() -> dt.datetime:
    """Aware now in UTC (the default clock)."""
    return dt.datetime.now(dt.UTC)


@dataclass(slots=True)
class Services:
    """Settings, database, vault, provider clients, channel posters and the clock."""

    settings: Settings
    engine: Engine
    vault: Vault
    providers: Providers
    posters: dict[str, ChannelPoster] = field(default_factory=dict)  # platform -> poster
    clock: Callable[[], dt.datetime] = utcnow
