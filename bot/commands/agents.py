"""`/byok agent create|set|list|show|delete`: named personas on a key and a model."""

from __future__ import annotations

from sqlmodel import Session

from bot.commands import catalog
from bot.commands import models as m
from bot.commands.context import CommandContext
from bot.commands.display import plural
from bot.errors import Conflict, InvalidValue, NotFound
from bot.pricing import worst_case_cost
from bot.suggest import not_found_line
from storage.agents import agent_bindings, bindings, delete_agent, get_agent, list_agents
from storage.keys import get_key, get_key_by_id, list_keys
from storage.limits import agent_target, target_budgets
from storage.models import Agent, ProviderKey, Workspace, naive_utcnow

MAX_PROMPT = 8_000
DEFAULT_MAX_TOKENS = 1024
_SHOWN_PROMPT = 1_000


def find_agent(session: Session, ctx: CommandContext, *, name: str) -> Agent:
    """The workspace's agent `name`, or NotFound."""
    agent = get_agent(session, workspace_id=ctx.workspace_id, name=name)
    if agent is None:
        names = [agent.name for agent in list_agents(session, workspace_id=ctx.workspace_id)]
        line = not_found_line("agent", name, names, see="see /byok agent list")
        raise NotFound(line, kind="agent", name=name)
    return agent


def _usable_key(session: Session, ctx: CommandContext, *, name: str) -> ProviderKey:
    key = get_key(session, workspace_id=ctx.workspace_id, name=name)
    if key is None:
        names = [key.name for key in list_keys(session, workspace_id=ctx.workspace_id)]
        line = not_found_line("key", name, names, see="add it with /byok key add")
        raise NotFound(line, kind="key", name=name)
    if key.status == "revoked":
        raise InvalidValue(f"key {name} is revoked; rotate it or choose another key")
    return key


def price_note(provider: str, model: str) -> str:
    """A warning when the model has no published price (a typo, or a model too new)."""
    cost = worst_case_cost(provider=provider, model=model, input_tokens=1, max_output_tokens=1)
    if cost is not None:
        return ""
    return (
        f" Note: there is no published price for {model} at {provider}, so its calls are"
        " recorded as unpriced and limits cannot count their cost; check the model id."
    )


def _prompt(value: str | None) -> str | None:
    if value is None:
        return None
    if len(value) > MAX_PROMPT:
        raise InvalidValue(f"the prompt is too long (over {MAX_PROMPT:,} characters)")
    return value.strip() or None


async def create(ctx: CommandContext, cmd: m.AgentCreate) -> None:
    """Create an agent; the workspace's first agent also becomes its default."""
    opts = cmd.settings
    assert opts.key is not None and opts.model is not None  # the grammar requires both

    def peek(session: Session) -> ProviderKey:
        if get_agent(session, workspace_id=ctx.workspace_id, name=cmd.name) is not None:
            raise Conflict(f"agent {cmd.name} already exists; change it with /byok agent set")
        return _usable_key(session, ctx, name=opts.key or "")

    # The model list is asked outside any transaction (a provider call can take seconds).
    checked = await ctx.db(peek)
    note = await catalog.check_model(ctx, checked, opts.model) if cmd.verify else ""

    def work(session: Session) -> tuple[ProviderKey, bool]:
        if get_agent(session, workspace_id=ctx.workspace_id, name=cmd.name) is not None:
            raise Conflict(f"agent {cmd.name} already exists; change it with /byok agent set")
        key = _usable_key(session, ctx, name=opts.key or "")
        agent = Agent(
            workspace_id=ctx.workspace_id,
            name=cmd.name,
            key_id=key.id,
            model=opts.model or "",
            prompt=_prompt(opts.prompt),
            max_tokens=opts.max_tokens or DEFAULT_MAX_TOKENS,
            temperature=opts.temperature,
            show_cost=bool(opts.show_cost),
            created_by=ctx.sender.user_id,
        )
        session.add(agent)
        session.flush()
        workspace = session.get(Workspace, ctx.workspace_id)
        made_default = workspace is not None and workspace.default_agent_id is None
        if workspace is not None and made_default:
            workspace.default_agent_id = agent.id
            session.add(workspace)
        detail = f"key={key.name} model={agent.model}" + (" default" if made_default else "")
        ctx.audit(session, action=cmd.action, target=cmd.name, detail=detail)
        return key, made_default

    key, made_default = await ctx.db(work)
    line = f"agent {cmd.name} created: {key.name} ({key.provider}) · {opts.model}."
    if key.status == "failing":
        line += f" Note: key {key.name} is failing; check it with /byok key test {key.name}."
    line += note + price_note(key.provider, opts.model)
    if made_default:
        line += " It is the default agent (direct messages and console lines)."
    line += f" Bind it to a channel with /byok agent bind {cmd.name} #channel."
    await ctx.reply(line)


def _apply(
    session: Session, ctx: CommandContext, *, agent: Agent, opts: m.AgentSettings
) -> list[str]:
    """Apply the given options; return what changed, in words (no prompt text)."""
    changes: list[str] = []
    if opts.key is not None:
        key = _usable_key(session, ctx, name=opts.key)
        agent.key_id = key.id
        changes.append(f"key {key.name}")
    if opts.model is not None:
        agent.model = opts.model
        changes.append(f"model {opts.model}")
    if opts.prompt is not None:
        agent.prompt = _prompt(opts.prompt)
        changes.append("prompt cleared" if agent.prompt is None else "prompt changed")
    if opts.max_tokens is not None:
        agent.max_tokens = opts.max_tokens
        changes.append(f"max tokens {opts.max_tokens:,}")
    if opts.temperature is not None:
        agent.temperature = opts.temperature
        changes.append(f"temperature {opts.temperature:g}")
    if opts.show_cost is not None:
        agent.show_cost = opts.show_cost
        changes.append("cost footer " + ("on" if opts.show_cost else "off"))
    return changes


async def update(ctx: CommandContext, cmd: m.AgentSet) -> None:
    """Change an agent's key, model, prompt or settings."""
    opts = cmd.settings
    note = ""
    if cmd.verify and (opts.model is not None or opts.key is not None):

        def peek(session: Session) -> tuple[ProviderKey | None, str]:
            agent = find_agent(session, ctx, name=cmd.name)
            if opts.key is not None:
                return _usable_key(session, ctx, name=opts.key), opts.model or agent.model
            key = get_key_by_id(session, workspace_id=ctx.workspace_id, key_id=agent.key_id or "")
            return key, opts.model or agent.model

        key, model = await ctx.db(peek)
        if key is not None and key.status != "revoked":
            note = await catalog.check_model(ctx, key, model)

    def work(session: Session) -> tuple[list[str], str, str]:
        agent = find_agent(session, ctx, name=cmd.name)
        changes = _apply(session, ctx, agent=agent, opts=cmd.settings)
        agent.updated_at = naive_utcnow()
        session.add(agent)
        ctx.audit(session, action=cmd.action, target=cmd.name, detail=", ".join(changes))
        key = session.get(ProviderKey, agent.key_id) if agent.key_id else None
        return changes, key.provider if key else "", agent.model

    changes, provider, model = await ctx.db(work)
    line = f"agent {cmd.name} updated: {', '.join(changes)}.{note}"
    if provider and (cmd.settings.model is not None or cmd.settings.key is not None):
        line += price_note(provider, model)
    await ctx.reply(line)


async def list_all(ctx: CommandContext, cmd: m.AgentList) -> None:
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


async def show(ctx: CommandContext, cmd: m.AgentShow) -> None:
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


async def delete(ctx: CommandContext, cmd: m.AgentDelete) -> None:
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
