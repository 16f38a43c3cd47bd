"""Command text to a typed command: shell-style words, options, then per-command values.

`parse` either returns a `Command` or raises `ParseError` whose message is one line and
whose `usage` is the usage of the nearest command. No other exception escapes it.
"""

from __future__ import annotations

import shlex
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.commands import models as m
from bot.commands import refs, values
from bot.commands.specs import (
    ALIASES,
    BY_PATH,
    GROUPS,
    SPECS,
    CommandSpec,
    group_specs,
    nearest,
    spec_for,
)
from bot.errors import ParseError
from bot.suggest import closest, either

MAX_TEXT = 20_000
# Slack and macOS turn typed quotes into curly ones; shell rules need the straight kind.
_SMART_DOUBLE = str.maketrans({"“": '"', "”": '"', "„": '"', "«": '"', "»": '"'})
_ALLOWED_CONTROLS = frozenset("\t\n\r")
_PREFIXES = ("/byok", "byok")


@dataclass(slots=True)
class Words:
    """The words after the command path: positional arguments and options."""

    args: list[str] = field(default_factory=list)
    flags: set[str] = field(default_factory=set)
    opts: dict[str, str] = field(default_factory=dict)


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


def _path(words: list[str]) -> tuple[CommandSpec, list[str]]:
    """Find the command the words name; the rest are its arguments."""
    if not words:
        return BY_PATH[("help",)], []
    first = ALIASES.get(words[0].lower(), words[0].lower())
    second = words[1].lower() if len(words) > 1 else ""
    if (spec := spec_for((first, second))) is not None:
        return spec, words[2:]
    single = spec_for((first,))
    if first in GROUPS and (single is None or (second and not second.startswith("-"))):
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
        raise ParseError(hint, usage=nearest(words).usage_line)
    if single is not None:
        return single, words[1:]
    near = _commands_like(first, second)
    hint = f"unknown command {values.shown(words[0])}" + (
        f"; did you mean {either(near)}?" if near else ""
    )
    raise ParseError(hint, usage=nearest(words).usage_line)


def _commands_like(first: str, second: str) -> list[str]:
    """Up to three commands close to a mistyped first word (with its verb, when it has one)."""
    found: list[str] = []
    for word in closest(first, sorted({spec.path[0] for spec in SPECS})):
        verbs = [spec.path[1] for spec in group_specs(word) if len(spec.path) > 1]
        verb = closest(second, verbs, limit=1) if second and verbs else []
        found.append(f"{word} {verb[0]}" if verb else word)
    return found


def _split(spec: CommandSpec, rest: list[str]) -> Words:
    """Separate options from positional arguments, checking them against the spec."""
    out = Words()
    tokens = iter(rest)
    only_args = False
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
                raise ParseError(f"{option} takes no value", usage=spec.usage_line)
            if option in out.flags:
                raise ParseError(f"{option} is given twice", usage=spec.usage_line)
            out.flags.add(option)
        elif option in spec.values:
            if option in out.opts:
                raise ParseError(f"{option} is given twice", usage=spec.usage_line)
            value = inline if has_inline else next(tokens, None)
            if value is None:
                raise ParseError(f"{option} needs a value", usage=spec.usage_line)
            out.opts[option] = value
        else:
            raise ParseError(f"unknown option {values.shown(option)}", usage=spec.usage_line)
    if len(out.args) < spec.min_args:
        raise ParseError("missing arguments", usage=spec.usage_line)
    if len(out.args) > spec.max_args:
        raise ParseError("too many arguments (quote text with spaces)", usage=spec.usage_line)
    return out


def parse(text: str) -> m.Command:
    """Parse the text after `/byok` into a typed command."""
    try:
        words = tokenize(text)
    except ParseError as exc:
        # Whitespace words are good enough to point at the command that was meant.
        rough = text[:200].split()
        rough = rough[1:] if rough and rough[0].lower() in _PREFIXES else rough
        raise ParseError(str(exc), usage=nearest(rough[:2]).usage_line) from None
    if any(word.lower() in ("--help", "-h") for word in words[:3]):
        topic = [word for word in words if not word.startswith("-")][:2]
        return m.Help(topic=tuple(word.lower() for word in topic))
    spec, rest = _path(words)
    split = _split(spec, rest)
    try:
        return _BUILDERS[spec.path](split)
    except ValueError as exc:
        raise ParseError(str(exc), usage=spec.usage_line) from None


def _channel(token: str | None) -> m.ChannelRef | None:
    if token is None:
        return None
    ref = refs.parse_channel(token)
    if ref is None or values.looks_secret(ref.id):
        raise ValueError(f"{values.shown(token)} is not a #channel")
    return ref


def _user(token: str) -> m.UserRef:
    ref = refs.parse_user(token)
    if ref is None or values.looks_secret(ref.id):
        raise ValueError(f"{values.shown(token)} is not an @user")
    return ref


def _arg(words: Words, index: int) -> str | None:
    return words.args[index] if len(words.args) > index else None


