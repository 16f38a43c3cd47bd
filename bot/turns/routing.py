"""Which agent (if any) answers a chat message — the SPEC's "Messages" rules.

- Bots' own messages and edits are ignored (duplicates are the deduper's job).
- Console: `@<agent> …` goes to that agent; any other line to the default agent (or,
  failing that, the agent bound to the console channel).
- Slack/Discord: a mention may name an agent (`@byokbot writer …` or `@byokbot writer: …`)
  anywhere; otherwise a mention goes to the channel's bound agent. DMs go to a named
  agent (`writer: …`) or the default agent. In a channel bound with `--all-messages`,
  every human message goes to a named agent (`writer: …`) or the bound agent.
  Anything else in a channel is not for the bot and is ignored silently.
- Addressed but no agent matches: a short private hint that fits the workspace's state —
  no key yet (how an admin adds one), keys but no agent (how to create one), agents but
  none here (how to bind one or set the default). A mistyped `@agent` in the console gets
  the closest agent names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from bot.boundary import IncomingMessage
from bot.suggest import closest, either
from storage.lookups import (
    AgentRow,
    SetupState,
    agent_by_name,
    bound_agent,
    default_agent,
    named_or_bound,
    setup_state,
)

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
NO_KEY_HINT = (
    "No agent can answer yet: this workspace has no AI provider key. An admin adds one with "
    "`/byok key add <provider> <name>` (e.g. `/byok key add openai openai-prod`; the secret "
    "is asked for privately), then creates an agent with `/byok agent create`."
)


def no_agent_yet_hint(key: str) -> str:
    """The hint when keys exist but no agent does: how to create one on the first key."""
    return (
        "No agent can answer yet. An admin creates one with "
        f"`/byok agent create <name> --key {key} --model <model>` (`/byok models {key}` "
        "lists the models); the first agent answers direct messages and console lines."
    )


def _state_hint(state: SetupState) -> str:
    if state.agents:
        return NO_AGENT_HINT
    return no_agent_yet_hint(state.keys[0]) if state.keys else NO_KEY_HINT


def _no_agent(conn: Connection, message: IncomingMessage) -> Route:
    """Nobody answers: the hint for how far the workspace is set up (read only on this path)."""
    return Route(hint=_state_hint(setup_state(conn, workspace_id=message.place.workspace_id)))


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
    if not text and not message.files:
        return IGNORE  # a file shared without a word still goes to the agent
    if message.place.platform == "console":
        return _route_console(conn, message, text)
    return _route_chat(conn, message, text)


def _route_console(conn: Connection, message: IncomingMessage, text: str) -> Route:
    ws = message.place.workspace_id
    attached = bool(message.files)
    at = _CONSOLE_AT.match(text)
    if at is not None:
        agent = agent_by_name(conn, workspace_id=ws, name=at.group("name"))
        if agent is None:
            return Route(hint=_unknown(setup_state(conn, workspace_id=ws), at.group("name")))
        return _to(agent, text[at.end() :], attached=attached)
    agent = default_agent(conn, workspace_id=ws)
    if agent is None:
        bound = bound_agent(conn, workspace_id=ws, channel_id=message.place.channel_id)
        agent = None if bound is None else bound[0]
    return _no_agent(conn, message) if agent is None else _to(agent, text, attached=attached)


def _route_chat(conn: Connection, message: IncomingMessage, text: str) -> Route:
    ws, place = message.place.workspace_id, message.place
    attached = bool(message.files)
    if message.mentions_bot and not place.is_direct:
        return _mention_in_channel(conn, message, text, attached=attached)
    if message.mentions_bot:
        text = _LEADING_MENTIONS.sub("", text, count=1).strip()
        named = _named(conn, ws, text, colon_only=False, attached=attached)
        if named is not None:
            return named
    if place.is_direct:
        named = (
            None
            if message.mentions_bot
            else _named(conn, ws, text, colon_only=True, attached=attached)
        )
        if named is not None:
            return named
        agent = default_agent(conn, workspace_id=ws)
        return _no_agent(conn, message) if agent is None else _to(agent, text, attached=attached)
    bound = bound_agent(conn, workspace_id=ws, channel_id=place.channel_id)
    if message.mentions_bot:
        return _no_agent(conn, message) if bound is None else _to(bound[0], text, attached=attached)
    if bound is None or not bound[1]:
        return IGNORE  # channel chatter that is not for the bot
    named = _named(conn, ws, text, colon_only=True, attached=attached)
    return named if named is not None else _to(bound[0], text, attached=attached)


def _mention_in_channel(
    conn: Connection, message: IncomingMessage, text: str, *, attached: bool
) -> Route:
    """The agent a channel mention names (`writer …`), else the channel's bound agent.

    Both are read in one statement when the first word could be a name.
    """
    ws, channel = message.place.workspace_id, message.place.channel_id
    text = _LEADING_MENTIONS.sub("", text, count=1).strip()
    match = _NAMED.match(text)
    if match is None:
        bound = bound_agent(conn, workspace_id=ws, channel_id=channel)
    else:
        named, bound = named_or_bound(
            conn, workspace_id=ws, name=match.group("name"), channel_id=channel
        )
        if named is not None:
            return _to(named, text[match.end() :], attached=attached)
    return _no_agent(conn, message) if bound is None else _to(bound[0], text, attached=attached)


def _named(
    conn: Connection, ws: str, text: str, *, colon_only: bool, attached: bool = False
) -> Route | None:
    """`writer …` / `writer: …` (only the colon form when the bot was not mentioned)."""
    match = _NAMED.match(text)
    if match is None or (colon_only and not match.group("colon")):
        return None
    agent = agent_by_name(conn, workspace_id=ws, name=match.group("name"))
    return None if agent is None else _to(agent, text[match.end() :], attached=attached)


def _to(agent: AgentRow, text: str, *, attached: bool = False) -> Route:
    """`agent` answers `text`; an empty text only when files came with it."""
    body = text.strip()
    return Route(agent=agent, text=body) if body or attached else Route(hint=_empty(agent.name))


def _unknown(state: SetupState, name: str) -> str:
    if not state.agents:
        return _state_hint(state)
    near = closest(name, state.agents)
    mean = f"; did you mean {either([f'@{agent}' for agent in near])}?" if near else ";"
    return f"There is no agent named {name[:64]!r} here{mean} `/byok agent list` shows the agents."


def _empty(name: str) -> str:
    return f"Say something after the agent's name, e.g. `@{name} hello`."
