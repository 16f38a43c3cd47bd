"""The grammar's table: for every command its words, usage line, summary and options."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

PREFIX = "/byok"


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One grammar line: words, usage, one-line description and what it accepts."""

    path: tuple[str, ...]
    usage: str  # without the "/byok " prefix
    summary: str
    flags: frozenset[str] = frozenset()
    values: frozenset[str] = frozenset()
    min_args: int = 0
    max_args: int = 0

    @property
    def name(self) -> str:
        """The command words joined: "key add"."""
        return " ".join(self.path)

    @property
    def usage_line(self) -> str:
        """`usage: /byok key add …`."""
        return f"usage: {PREFIX} {self.usage}"


_AGENT_VALUES = frozenset({"--key", "--model", "--prompt", "--max-tokens", "--temperature"})
_SINCE = "[--since 1d|7d|30d|YYYY-MM-DD]"

SPECS: tuple[CommandSpec, ...] = (
    CommandSpec(
        ("help",), "help [command]", "show the commands, or one command's usage", max_args=3
    ),
    CommandSpec(("me",), "me", "your own spend today and this month, and your limits"),
    CommandSpec(
        ("key", "add"),
        "key add <provider> <name> [<secret>] [--base-url URL] [--no-verify]",
        "register a provider key (without <secret> a private form asks for it)",
        flags=frozenset({"--no-verify"}),
        values=frozenset({"--base-url"}),
        min_args=2,
        max_args=3,
    ),
    CommandSpec(("key", "list"), "key list", "list the keys, masked"),
    CommandSpec(
        ("key", "rotate"),
        "key rotate <name> [<secret>] [--no-verify]",
        "replace a key's secret (without <secret> a private form asks for it)",
        flags=frozenset({"--no-verify"}),
        min_args=1,
        max_args=2,
    ),
    CommandSpec(
        ("key", "revoke"),
        "key revoke <name>",
        "make a key unusable at once",
        min_args=1,
        max_args=1,
    ),
    CommandSpec(
        ("key", "delete"),
        "key delete <name>",
        "erase a key no agent uses (the audit trail keeps that it existed)",
        min_args=1,
        max_args=1,
    ),
    CommandSpec(
        ("key", "test"),
        "key test <name>",
        "check a key against its provider",
        min_args=1,
        max_args=1,
    ),
    CommandSpec(
        ("models",),
        "models <key> [<filter>]",
        "the models a key can call, with prices per million tokens",
        min_args=1,
        max_args=2,
    ),
    CommandSpec(
        ("agent", "create"),
        "agent create <name> --key <key> --model <model> [--prompt TEXT] [--max-tokens N]"
        " [--temperature T] [--show-cost] [--no-verify]",
        "create an agent: key + model + system prompt + settings",
        flags=frozenset({"--show-cost", "--no-verify"}),
        values=_AGENT_VALUES,
        min_args=1,
        max_args=1,
    ),
    CommandSpec(
        ("agent", "set"),
        "agent set <name> [--key <key>] [--model <model>] [--prompt TEXT] [--max-tokens N]"
        " [--temperature T] [--show-cost|--no-show-cost] [--no-verify]",
        "change an agent's key, model, prompt or settings",
        flags=frozenset({"--show-cost", "--no-show-cost", "--no-verify"}),
        values=_AGENT_VALUES,
        min_args=1,
        max_args=1,
    ),
    CommandSpec(("agent", "list"), "agent list", "list the agents"),
    CommandSpec(
        ("agent", "show"), "agent show <name>", "show one agent's settings", min_args=1, max_args=1
    ),
    CommandSpec(
        ("agent", "delete"),
        "agent delete <name>",
        "delete an agent with its bindings and limits",
        min_args=1,
        max_args=1,
    ),
    CommandSpec(
        ("agent", "bind"),
        "agent bind <name> [#channel] [--all-messages]",
        "attach an agent to a channel (default: this channel)",
        flags=frozenset({"--all-messages"}),
        min_args=1,
        max_args=2,
    ),
    CommandSpec(
        ("agent", "unbind"),
        "agent unbind <name> [#channel]",
        "detach an agent from a channel (default: this channel)",
        min_args=1,
        max_args=2,
    ),
    CommandSpec(
        ("agent", "default"),
        "agent default <name>",
        "the agent that answers direct messages and console lines",
        min_args=1,
        max_args=1,
    ),
    CommandSpec(
        ("limit", "set"),
        "limit set <agent|workspace|@user|each-user> <usd> --per day|month [--soft]",
        "set a spending limit per day or month (workspace timezone)",
        flags=frozenset({"--soft"}),
        values=frozenset({"--per"}),
        min_args=2,
        max_args=2,
    ),
    CommandSpec(("limit", "list"), "limit list", "show the limits and this period's spend"),
    CommandSpec(
        ("limit", "clear"),
        "limit clear <agent|workspace|@user|each-user> [--per day|month]",
        "remove a spending limit",
        values=frozenset({"--per"}),
        min_args=1,
        max_args=1,
    ),
    CommandSpec(
        ("approve",),
        "approve <request> [<usd>]",
        "let a member refused by a budget pass it once (the call's worst case, or <usd>)",
        min_args=1,
        max_args=2,
    ),
    CommandSpec(
        ("deny",), "deny <request>", "refuse a member's over-budget request", min_args=1, max_args=1
    ),
    CommandSpec(
        ("usage",),
        f"usage {_SINCE} [--by agent|key|model|user]",
        "spend, requests and tokens (default: the last 30 days, by agent)",
        values=frozenset({"--since", "--by"}),
    ),
    CommandSpec(
        ("usage", "export"),
        f"usage export {_SINCE}",
        "every call since then as a CSV file",
        values=frozenset({"--since"}),
    ),
    CommandSpec(
        ("digest", "channel"),
        "digest channel [#channel]",
        "post the daily digest and budget alerts in a channel (default: this channel)",
        max_args=1,
    ),
    CommandSpec(
        ("digest", "at"),
        "digest at <HH:MM> [<IANA tz>]",
        "when the daily digest is posted, and the workspace timezone",
        min_args=1,
        max_args=2,
    ),
    CommandSpec(
        ("digest", "now"),
        "digest now [today|yesterday|YYYY-MM-DD]",
        "post a digest now: today so far (default), yesterday or a given day",
        max_args=1,
    ),
    CommandSpec(("digest", "off"), "digest off", "stop the daily digest"),
    CommandSpec(
        ("admins", "add"),
        "admins add <@user>",
        "make a user a byokbot admin",
        min_args=1,
        max_args=1,
    ),
    CommandSpec(
        ("admins", "remove"),
        "admins remove <@user>",
        "take a user's byokbot admin rights away",
        min_args=1,
        max_args=1,
    ),
    CommandSpec(("admins", "list"), "admins list", "list the granted admins"),
    CommandSpec(("audit",), "audit [N]", "the last N audit entries (default 20)", max_args=1),
)

