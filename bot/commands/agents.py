"""`/byok agent create|set`: named personas on a key and a model (list|show|delete: `roster.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from sqlmodel import Session

from bot.commands import catalog, values
from bot.commands.base import Command
from bot.commands.context import CommandContext
from bot.commands.fields import Field, arg, option, switch
from bot.commands.registry import command
from bot.commands.words import Words
from bot.errors import Conflict, InvalidValue, NotFound
from bot.pricing import worst_case_cost
from bot.suggest import not_found_line
from storage.agents import get_agent, list_agents
from storage.keys import get_key, get_key_by_id, list_keys
from storage.models import Agent, ProviderKey, Workspace, naive_utcnow

MAX_PROMPT = 8_000
DEFAULT_MAX_TOKENS = 1024


@dataclass(frozen=True, slots=True)
class AgentSettings:
    """The options of `agent create|set`; None means "not given"."""

    key: str | None = None
    model: str | None = None
    prompt: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    show_cost: bool | None = None

    def given(self) -> list[str]:
        """The option names that were given, in grammar order."""
        names = ("key", "model", "prompt", "max_tokens", "temperature", "show_cost")
        return [name for name in names if getattr(self, name) is not None]

    @classmethod
    def build(cls, words: Words) -> AgentSettings:
        """The settings options given (checked, not yet against the key's model list)."""
        opts = words.opts
        max_tokens = opts.get("--max-tokens")
        temperature = opts.get("--temperature")
        show: bool | None = None
        if "--show-cost" in words.flags and "--no-show-cost" in words.flags:
            raise ValueError("choose --show-cost or --no-show-cost, not both")
        if "--show-cost" in words.flags:
            show = True
        elif "--no-show-cost" in words.flags:
            show = False
        key = opts.get("--key")
        return cls(
            key=values.name(key, what="key") if key is not None else None,
            model=_model(opts["--model"]) if "--model" in opts else None,
            prompt=opts.get("--prompt"),
            max_tokens=(
                values.positive_int(max_tokens, what="--max-tokens", maximum=values.MAX_TOKENS)
                if max_tokens is not None
                else None
            ),
            temperature=values.temperature(temperature) if temperature is not None else None,
            show_cost=show,
        )


def _model(value: str) -> str:
    if not value or len(value) > 200 or any(char.isspace() for char in value):
        raise ValueError("--model must be a model id without spaces, like gpt-4o-mini")
    return value


@dataclass(frozen=True, slots=True)
class AgentCreate(Command):
    """`agent create <name> --key <key> --model <model> [...]`."""

    action: ClassVar[str] = "agent.create"
    mutates: ClassVar[bool] = True
    name: str
    settings: AgentSettings
    verify: bool = True  # check --model against the key's model list

    @classmethod
    def build(cls, words: Words) -> AgentCreate:
        """A new agent's name (not a reserved word), its key and model, and settings."""
        settings = AgentSettings.build(words)
        if settings.key is None or settings.model is None:
            raise ValueError("agent create needs --key and --model")
        return cls(name=values.agent_name(words.args[0]), settings=settings, verify=words.verify())


@dataclass(frozen=True, slots=True)
class AgentSet(Command):
    """`agent set <name> [same options as create]`."""

    action: ClassVar[str] = "agent.set"
    mutates: ClassVar[bool] = True
    name: str
    settings: AgentSettings
    verify: bool = True  # check the model against the key's model list

    @classmethod
    def build(cls, words: Words) -> AgentSet:
        """The agent and at least one setting to change."""
        settings = AgentSettings.build(words)
        if not settings.given():
            raise ValueError("say what to change")
        return cls(name=words.agent(), settings=settings, verify=words.verify())


def _settings_fields(*, create: bool) -> tuple[Field, ...]:
    """The options `agent create` and `agent set` share (create requires key and model)."""
    return (
        arg("name"),
        option("key", "--key", required=create),
        option("model", "--model", required=create),
        option("prompt", "--prompt"),
        option("max_tokens", "--max-tokens", "integer"),
        option("temperature", "--temperature", "number"),
        switch("show_cost", "--show-cost", off=None if create else "--no-show-cost"),
        switch("no_verify", "--no-verify"),
    )


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


@command(
    "agent create <name> --key <key> --model <model> [--prompt TEXT] [--max-tokens N]"
    " [--temperature T] [--show-cost] [--no-verify]",
    AgentCreate,
    summary="create an agent: key + model + system prompt + settings",
    brief="Create an agent: key + model + prompt",
    example=(
        "agent create writer --key prod --model gpt-4o-mini --prompt 'You are terse.'"
        " --max-tokens 2048 --temperature 0.7 --show-cost --no-verify"
    ),
    details=(
        "--max-tokens caps each answer (default 1024); --temperature is 0 to 2;"
        " --show-cost ends each answer with a cost line. --model is checked against the"
        " key's model list (/byok models <key>) unless --no-verify."
    ),
    fields=_settings_fields(create=True),
)
async def create(ctx: CommandContext, cmd: AgentCreate) -> None:
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
    session: Session, ctx: CommandContext, *, agent: Agent, opts: AgentSettings
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


@command(
    "agent set <name> [--key <key>] [--model <model>] [--prompt TEXT] [--max-tokens N]"
    " [--temperature T] [--show-cost|--no-show-cost] [--no-verify]",
    AgentSet,
    summary="change an agent's key, model, prompt or settings",
    example="agent set writer --model gpt-4o --no-show-cost",
    fields=_settings_fields(create=False),
)
async def update(ctx: CommandContext, cmd: AgentSet) -> None:
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
