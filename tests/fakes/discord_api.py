"""Moved to the package `tests/fakes/discord/`; this name stays for imports still in flight."""

from __future__ import annotations

from tests.fakes.discord import *  # noqa: F403
from tests.fakes.discord import __all__ as __all__
