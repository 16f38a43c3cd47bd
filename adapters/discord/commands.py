"""The `/byok` app command group, derived from the core's command registry.

Each registered command becomes a subcommand (in its group, if it has one) whose options
are its form fields translated into discord.py's types. A subcommand turns its options
back into the grammar's words (`key add openai prod --base-url …`); the adapter quotes
them shell-style and hands the text to the core, so there is one parser and one set of
checks for every platform.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Mapping
from typing import Any, Literal, Protocol, cast

import discord
from discord import app_commands

from bot.commands.fields import Field, Kind, render, switch
from bot.commands.registry import GROUP_TITLES, Spec, spec_for, specs


class Run(Protocol):
    """Runs the grammar's words for an interaction (the adapter's side)."""

    def __call__(
        self, interaction: discord.Interaction[Any], words: list[str], *, form: bool = False
    ) -> Awaitable[None]:
        """`form`: the command may answer with a modal, so it must not be deferred."""
        ...


Interaction = discord.Interaction[Any]
_TYPES: dict[Kind, Any] = {
    "text": str,
    "integer": int,
    "number": float,
    "switch": bool,
    "channel": app_commands.AppCommandChannel,
    "user": discord.User,
}


def option_value(field: Field, value: object) -> object:
    """A Discord option's value as the grammar writes it (`<#id>`, `<@id>`), else as is."""
    if value is not None and field.kind in ("channel", "user"):
        return f"<{'#' if field.kind == 'channel' else '@'}{getattr(value, 'id', value)}>"
    return value


def subcommand_words(spec: Spec, options: Mapping[str, object]) -> tuple[list[str], bool]:
    """The grammar's words for a subcommand's options, and whether it may open a form.

    A folded command (`usage export`) is chosen by its switch on the command it folds into.
    """
    kinds = {field.name: field for field in form_fields(spec)}
    values = {name: option_value(kinds[name], value) for name, value in options.items()}
    for folded in specs():
        if folded.fold_into == spec.path and values.get(folded.fold_switch) is True:
            spec = folded
            break
    words = [*spec.path, *render(spec.fields, values, min_args=spec.min_args)]
    form = spec.asks_for is not None and values.get(spec.asks_for) is None
    return words, form


def form_fields(spec: Spec) -> tuple[Field, ...]:
    """A subcommand's fields: the command's own, then the switches of folded commands."""
    folds = tuple(
        switch(folded.fold_switch, "") for folded in specs() if folded.fold_into == spec.path
    )
    return spec.fields + folds


def _parameter(field: Field) -> inspect.Parameter:
    annotation: Any = _TYPES[field.kind]
    if field.choices:
        annotation = cast(Any, Literal)[field.choices]
    if field.required:
        return inspect.Parameter(field.name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation)
    three_state = field.kind == "switch" and field.off is not None
    default: object = False if field.kind == "switch" and not three_state else None
    if default is None:
        annotation = annotation | None
    return inspect.Parameter(
        field.name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default
    )


def subcommand(spec: Spec, run: Run) -> app_commands.Command[Any, ..., None]:
    """One command of the registry as a Discord subcommand calling `run`."""
    fields = form_fields(spec)

    async def callback(interaction: Interaction, **options: object) -> None:
        words, form = subcommand_words(spec, options)
        await run(interaction, words, form=form)

    first = inspect.Parameter(
        "interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Interaction
    )
    params = [first, *(_parameter(field) for field in fields)]
    callback.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    described = {field.name: field.describe for field in fields if field.describe}
    if described:
        callback = app_commands.describe(**described)(callback)
    return app_commands.Command(name=spec.path[-1], description=spec.described, callback=callback)


def build_group(run: Run) -> app_commands.Group:
    """The `/byok` group (guild-only) whose subcommands call `run(interaction, words)`."""
    byok = app_commands.Group(
        name="byok", description="byokbot: AI agents on your team's own keys", guild_only=True
    )
    groups = {
        name: app_commands.Group(name=name, description=title, parent=byok)
        for name, title in GROUP_TITLES.items()
    }
    for spec in specs():
        if spec.fold_into and spec_for(spec.fold_into) is not None:
            continue  # a switch of the command it folds into
        parent = groups[spec.path[0]] if len(spec.path) > 1 else byok
        parent.add_command(subcommand(spec, run))
    return byok
