"""A command's options as a form-based platform shows them (Discord's app commands).

Platform-neutral: each `Field` says its name, kind, whether it is required, its choices,
and which of the command's words it stands for. An adapter translates fields into its
own option types and its users' answers back into values; `render` turns those values
into the grammar's words, so every platform still goes through the one parser.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

Kind = Literal["text", "integer", "number", "switch", "channel", "user"]


@dataclass(frozen=True, slots=True)
class Field:
    """One option of a command in a form: name, kind, and the words it stands for."""

    name: str
    kind: Kind = "text"
    word: str | None = None  # the option it gives ("--base-url"); None: an argument
    off: str | None = None  # a three-state switch's "no" word ("--no-show-cost")
    required: bool = False
    choices: tuple[str, ...] = ()
    describe: str = ""
    shares: bool = False  # fills the argument of the field before it, and wins over it
    split: bool = False  # the text stands for several words (help's topic)


def arg(
    name: str,
    kind: Kind = "text",
    *,
    optional: bool = False,
    describe: str = "",
    shares: bool = False,
    split: bool = False,
) -> Field:
    """A positional argument (channels, users and numbers included)."""
    return Field(name, kind, required=not optional, describe=describe, shares=shares, split=split)


def option(
    name: str,
    word: str,
    kind: Kind = "text",
    *,
    required: bool = False,
    choices: tuple[str, ...] = (),
) -> Field:
    """A `--word value` option."""
    return Field(name, kind, word=word, required=required, choices=choices)


def switch(name: str, word: str, *, off: str | None = None, describe: str = "") -> Field:
    """A `--word` flag; with `off`, unset, on (`word`) or off (`off`)."""
    return Field(name, "switch", word=word, off=off, describe=describe)


def render(fields: Sequence[Field], values: Mapping[str, object], *, min_args: int) -> list[str]:
    """The grammar's words for a form's answers: arguments in order, then options.

    An argument the grammar requires that no field filled becomes an empty word, so the
    grammar (not the form) says what is missing.
    """
    slots: list[tuple[str, bool] | None] = []
    options: list[str] = []
    for field in fields:
        value = values.get(field.name)
        if field.kind == "switch":
            if value is True and field.word:
                options.append(field.word)
            elif value is False and field.off:
                options.append(field.off)
        elif field.word is not None:
            if value is not None:
                options += [field.word, str(value)]
        else:
            if not field.shares or not slots:
                slots.append(None)
            if value is not None:
                slots[-1] = (str(value), field.split)
    words: list[str] = []
    for index, slot in enumerate(slots):
        if slot is None:
            if index < min_args:
                words.append("")
            continue
        text, split = slot
        words += text.split() if split else [text]
    return words + options
