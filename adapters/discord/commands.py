"""The `/byok` app command group: subcommands and options mirroring the SPEC's grammar.

Each subcommand turns its options back into the grammar's words (`key add openai prod
--base-url …`); the adapter quotes them shell-style and hands the text to the core, so
there is one parser and one set of checks for every platform.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Literal, Protocol

import discord
from discord import app_commands


class Run(Protocol):
    """Runs the grammar's words for an interaction (the adapter's side)."""

    def __call__(
        self, interaction: discord.Interaction[Any], words: list[str], *, form: bool = False
    ) -> Awaitable[None]:
        """`form`: the command may answer with a modal, so it must not be deferred."""
        ...


Interaction = discord.Interaction[Any]
Channel = app_commands.AppCommandChannel
Period = Literal["day", "month"]
Grouping = Literal["agent", "key", "model", "user"]


def opt(value: object | None) -> list[str]:
    """A positional word when given."""
    return [] if value is None else [str(value)]


def val(name: str, value: object | None) -> list[str]:
    """`--name value` when given."""
    return [] if value is None else [name, str(value)]


def flag(name: str, on: bool | None) -> list[str]:
    """`--name` when set."""
    return [name] if on else []


def chan(channel: Channel | None) -> list[str]:
    """A channel option as the grammar's `<#id>` reference."""
    return [] if channel is None else [f"<#{channel.id}>"]


def limit_target(target: str | None, user: discord.User | None) -> str:
    """A limit's target word: the picked member as `<@id>`, else the typed target."""
    if user is not None:
        return f"<@{user.id}>"
    return target or ""


