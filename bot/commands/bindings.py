"""`/byok agent bind|unbind|default`: which agent answers where."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from sqlmodel import Session

from bot.commands.agents import find_agent
from bot.commands.base import ChannelRef, Command, OnAgent
from bot.commands.context import CommandContext
from bot.commands.fields import arg, switch
from bot.commands.registry import command
from bot.commands.words import Words
from bot.errors import NotFound
from storage.agents import channel_binding
from storage.models import Agent, ChannelBinding, ProviderKey, Workspace


@dataclass(frozen=True, slots=True)
class AgentBind(Command):
    """`agent bind <name> [#channel] [--all-messages]`."""

    action: ClassVar[str] = "agent.bind"
    mutates: ClassVar[bool] = True
    name: str
    channel: ChannelRef | None = None
    all_messages: bool = False

    @classmethod
    def build(cls, words: Words) -> AgentBind:
        """The agent, the channel (default: this one) and `--all-messages`."""
        return cls(
            name=words.agent(),
            channel=words.channel(1),
            all_messages="--all-messages" in words.flags,
        )


@dataclass(frozen=True, slots=True)
class AgentUnbind(Command):
    """`agent unbind <name> [#channel]`."""

    action: ClassVar[str] = "agent.unbind"
    mutates: ClassVar[bool] = True
    name: str
    channel: ChannelRef | None = None

    @classmethod
    def build(cls, words: Words) -> AgentUnbind:
        """The agent and the channel (default: this one)."""
        return cls(name=words.agent(), channel=words.channel(1))


@dataclass(frozen=True, slots=True)
class AgentDefault(OnAgent):
    """`agent default <name>`."""

    action: ClassVar[str] = "agent.default"
    mutates: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class _Bound:
    replaced: str | None  # the agent that had the channel before, if another one
    unchanged: bool
    key_revoked: bool


def _key_revoked(session: Session, agent: Agent) -> bool:
    key = session.get(ProviderKey, agent.key_id) if agent.key_id else None
    return key is None or key.status == "revoked"


@command(
    "agent bind <name> [#channel] [--all-messages]",
    AgentBind,
    summary="attach an agent to a channel (default: this channel)",
    brief="Attach an agent to a channel (default: this one)",
    example="agent bind writer <#112233445566778899> --all-messages",
    details=(
        "the bot's mentions in the channel go to the agent; with --all-messages every"
        " message there does. A channel has one agent: binding another replaces it."
    ),
    fields=(
        arg("name"),
        arg("channel", "channel", optional=True),
        switch("all_messages", "--all-messages"),
    ),
)
async def bind(ctx: CommandContext, cmd: AgentBind) -> None:
    """Attach an agent to a channel; a channel has one agent, so binding replaces."""
    channel = ctx.channel(cmd.channel)

    def work(session: Session) -> _Bound:
        agent = find_agent(session, ctx, name=cmd.name)
        found = channel_binding(session, workspace_id=ctx.workspace_id, channel_id=channel)
        replaced: str | None = None
        unchanged = False
        if found is None:
            found = ChannelBinding(
                workspace_id=ctx.workspace_id,
                channel_id=channel,
                agent_id=agent.id,
                all_messages=cmd.all_messages,
                created_by=ctx.sender.user_id,
            )
        elif found.agent_id != agent.id:
            previous = session.get(Agent, found.agent_id)
            replaced = previous.name if previous is not None else "a deleted agent"
            found.agent_id, found.all_messages = agent.id, cmd.all_messages
            found.created_by = ctx.sender.user_id
        else:
            unchanged = found.all_messages == cmd.all_messages
            found.all_messages = cmd.all_messages
        session.add(found)
        detail = f"channel={channel} all_messages={cmd.all_messages}"
        if replaced:
            detail += f" replaced={replaced}"
        ctx.audit(session, action=cmd.action, target=cmd.name, detail=detail)
        return _Bound(replaced, unchanged, _key_revoked(session, agent))

    result = await ctx.db(work)
    where = ctx.show_channel(channel)
    scope = "every message there" if cmd.all_messages else "mentions of the bot there"
    if result.unchanged:
        line = f"agent {cmd.name} was already bound to {where}; it answers {scope}."
    else:
        line = f"agent {cmd.name} bound to {where}: it answers {scope}."
    if result.replaced:
        line += f" It replaces {result.replaced}, which is no longer bound there."
    if result.key_revoked:
        line += f" Its key is revoked: set one with /byok agent set {cmd.name} --key <key>."
    await ctx.reply(line)


@command(
    "agent unbind <name> [#channel]",
    AgentUnbind,
    summary="detach an agent from a channel (default: this channel)",
    brief="Detach an agent from a channel",
    example="agent unbind writer <#112233445566778899>",
    fields=(arg("name"), arg("channel", "channel", optional=True)),
)
async def unbind(ctx: CommandContext, cmd: AgentUnbind) -> None:
    """Detach an agent from a channel (default: this channel)."""
    channel = ctx.channel(cmd.channel)

    def work(session: Session) -> None:
        agent = find_agent(session, ctx, name=cmd.name)
        found = channel_binding(session, workspace_id=ctx.workspace_id, channel_id=channel)
        if found is None or found.agent_id != agent.id:
            raise NotFound(
                f"agent {cmd.name} is not bound to {ctx.show_channel(channel)}",
                kind="binding",
                name=cmd.name,
            )
        session.delete(found)
        ctx.audit(session, action=cmd.action, target=cmd.name, detail=f"channel={channel}")

    await ctx.db(work)
    await ctx.reply(f"agent {cmd.name} unbound from {ctx.show_channel(channel)}.")


@command(
    "agent default <name>",
    AgentDefault,
    summary="the agent that answers direct messages and console lines",
    brief="The agent that answers direct messages",
    example="agent default writer",
    fields=(arg("name"),),
)
async def make_default(ctx: CommandContext, cmd: AgentDefault) -> None:
    """The agent that answers direct messages and console lines."""

    def work(session: Session) -> str | None:
        agent = find_agent(session, ctx, name=cmd.name)
        workspace = session.get(Workspace, ctx.workspace_id)
        assert workspace is not None  # ensured before every management command
        previous = (
            session.get(Agent, workspace.default_agent_id) if workspace.default_agent_id else None
        )
        workspace.default_agent_id = agent.id
        session.add(workspace)
        ctx.audit(session, action=cmd.action, target=cmd.name)
        return previous.name if previous is not None and previous.id != agent.id else None

    previous = await ctx.db(work)
    line = f"agent {cmd.name} is the default agent: it answers direct messages and console lines."
    if previous:
        line += f" (It was {previous}.)"
    await ctx.reply(line)