BY_PATH: dict[tuple[str, ...], CommandSpec] = {spec.path: spec for spec in SPECS}
GROUPS: frozenset[str] = frozenset(spec.path[0] for spec in SPECS if len(spec.path) > 1)
# Words people type for the groups; mapped silently rather than refused.
ALIASES: dict[str, str] = {"keys": "key", "agents": "agent", "limits": "limit", "admin": "admins"}


def spec_for(path: tuple[str, ...]) -> CommandSpec | None:
    """The spec of exactly these command words, or None."""
    return BY_PATH.get(path)


def group_specs(group: str) -> list[CommandSpec]:
    """Every command of a group ("key" → key add, key list, …)."""
    return [spec for spec in SPECS if spec.path[0] == group]


def nearest(words: list[str]) -> CommandSpec:
    """The command closest to what was typed (difflib on each word); `help` if none is close."""
    if not words:
        return BY_PATH[("help",)]
    typed = ALIASES.get(words[0].lower(), words[0].lower())
    firsts = sorted({spec.path[0] for spec in SPECS})
    found = difflib.get_close_matches(typed, firsts, n=1, cutoff=0.6)
    if not found:
        return BY_PATH[("help",)]
    group = found[0]
    specs = group_specs(group)
    verbs = {spec.path[1]: spec for spec in specs if len(spec.path) > 1}
    if len(words) > 1 and verbs:
        verb = difflib.get_close_matches(words[1].lower(), list(verbs), n=1, cutoff=0.5)
        if verb:
            return verbs[verb[0]]
    return BY_PATH.get((group,), specs[0])