def build_group(run: Run) -> app_commands.Group:
    """The `/byok` group (guild-only) whose subcommands call `run(interaction, words)`."""
    byok = app_commands.Group(
        name="byok", description="byokbot: AI agents on your team's own keys", guild_only=True
    )
    key = app_commands.Group(name="key", description="Provider keys", parent=byok)
    agent = app_commands.Group(name="agent", description="Agents", parent=byok)
    limit = app_commands.Group(name="limit", description="Spending limits", parent=byok)
    digest = app_commands.Group(name="digest", description="The daily digest", parent=byok)
    admins = app_commands.Group(name="admins", description="Granted admins", parent=byok)

    @byok.command(name="me", description="Your own spend today and this month, and your limits")
    async def me(i: Interaction) -> None:
        await run(i, ["me"])

    @byok.command(name="help", description="Show the commands, or one command's usage")
    async def help_(i: Interaction, command: str | None = None) -> None:
        await run(i, ["help", *(command.split() if command else [])])

    @byok.command(name="usage", description="Spend, requests and tokens (or a CSV export)")
    async def usage(
        i: Interaction, since: str | None = None, by: Grouping | None = None, export: bool = False
    ) -> None:
        if export:
            await run(i, ["usage", "export", *val("--since", since)])
        else:
            await run(i, ["usage", *val("--since", since), *val("--by", by)])

    @byok.command(name="approve", description="Let a member refused by a budget pass it once")
    async def approve(i: Interaction, request: str, usd: str | None = None) -> None:
        await run(i, ["approve", request, *opt(usd)])

    @byok.command(name="deny", description="Refuse a member's over-budget request")
    async def deny(i: Interaction, request: str) -> None:
        await run(i, ["deny", request])

    @byok.command(name="audit", description="The last N audit entries")
    async def audit(i: Interaction, count: int | None = None) -> None:
        await run(i, ["audit", *opt(count)])

    @key.command(name="add", description="Register a provider key (no secret: a private form)")
    async def key_add(
        i: Interaction,
        provider: str,
        name: str,
        secret: str | None = None,
        base_url: str | None = None,
        no_verify: bool = False,
    ) -> None:
        words = ["key", "add", provider, name, *opt(secret), *val("--base-url", base_url)]
        await run(i, [*words, *flag("--no-verify", no_verify)], form=secret is None)

    @key.command(name="list", description="List the keys, masked")
    async def key_list(i: Interaction) -> None:
        await run(i, ["key", "list"])

    @key.command(name="rotate", description="Replace a key's secret (no secret: a private form)")
    async def key_rotate(
        i: Interaction, name: str, secret: str | None = None, no_verify: bool = False
    ) -> None:
        words = ["key", "rotate", name, *opt(secret), *flag("--no-verify", no_verify)]
        await run(i, words, form=secret is None)

    @key.command(name="revoke", description="Make a key unusable at once")
    async def key_revoke(i: Interaction, name: str) -> None:
        await run(i, ["key", "revoke", name])

    @key.command(name="delete", description="Erase a key no agent uses")
    async def key_delete(i: Interaction, name: str) -> None:
        await run(i, ["key", "delete", name])

    @byok.command(name="models", description="The models a key can call, with prices")
    async def models(i: Interaction, key: str, filter: str | None = None) -> None:
        await run(i, ["models", key, *opt(filter)])

    @key.command(name="test", description="Check a key against its provider")
    async def key_test(i: Interaction, name: str) -> None:
        await run(i, ["key", "test", name])

    @agent.command(name="create", description="Create an agent: key + model + prompt")
    async def agent_create(
        i: Interaction,
        name: str,
        key: str,
        model: str,
        prompt: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        show_cost: bool = False,
        no_verify: bool = False,
    ) -> None:
        words = ["agent", "create", name, "--key", key, "--model", model]
        words += [*val("--prompt", prompt), *val("--max-tokens", max_tokens)]
        words += [*val("--temperature", temperature), *flag("--show-cost", show_cost)]
        await run(i, [*words, *flag("--no-verify", no_verify)])

    @agent.command(name="set", description="Change an agent's key, model, prompt or settings")
    async def agent_set(
        i: Interaction,
        name: str,
        key: str | None = None,
        model: str | None = None,
        prompt: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        show_cost: bool | None = None,
        no_verify: bool = False,
    ) -> None:
        words = ["agent", "set", name, *val("--key", key), *val("--model", model)]
        words += [*val("--prompt", prompt), *val("--max-tokens", max_tokens)]
        words += [*val("--temperature", temperature)]
        if show_cost is not None:
            words.append("--show-cost" if show_cost else "--no-show-cost")
        await run(i, [*words, *flag("--no-verify", no_verify)])

    @agent.command(name="list", description="List the agents")
    async def agent_list(i: Interaction) -> None:
        await run(i, ["agent", "list"])

    @agent.command(name="show", description="Show one agent's settings")
    async def agent_show(i: Interaction, name: str) -> None:
        await run(i, ["agent", "show", name])

    @agent.command(name="delete", description="Delete an agent with its bindings and limits")
    async def agent_delete(i: Interaction, name: str) -> None:
        await run(i, ["agent", "delete", name])

    @agent.command(name="bind", description="Attach an agent to a channel (default: this one)")
    async def agent_bind(
        i: Interaction, name: str, channel: Channel | None = None, all_messages: bool = False
    ) -> None:
        await run(i, ["agent", "bind", name, *chan(channel), *flag("--all-messages", all_messages)])

    @agent.command(name="unbind", description="Detach an agent from a channel")
    async def agent_unbind(i: Interaction, name: str, channel: Channel | None = None) -> None:
        await run(i, ["agent", "unbind", name, *chan(channel)])

    @agent.command(name="default", description="The agent that answers direct messages")
    async def agent_default(i: Interaction, name: str) -> None:
        await run(i, ["agent", "default", name])

    @limit.command(name="set", description="Set a spending limit per day or month")
    @app_commands.describe(
        target="An agent, 'workspace' or 'each-user' (or pick a member with `user`)",
        user="One member's own limit, across every agent",
        soft="Never refuse; only alert at 80% and 100%",
    )
    async def limit_set(
        i: Interaction,
        usd: str,
        per: Period,
        target: str | None = None,
        user: discord.User | None = None,
        soft: bool = False,
    ) -> None:
        words = ["limit", "set", limit_target(target, user), usd, "--per", per]
        await run(i, [*words, *flag("--soft", soft)])

    @limit.command(name="list", description="Show the limits and this period's spend")
    async def limit_list(i: Interaction) -> None:
        await run(i, ["limit", "list"])

    @limit.command(name="clear", description="Remove a spending limit")
    @app_commands.describe(
        target="An agent, 'workspace' or 'each-user' (or pick a member with `user`)",
        user="One member's own limit",
    )
    async def limit_clear(
        i: Interaction,
        target: str | None = None,
        user: discord.User | None = None,
        per: Period | None = None,
    ) -> None:
        await run(i, ["limit", "clear", limit_target(target, user), *val("--per", per)])

    @digest.command(name="channel", description="Post the digest in a channel (default: here)")
    async def digest_channel(i: Interaction, channel: Channel | None = None) -> None:
        await run(i, ["digest", "channel", *chan(channel)])

    @digest.command(name="at", description="When the digest is posted, and the timezone")
    async def digest_at(i: Interaction, time: str, timezone: str | None = None) -> None:
        await run(i, ["digest", "at", time, *opt(timezone)])

    @digest.command(name="now", description="Post a digest now: today so far, yesterday or a date")
    async def digest_now(i: Interaction, day: str | None = None) -> None:
        await run(i, ["digest", "now", *opt(day)])

    @digest.command(name="off", description="Stop the daily digest")
    async def digest_off(i: Interaction) -> None:
        await run(i, ["digest", "off"])

    @admins.command(name="add", description="Make a user a byokbot admin")
    async def admins_add(i: Interaction, user: discord.User) -> None:
        await run(i, ["admins", "add", f"<@{user.id}>"])

    @admins.command(name="remove", description="Take a user's byokbot admin rights away")
    async def admins_remove(i: Interaction, user: discord.User) -> None:
        await run(i, ["admins", "remove", f"<@{user.id}>"])

    @admins.command(name="list", description="List the granted admins")
    async def admins_list(i: Interaction) -> None:
        await run(i, ["admins", "list"])

    return byok