def _agent_settings(words: Words) -> m.AgentSettings:
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
    return m.AgentSettings(
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


def _agent_create(words: Words) -> m.Command:
    settings = _agent_settings(words)
    if settings.key is None or settings.model is None:
        raise ValueError("agent create needs --key and --model")
    return m.AgentCreate(
        name=values.agent_name(words.args[0]),
        settings=settings,
        verify="--no-verify" not in words.flags,
    )


def _agent_set(words: Words) -> m.Command:
    settings = _agent_settings(words)
    if not settings.given():
        raise ValueError("say what to change")
    return m.AgentSet(
        name=values.name(words.args[0], what="agent"),
        settings=settings,
        verify="--no-verify" not in words.flags,
    )


def _key_add(words: Words) -> m.Command:
    provider = words.args[0].lower()
    if not values.NAME.fullmatch(provider):
        raise ValueError(f"unknown provider {values.shown(provider)}")
    return m.KeyAdd(
        provider=provider,
        name=values.name(words.args[1], what="key"),
        secret=_arg(words, 2),
        base_url=words.opts.get("--base-url"),
        verify="--no-verify" not in words.flags,
    )


def _since(words: Words) -> m.Since | None:
    raw = words.opts.get("--since")
    return values.since(raw) if raw is not None else None


def _audit(words: Words) -> m.Command:
    raw = _arg(words, 0)
    if raw is None:
        return m.AuditView()
    return m.AuditView(count=values.positive_int(raw, what="N", maximum=200))


def _digest_at(words: Words) -> m.Command:
    tz = _arg(words, 1)
    return m.DigestAt(
        time=values.clock_time(words.args[0]),
        tz=values.timezone(tz) if tz is not None else None,
    )


def _key_name(words: Words) -> str:
    return values.name(words.args[0], what="key")


def _models(words: Words) -> m.Command:
    raw = _arg(words, 1)
    if raw is not None and (len(raw) > 200 or values.looks_secret(raw)):
        raise ValueError("the filter is a piece of a model id, like 4o or sonnet")
    return m.ModelsList(key=_key_name(words), filter=(raw.strip() or None) if raw else None)


def _agent(words: Words) -> str:
    return values.name(words.args[0], what="agent")


def _limit_target(words: Words) -> tuple[str, m.UserRef | None]:
    target = words.args[0]
    if target.lower() in ("workspace", "each-user"):
        return target.lower(), None
    if target.startswith(("@", "<@")):
        user = _user(target)
        return user.id, user
    return values.name(target, what="agent"), None


def _limit_set(words: Words) -> m.Command:
    per = words.opts.get("--per")
    if per is None:
        raise ValueError("say --per day or --per month")
    name, user = _limit_target(words)
    return m.LimitSet(
        name=name,
        usd=values.usd(words.args[1]),
        per=values.period(per),
        soft="--soft" in words.flags,
        user=user,
    )


def _limit_clear(words: Words) -> m.Command:
    per = words.opts.get("--per")
    name, user = _limit_target(words)
    return m.LimitClear(name=name, per=values.period(per) if per is not None else None, user=user)


def _request_id(raw: str) -> str:
    text = raw.strip().lower()
    if not text.isalnum() or len(text) > 16:
        raise ValueError("a request id is the 8 letters and digits the refusal named")
    return text


def _help(words: Words) -> m.Command:
    return m.Help(topic=tuple(word.lower() for word in words.args))


_BUILDERS: dict[tuple[str, ...], Callable[[Words], m.Command]] = {
    ("help",): _help,
    ("key", "add"): _key_add,
    ("key", "list"): lambda w: m.KeyList(),
    ("key", "rotate"): lambda w: m.KeyRotate(
        name=_key_name(w), secret=_arg(w, 1), verify="--no-verify" not in w.flags
    ),
    ("key", "revoke"): lambda w: m.KeyRevoke(name=_key_name(w)),
    ("key", "delete"): lambda w: m.KeyDelete(name=_key_name(w)),
    ("key", "test"): lambda w: m.KeyTest(name=_key_name(w)),
    ("models",): _models,
    ("agent", "create"): _agent_create,
    ("agent", "set"): _agent_set,
    ("agent", "list"): lambda w: m.AgentList(),
    ("agent", "show"): lambda w: m.AgentShow(name=_agent(w)),
    ("agent", "delete"): lambda w: m.AgentDelete(name=_agent(w)),
    ("agent", "bind"): lambda w: m.AgentBind(
        name=_agent(w), channel=_channel(_arg(w, 1)), all_messages="--all-messages" in w.flags
    ),
    ("agent", "unbind"): lambda w: m.AgentUnbind(name=_agent(w), channel=_channel(_arg(w, 1))),
    ("agent", "default"): lambda w: m.AgentDefault(name=_agent(w)),
    ("me",): lambda w: m.MeView(),
    ("limit", "set"): _limit_set,
    ("limit", "list"): lambda w: m.LimitList(),
    ("limit", "clear"): _limit_clear,
    ("approve",): lambda w: m.Approve(
        request=_request_id(w.args[0]),
        usd=values.usd(w.args[1]) if len(w.args) > 1 else None,
    ),
    ("deny",): lambda w: m.Deny(request=_request_id(w.args[0])),
    ("usage",): lambda w: m.UsageReport(
        since=_since(w), by=values.dimension(w.opts.get("--by", "agent"))
    ),
    ("usage", "export"): lambda w: m.UsageExport(since=_since(w)),
    ("digest", "channel"): lambda w: m.DigestChannel(channel=_channel(_arg(w, 0))),
    ("digest", "at"): _digest_at,
    ("digest", "now"): lambda w: m.DigestNow(day=values.digest_day(_arg(w, 0) or "today")),
    ("digest", "off"): lambda w: m.DigestOff(),
    ("admins", "add"): lambda w: m.AdminsAdd(user=_user(w.args[0])),
    ("admins", "remove"): lambda w: m.AdminsRemove(user=_user(w.args[0])),
    ("admins", "list"): lambda w: m.AdminsList(),
    ("audit",): _audit,
}
