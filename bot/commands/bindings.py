"""`/byok agent bind|unbind|default`: which agent answers where."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from bot.commands import models as m
from bot.commands.agents import find_agent
from bot.commands.context import CommandContext
from bot.errors import NotFound
from storage.agents import channel_binding
from storage.models import Agent, ChannelBinding, ProviderKey, Workspace


@dataclass(frozen=True, slots=True)
class _Bound:
    replaced: str | None  # the agent that had the channel before, if another one
    unchanged: bool
    key_revoked: bool


def _key_revoked(session: Session, agent: Agent) -> bool:
    key = session.get(ProviderKey, agent.key_id) if agent.key_id else None
    return key is None or key.status == "revoked"


async def bind(ctx: CommandContext, cmd: m.AgentBind) -> None:
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


async def unbind(ctx: CommandContext, cmd: m.AgentUnbind) -> None:
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


async def make_default(ctx: CommandContext, cmd: m.AgentDefault) -> None:
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
