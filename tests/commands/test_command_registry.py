"""One table, three faces: the grammar, the help and the Discord tree agree on every command.

For every registered command: the help lists it; its example parses to its typed value;
the Discord `/byok` tree has its subcommand with exactly its form's options; and the
example, answered through that subcommand, comes back as a line the grammar parses to
the same value. A command whose syntax line, fields or example drift apart fails here.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, cast

import discord
import pytest
from discord import app_commands
from discord.enums import AppCommandOptionType as T

from adapters.discord.commands import build_group
from adapters.discord.translation import command_text
from bot.commands.fields import Field, Kind
from bot.commands.grammar import parse, split, tokenize
from bot.commands.help import help_text, overview
from bot.commands.registry import PREFIX, Spec, shape, spec_for, spec_of, specs

_TYPES: dict[Kind, T] = {
    "text": T.string,
    "integer": T.integer,
    "number": T.number,
    "switch": T.boolean,
    "channel": T.channel,
    "user": T.user,
}
_MENTION = {"channel": re.compile(r"<#(\d+)>"), "user": re.compile(r"<@!?(\d+)>")}


class Recorder:
    """The adapter's `run`: keeps the words and the form flag a subcommand hands over."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], bool]] = []

    async def __call__(self, interaction: Any, words: list[str], *, form: bool = False) -> None:
        self.calls.append((words, form))


def _tree(run: Recorder) -> dict[tuple[str, ...], app_commands.Command[Any, ..., Any]]:
    found: dict[tuple[str, ...], app_commands.Command[Any, ..., Any]] = {}
    for child in build_group(run).commands:
        if isinstance(child, app_commands.Group):
            for leaf in child.commands:
                assert isinstance(leaf, app_commands.Command)
                found[(child.name, leaf.name)] = leaf
        else:
            found[(child.name,)] = child
    return found


def _subcommand_of(spec: Spec) -> tuple[str, ...]:
    return spec.fold_into or spec.path


def _field_problems(spec: Spec) -> list[str]:
    """Where the form's fields and the syntax line disagree."""
    problems: list[str] = []
    read = shape(spec.syntax)
    words = {f.word for f in spec.fields if f.word} | {f.off for f in spec.fields if f.off}
    if words != set(read.flags | read.values):
        problems.append(
            f"fields give {sorted(words)}, the syntax {sorted(read.flags | read.values)}"
        )
    slots = [f for f in spec.fields if f.word is None and f.kind != "switch" and not f.shares]
    if len(slots) != read.max_args:
        problems.append(f"{len(slots)} argument fields for {read.max_args} arguments")
    return problems


def _option_problems(spec: Spec, command: app_commands.Command[Any, ..., Any]) -> list[str]:
    """Where the Discord subcommand's options and the form's fields disagree."""
    fields = list(spec.fields)
    folds = [s for s in specs() if s.fold_into == spec.path]
    fields += [Field(s.fold_switch, "switch") for s in folds]
    want = {f.name: (_TYPES[f.kind], f.required, list(f.choices)) for f in fields}
    have = {p.name: (p.type, p.required, [c.value for c in p.choices]) for p in command.parameters}
    return [] if want == have else [f"Discord options {have} != fields {want}"]


def _answers(spec: Spec, example: str) -> dict[str, object]:
    """The example as a Discord user would fill the subcommand's options."""
    words = split(spec, tokenize(example)[len(spec.path) :])
    answers: dict[str, object] = {}
    slots: list[list[Field]] = []
    for field in spec.fields:
        if field.kind == "switch":
            if field.word in words.flags:
                answers[field.name] = True
            elif field.off is not None and field.off in words.flags:
                answers[field.name] = False
        elif field.word is not None:
            if (raw := words.opts.get(field.word)) is not None:
                answers[field.name] = {"integer": int, "number": float}.get(field.kind, str)(raw)
        elif field.shares and slots:
            slots[-1].append(field)
        else:
            slots.append([field])
    for index, fields in enumerate(slots):
        raw = " ".join(words.args[index:]) if fields[0].split else words.arg(index)
        if raw is None:
            continue
        # The field that can hold the value: a mention for a channel or user field.
        for field in sorted(fields, key=lambda field: field.kind not in _MENTION):
            if field.kind in _MENTION:
                if match := _MENTION[field.kind].fullmatch(raw):
                    answers[field.name] = discord.Object(id=int(match.group(1)))
                    break
            else:
                answers[field.name] = int(raw) if field.kind == "integer" else raw
                break
        else:
            raise AssertionError(f"{spec.name}: no Discord option can hold {raw!r}")
    if spec.fold_into:
        answers[spec.fold_switch] = True
    return answers


@pytest.mark.parametrize("spec", specs(), ids=lambda spec: spec.name)
def test_the_help_lists_every_command(spec: Spec) -> None:
    assert f"• {PREFIX} {spec.syntax} — {spec.summary}" in overview().splitlines()
    described = help_text(spec.path)  # `usage` alone: the usage group's lines
    assert f"{PREFIX} {spec.syntax}" in described and spec.summary in described


@pytest.mark.parametrize("spec", specs(), ids=lambda spec: spec.name)
def test_every_example_parses_to_its_own_command(spec: Spec) -> None:
    command = parse(spec.example)
    assert type(command) is spec.value and spec_of(command) is spec
    assert tokenize(spec.example)[: len(spec.path)] == list(spec.path)


@pytest.mark.parametrize("spec", specs(), ids=lambda spec: spec.name)
def test_every_form_field_stands_for_words_of_the_syntax_line(spec: Spec) -> None:
    assert _field_problems(spec) == []


@pytest.mark.parametrize("spec", specs(), ids=lambda spec: spec.name)
def test_the_discord_tree_has_every_command_with_its_options(spec: Spec) -> None:
    tree = _tree(Recorder())
    path = _subcommand_of(spec)
    assert path in tree, f"no Discord subcommand /byok {' '.join(path)}"
    assert _option_problems(spec_for(path) or spec, tree[path]) == []
    assert len(tree[path].description) <= 100


@pytest.mark.parametrize("spec", specs(), ids=lambda spec: spec.name)
async def test_discord_options_come_back_as_the_same_command(spec: Spec) -> None:
    run = Recorder()
    command = _tree(run)[_subcommand_of(spec)]
    answers = _answers(spec, spec.example)
    await command.callback(cast(discord.Interaction[Any], None), **answers)  # type: ignore[call-arg]
    ((words, form),) = run.calls
    assert parse(command_text(words)) == parse(spec.example)
    assert form == (spec.asks_for is not None and spec.asks_for not in answers)


def test_the_discord_tree_has_nothing_the_registry_does_not() -> None:
    registered = {_subcommand_of(spec) for spec in specs()}
    assert set(_tree(Recorder())) == registered


def test_a_field_the_syntax_does_not_have_is_caught() -> None:
    spec = spec_for(("key", "add"))
    assert spec is not None
    extra = dataclasses.replace(spec, fields=(*spec.fields, Field("dry_run", "switch", "--dry")))
    missing = dataclasses.replace(spec, fields=spec.fields[:-1])
    assert _field_problems(extra) and _field_problems(missing)
    tree = _tree(Recorder())
    assert _option_problems(extra, tree[("key", "add")])
