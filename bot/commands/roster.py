"""`/byok agent list|show|delete`: the workspace's agents, one agent's settings, removal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from sqlmodel import Session

from bot.commands.agents import find_agent
from bot.commands.base import Command, OnAgent
from bot.commands.context import CommandContext
from bot.commands.display import plural
from bot.commands.fields import arg
from bot.commands.registry import command
from storage.agents import agent_bindings, bindings, delete_agent, list_agents
from storage.keys import get_key_by_id, list_keys
from storage.limits import agent_target, target_budgets
from storage.models import Workspace

_SHOWN_PROMPT = 1_000


@dataclass(frozen=True, slots=True)
class AgentList(Command):
    """`agent list`."""

    action: ClassVar[str] = "agent.list"


@dataclass(frozen=True, slots=True)
class AgentShow(OnAgent):
    """`agent show <name>`."""

    action: ClassVar[str] = "agent.show"


@dataclass(frozen=True, slots=True)
class AgentDelete(OnAgent):
    """`agent delete <name>`."""

    action: ClassVar[str] = "agent.delete"
    mutates: ClassVar[bool] = True


@command("agent list", AgentList, summary="list the agents", example="agent list")
async def list_all(ctx: CommandContext, cmd: AgentList) -> None:
    """Every agent with its key, model, channels and default marker."""

    def work(session: Session) -> str:
        agents = list_agents(session, workspace_id=ctx.workspace_id)
        if not agents:
            return (
                "No agents yet. Create one with"
                " /byok agent create <name> --key <key> --model <model>."
            )
        keys = {key.id: key for key in list_keys(session, workspace_id=ctx.workspace_id)}
        workspace = session.get(Workspace, ctx.workspace_id)
        default_id = workspace.default_agent_id if workspace else None
        channels: dict[str, list[str]] = {}
        for binding in bindings(session, workspace_id=ctx.workspace_id):
            shown = ctx.show_channel(binding.channel_id) + (
                " (all messages)" if binding.all_messages else ""
            )
            channels.setdefault(binding.agent_id, []).append(shown)
        lines = [f"Agents ({len(agents)}):"]
        for agent in agents:
            key = keys.get(agent.key_id or "")
            key_text = (
                "no key"
                if key is None
                else key.name + ("" if key.status == "active" else f" ({key.status})")
            )
            where = ", ".join(channels.get(agent.id, [])) or "no channel"
            mark = " · default" if agent.id == default_id else ""
            lines.append(f"• {agent.name} — {key_text} · {agent.model} · {where}{mark}")
        return "\n".join(lines)

    await ctx.reply(await ctx.db(work))


@command(
    "agent show <name>",
    AgentShow,
    summary="show one agent's settings",
    example="agent show writer",
    fields=(arg("name"),),
)
async def show(ctx: CommandContext, cmd: AgentShow) -> None:
    """One agent's full settings (the prompt is the admin's configuration, shown privately)."""

    def work(session: Session) -> str:
        agent = find_agent(session, ctx, name=cmd.name)
        key = get_key_by_id(session, workspace_id=ctx.workspace_id, key_id=agent.key_id or "")
        workspace = session.get(Workspace, ctx.workspace_id)
        bound = agent_bindings(session, workspace_id=ctx.workspace_id, agent_id=agent.id)
        budgets = target_budgets(
            session, workspace_id=ctx.workspace_id, target=agent_target(agent.id)
        )
        prompt = agent.prompt or "(none)"
        if len(prompt) > _SHOWN_PROMPT:
            prompt = prompt[:_SHOWN_PROMPT] + "…"
        key_text = "(none)" if key is None else f"{key.name} ({key.provider}, {key.status})"
        temperature = "provider default" if agent.temperature is None else f"{agent.temperature:g}"
        channels = ", ".join(
            ctx.show_channel(b.channel_id) + (" (all messages)" if b.all_messages else "")
            for b in bound
        )
        lines = [
            f"agent {agent.name}"
            + (" (default)" if workspace and workspace.default_agent_id == agent.id else ""),
            f"key: {key_text}",
            f"model: {agent.model}",
            f"max tokens: {agent.max_tokens:,} · temperature: {temperature}"
            f" · cost footer: {'on' if agent.show_cost else 'off'}",
            f"channels: {channels or 'none'}",
            f"limits: {plural(len(budgets), 'limit')} (see /byok limit list)",
            f"prompt: {prompt}",
        ]
        return "\n".join(lines)

    await ctx.reply(await ctx.db(work))


@command(
    "agent delete <name>",
    AgentDelete,
    summary="delete an agent with its bindings and limits",
    example="agent delete writer",
    fields=(arg("name"),),
)
async def delete(ctx: CommandContext, cmd: AgentDelete) -> None:
    """Delete an agent, its bindings and limits; clear it as default."""

    def work(session: Session) -> tuple[int, int, bool]:
        agent = find_agent(session, ctx, name=cmd.name)
        bound = len(agent_bindings(session, workspace_id=ctx.workspace_id, agent_id=agent.id))
        limits = len(
            target_budgets(session, workspace_id=ctx.workspace_id, target=agent_target(agent.id))
        )
        workspace = session.get(Workspace, ctx.workspace_id)
        was_default = workspace is not None and workspace.default_agent_id == agent.id
        delete_agent(session, agent)
        ctx.audit(
            session, action=cmd.action, target=cmd.name, detail=f"bindings={bound} limits={limits}"
        )
        return bound, limits, was_default

    bound, limits, was_default = await ctx.db(work)
    line = (
        f"agent {cmd.name} deleted with {plural(bound, 'binding')} and {plural(limits, 'limit')}."
    )
    if was_default:
        line += " There is no default agent now; choose one with /byok agent default <name>."
    await ctx.reply(line)
