"""Which agent (if any) answers a chat message — the SPEC's "Messages" rules.

- Bots' own messages and edits are ignored (duplicates are the deduper's job).
- Console: `@<agent> …` goes to that agent; any other line to the default agent (or,
  failing that, the agent bound to the console channel).
- Slack/Discord: a mention may name an agent (`@byokbot writer …` or `@byokbot writer: …`)
  anywhere; otherwise a mention goes to the channel's bound agent. DMs go to a named
  agent (`writer: …`) or the default agent. In a channel bound with `--all-messages`,
  every human message goes to a named agent (`writer: …`) or the bound agent.
  Anything else in a channel is not for the bot and is ignored silently.
- Addressed but no agent matches: a short private hint says how an admin binds one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from bot.boundary import IncomingMessage
from storage.lookups import AgentRow, agent_by_name, bound_agent, default_agent

# Platform mention tokens at the start: Slack `<@U123>` / `<@U123|name>`, Discord `<@123>`,
# `<@!123>`; the console (and plain text) `@byokbot`.
_LEADING_MENTIONS = re.compile(r"^(?:\s*(?:<@[!&]?[A-Za-z0-9_|.-]+>|@byokbot\b))+[\s,:]*", re.I)
_NAMED = re.compile(r"^@?(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]{0,63})(?P<colon>:)?(?:\s+|$)", re.S)
_CONSOLE_AT = re.compile(r"^@(?P<name>[^\s:]+):?(?:\s+|$)", re.S)

NO_AGENT_HINT = (
    "No agent answers here yet. An admin can bind one to this channel with "
    "`/byok agent bind <agent>` or set the default with `/byok agent default <agent>` "
    "(`/byok agent list` shows the agents)."
)


@dataclass(frozen=True, slots=True)
class Route:
    """The routing verdict: ignore, hint, or an agent with the text meant for it."""

    agent: AgentRow | None = None
    text: str = ""
    hint: str | None = None

    @property
    def ignored(self) -> bool:
        """Nothing to answer and nothing to say."""
        return self.agent is None and self.hint is None


IGNORE = Route()


def route(conn: Connection, message: IncomingMessage) -> Route:
    """Decide who answers `message` (reads agents, bindings and the default agent)."""
    if message.sender.is_bot or message.is_edit:
        return IGNORE
    text = message.text.strip()
    if not text:
        return IGNORE
    if message.place.platform == "console":
        return _route_console(conn, message, text)
    return _route_chat(conn, message, text)


def _route_console(conn: Connection, message: IncomingMessage, text: str) -> Route:
    ws = message.place.workspace_id
    at = _CONSOLE_AT.match(text)
    if at is not None:
        agent = agent_by_name(conn, workspace_id=ws, name=at.group("name"))
        if agent is None:
            return Route(hint=_unknown(at.group("name")))
        return _to(agent, text[at.end() :])
    agent = default_agent(conn, workspace_id=ws)
    if agent is None:
        bound = bound_agent(conn, workspace_id=ws, channel_id=message.place.channel_id)
        agent = None if bound is None else bound[0]
    return Route(hint=NO_AGENT_HINT) if agent is None else _to(agent, text)


def _route_chat(conn: Connection, message: IncomingMessage, text: str) -> Route:
    ws, place = message.place.workspace_id, message.place
    if message.mentions_bot:
        text = _LEADING_MENTIONS.sub("", text, count=1).strip()
        named = _named(conn, ws, text, colon_only=False)
        if named is not None:
            return named
    if place.is_direct:
        named = None if message.mentions_bot else _named(conn, ws, text, colon_only=True)
        if named is not None:
            return named
        agent = default_agent(conn, workspace_id=ws)
        return Route(hint=NO_AGENT_HINT) if agent is None else _to(agent, text)
    bound = bound_agent(conn, workspace_id=ws, channel_id=place.channel_id)
    if message.mentions_bot:
        return Route(hint=NO_AGENT_HINT) if bound is None else _to(bound[0], text)
    if bound is None or not bound[1]:
        return IGNORE  # channel chatter that is not for the bot
    named = _named(conn, ws, text, colon_only=True)
    return named if named is not None else _to(bound[0], text)


def _named(conn: Connection, ws: str, text: str, *, colon_only: bool) -> Route | None:
    """`writer …` / `writer: …` (only the colon form when the bot was not mentioned)."""
    match = _NAMED.match(text)
    if match is None or (colon_only and not match.group("colon")):
        return None
    agent = agent_by_name(conn, workspace_id=ws, name=match.group("name"))
    return None if agent is None else _to(agent, text[match.end() :])


def _to(agent: AgentRow, text: str) -> Route:
    body = text.strip()
    return Route(agent=agent, text=body) if body else Route(hint=_empty(agent.name))


def _unknown(name: str) -> str:
    return f"There is no agent named {name[:64]!r} here; `/byok agent list` shows the agents."


def _empty(name: str) -> str:
    return f"Say something after the agent's name, e.g. `@{name} hello`."
