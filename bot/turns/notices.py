"""What a turn tells people besides the answer: failure lines, budget alerts, key notices."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bot.boundary import ReplySink
from bot.budgets.reservations import Alert
from bot.errors import KeyRejected, RateLimited
from bot.services import Services
from bot.turns.outcome import Outcome
from bot.turns.plan import Setup
from storage.lookups import AgentRow, KeyRow

logger = logging.getLogger(__name__)


def failure_line(agent: AgentRow, key: KeyRow, outcome: Outcome) -> str:
    """One clear line for a failed call, never a trace or the provider's own text."""
    error = outcome.error
    if error is None:
        return ""
    if outcome.emitted:
        return f"{agent.name}'s answer was cut off: {error}."
    line = f"{agent.name} could not answer: {error}."
    if isinstance(error, KeyRejected):
        line += (
            f" The key {key.name} is now marked failing; an admin must rotate it with "
            f"/byok key rotate {key.name} or set another with /byok agent set {agent.name} --key …"
        )
    elif isinstance(error, RateLimited):
        line += " Try again in a minute."
    return line


class Notices:
    """Sends failure lines to the sender and posts alerts to the digest channel."""

    def __init__(self, services: Services) -> None:
        self.services = services

    async def provider_failure(
        self,
        sink: ReplySink,
        setup: Setup,
        agent: AgentRow,
        key: KeyRow,
        outcome: Outcome,
        *,
        newly_failing: bool,
    ) -> None:
        """Tell the sender (privately) and, for a key that just failed, the admins."""
        await sink.send(failure_line(agent, key, outcome), private=True)
        if newly_failing:
            await self.post(
                setup,
                f"Key {key.name} ({key.provider}) was rejected by the provider and is marked "
                f"failing; agents using it stop answering until an admin rotates it with "
                f"/byok key rotate {key.name}.",
            )

    async def alerts(self, setup: Setup, alerts: Sequence[Alert]) -> None:
        """Post budget alerts this call claimed."""
        for alert in alerts:
            await self.post(setup, alert.text())

    def can_post(self, setup: Setup) -> bool:
        """True when the workspace has a digest channel and its platform a poster."""
        return bool(setup.workspace.digest_channel) and setup.platform in self.services.posters

    async def post(self, setup: Setup, text: str) -> None:
        """Post to the workspace's digest channel, if it has one; failures are logged only."""
        channel = setup.workspace.digest_channel
        poster = self.services.posters.get(setup.platform)
        if channel is None or poster is None:
            return
        try:
            await poster.post(workspace_id=setup.workspace_id, channel_id=channel, text=text)
        except Exception as exc:  # a notice must never break the turn that triggered it
            logger.warning(
                "could not post a notice to workspace %s: %s",
                setup.workspace_id,
                type(exc).__name__,
            )
