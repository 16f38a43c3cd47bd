"""Command text to a typed command: shell-style words, options, then the command's `build`.

`parse` either returns a `Command` or raises `ParseError` whose message is one line and
whose `syntax` is the syntax line of the nearest command. No other exception escapes it.
The commands, their options and their builders come from the registry.
"""

from __future__ import annotations

import shlex
import unicodedata

from bot.commands import values
from bot.commands.base import Command
from bot.commands.help import Help
from bot.commands.registry import (
    ALIASES,
    Spec,
    group_specs,
    groups,
    help_spec,
    nearest,
    spec_for,
    specs,
)
from bot.commands.words import Words
from bot.errors import ParseError
from bot.suggest import closest, either

MAX_TEXT = 20_000
# Slack and macOS turn typed quotes into curly ones; shell rules need the straight kind.
_SMART_DOUBLE = str.maketrans({"“": '"', "”": '"', "„": '"', "«": '"', "»": '"'})
_ALLOWED_CONTROLS = frozenset("\t\n\r")
_PREFIXES = ("/byok", "byok")


def tokenize(text: str) -> list[str]:
    """Split command text by shell rules; ParseError for unclosed quotes or control characters."""
    if len(text) > MAX_TEXT:
        raise ParseError(f"the command is too long (over {MAX_TEXT:,} characters)")
    for char in text:
        category = unicodedata.category(char)
        if (category == "Cc" and char not in _ALLOWED_CONTROLS) or category == "Cs":
            raise ParseError("the command contains control characters")
    try:
        words = shlex.split(text.translate(_SMART_DOUBLE), comments=False, posix=True)
    except ValueError:
        raise ParseError("unclosed quote (quote with \"...\" or '...')") from None
    if words and words[0].lower() in _PREFIXES:
        words = words[1:]
    return words


def _path(words: list[str]) -> tuple[Spec, list[str]]:
    """Find the command the words name; the rest are its arguments."""
    if not words:
        return help_spec(), []
    first = ALIASES.get(words[0].lower(), words[0].lower())
    second = words[1].lower() if len(words) > 1 else ""
    if (spec := spec_for((first, second))) is not None:
        return spec, words[2:]
    single = spec_for((first,))
    if first in groups() and (single is None or (second and not second.startswith("-"))):
        # A group word with a missing or wrong verb ("key", "agent lst", "usage exprot").
        if not second:
            hint = f"{first} needs a command"
        elif values.shown(second) == "that value":
            hint = f"unknown {first} command"
        else:
            verbs = [spec.path[1] for spec in group_specs(first) if len(spec.path) > 1]
            near = [f"{first} {verb}" for verb in closest(second, verbs)]
            hint = f'unknown {first} command "{second}"' + (
                f"; did you mean {either(near)}?" if near else ""
            )
        raise ParseError(hint, syntax=nearest(words).syntax_line)
    if single is not None:
        return single, words[1:]
    near = _commands_like(first, second)
    hint = f"unknown command {values.shown(words[0])}" + (
        f"; did you mean {either(near)}?" if near else ""
    )
    raise ParseError(hint, syntax=nearest(words).syntax_line)


def _commands_like(first: str, second: str) -> list[str]:
    """Up to three commands close to a mistyped first word (with its verb, when it has one)."""
    found: list[str] = []
    for word in closest(first, sorted({spec.path[0] for spec in specs()})):
        verbs = [spec.path[1] for spec in group_specs(word) if len(spec.path) > 1]
        verb = closest(second, verbs, limit=1) if second and verbs else []
        found.append(f"{word} {verb[0]}" if verb else word)
    return found


def split(spec: Spec, rest: list[str]) -> Words:
    """Separate options from positional arguments, checking them against the spec."""
    out = Words()
    tokens = iter(rest)
    only_args = False
    line = spec.syntax_line
    for token in tokens:
        if only_args or not token.startswith("--") or token == "--":
            if token == "--" and not only_args:
                only_args = True
                continue
            out.args.append(token)
            continue
        option, has_inline, inline = token.partition("=")
        option = option.lower()
        if option in spec.flags:
            if has_inline:
                raise ParseError(f"{option} takes no value", syntax=line)
            if option in out.flags:
                raise ParseError(f"{option} is given twice", syntax=line)
            out.flags.add(option)
        elif option in spec.values:
            if option in out.opts:
                raise ParseError(f"{option} is given twice", syntax=line)
            value = inline if has_inline else next(tokens, None)
            if value is None:
                raise ParseError(f"{option} needs a value", syntax=line)
            out.opts[option] = value
        else:
            raise ParseError(f"unknown option {values.shown(option)}", syntax=line)
    if len(out.args) < spec.min_args:
        raise ParseError("missing arguments", syntax=line)
    if len(out.args) > spec.max_args:
        raise ParseError("too many arguments (quote text with spaces)", syntax=line)
    return out


def parse(text: str) -> Command:
    """Parse the text after `/byok` into a typed command."""
    try:
        words = tokenize(text)
    except ParseError as exc:
        # Whitespace words are good enough to point at the command that was meant.
        rough = text[:200].split()
        rough = rough[1:] if rough and rough[0].lower() in _PREFIXES else rough
        raise ParseError(str(exc), syntax=nearest(rough[:2]).syntax_line) from None
    if any(word.lower() in ("--help", "-h") for word in words[:3]):
        topic = [word for word in words if not word.startswith("-")][:2]
        return Help(topic=tuple(word.lower() for word in topic))
    spec, rest = _path(words)
    given = split(spec, rest)
    try:
        return spec.value.build(given)
    except ValueError as exc:
        raise ParseError(str(exc), syntax=spec.syntax_line) from None
