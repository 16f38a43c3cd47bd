"""`/byok help [command]`: every command's usage and one-line description."""

from __future__ import annotations

from bot.commands.specs import ALIASES, GROUPS, PREFIX, SPECS, CommandSpec, group_specs, nearest
from bot.commands.specs import spec_for as _spec_for
from bot.errors import ParseError

_DETAILS: dict[tuple[str, ...], str] = {
    ("key", "add"): (
        "providers: openai, anthropic, gemini, azure-openai (needs --base-url), openrouter, groq,"
        " mistral, deepseek, xai, together, ollama (key may be -), openai-compatible (needs"
        " --base-url). The key is checked with the provider before it is stored unless"
        " --no-verify; replies about keys are always private."
    ),
    ("key", "rotate"): "the new secret is checked with the provider first unless --no-verify.",
    ("key", "revoke"): "the secret is wiped at once; agents using the key stop answering.",
    ("key", "delete"): (
        "only a key no agent uses (move them with agent set --key first); a revoked key can"
        " be deleted too. The audit trail and past usage keep its name."
    ),
    ("models",): (
        "asks the provider for the key's model list; each model with its input/output price"
        " per million tokens (genai-prices) or 'unpriced'. <filter> keeps ids containing it."
    ),
    ("agent", "create"): (
        "--max-tokens caps each answer (default 1024); --temperature is 0 to 2;"
        " --show-cost ends each answer with a cost line. --model is checked against the"
        " key's model list (/byok models <key>) unless --no-verify."
    ),
    ("agent", "bind"): (
        "the bot's mentions in the channel go to the agent; with --all-messages every"
        " message there does. A channel has one agent: binding another replaces it."
    ),
    ("limit", "set"): (
        "the limit is checked before every call against its worst-case cost; 'workspace'"
        " limits every agent together, '@user' one member across every agent, 'each-user'"
        " every member separately. A --soft limit never refuses; it only alerts at 80% and"
        " 100%."
    ),
    ("me",): "open to everyone: only your own spend and the limits that apply to you.",
    ("usage",): "costs are exact; unpriced and estimated calls are flagged.",
}


def overview() -> str:
    """Every command's usage line with its summary."""
    lines = [f"{PREFIX} commands (replies are private; all but help and me are for admins):"]
    lines += [f"• {PREFIX} {spec.usage} — {spec.summary}" for spec in SPECS]
    lines.append(f"`{PREFIX} help <command>` for details.")
    return "\n".join(lines)


def describe(spec: CommandSpec) -> str:
    """One command's usage line, description and details."""
    lines = [f"{PREFIX} {spec.usage}", spec.summary]
    if detail := _DETAILS.get(spec.path):
        lines.append(detail)
    return "\n".join(lines)


def help_text(topic: tuple[str, ...]) -> str:
    """The help for `topic` (empty: the overview); ParseError with the nearest usage if unknown."""
    if not topic:
        return overview()
    words = [ALIASES.get(topic[0], topic[0]), *topic[1:]]
    if len(words) > 1 and (spec := _spec_for((words[0], words[1]))) is not None:
        return describe(spec)
    if words[0] in GROUPS and len(words) == 1:
        specs = group_specs(words[0])
        return "\n".join(f"• {PREFIX} {spec.usage} — {spec.summary}" for spec in specs)
    if (spec := _spec_for((words[0],))) is not None and len(words) == 1:
        return describe(spec)
    raise ParseError("no such command", usage=nearest(words).usage_line)
