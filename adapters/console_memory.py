"""The console's session memory: each agent's conversation, in memory only, until `/new`.

Slack and Discord read the conversation from the platform (a thread, a reply chain); the
console has no platform to read from, so it keeps each agent's exchanges of the session
itself and hands them to the core as context (`IncomingMessage.agent_history`). Nothing
here is ever written to disk or logged; the core's key guard drops a remembered message
that carries a key, and trims the rest to fit the model.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence

from bot.providers.types import ChatMessage

# Messages kept per agent (user and assistant turns): bounded so a long session cannot
# grow without end; the core trims further to fit the model's context.
MAX_TURNS = 200
# The console's `@<agent> …` address (the same shape as the core's console routing).
_ADDRESS = re.compile(r"^@[^\s:]+:?(?:\s+|$)", re.S)


def question_text(line: str) -> str:
    """What the agent was asked: the line without its `@<agent>` address."""
    text = line.strip()
    at = _ADDRESS.match(text)
    return text[at.end() :].strip() if at else text


class SessionMemory:
    """Each agent's conversation of this session, oldest first, keyed by agent name."""

    def __init__(self, *, max_turns: int = MAX_TURNS) -> None:
        self._max_turns = max_turns
        self._turns: dict[str, deque[ChatMessage]] = {}

    def turns(self, agent: str) -> Sequence[ChatMessage]:
        """The agent's conversation so far (a copy: the caller may keep it)."""
        return tuple(self._turns.get(agent, ()))

    def remember(self, agent: str, *, question: str, answer: str) -> None:
        """Add one finished exchange to the agent's conversation."""
        if not question or not answer:
            return
        kept = self._turns.setdefault(agent, deque(maxlen=self._max_turns))
        kept.append(ChatMessage("user", question))
        kept.append(ChatMessage("assistant", answer))

    def forget(self) -> int:
        """Start every agent's conversation afresh; return how many had one."""
        count = sum(1 for turns in self._turns.values() if turns)
        self._turns.clear()
        return count


class Exchange:
    """One console line on its way to an agent: learns who answers, then what they said."""

    def __init__(self, memory: SessionMemory, line: str) -> None:
        self.memory = memory
        self.question = question_text(line)
        self.agent: str | None = None

    async def history(self, agent: str) -> Sequence[ChatMessage]:
        """The core's `agent_history` callback: the answering agent's conversation."""
        self.agent = agent
        return self.memory.turns(agent)

    def answered(self, text: str) -> None:
        """The answer was streamed in full: remember the exchange for its agent."""
        if self.agent is not None:
            self.memory.remember(self.agent, question=self.question, answer=text)
