"""`/byok models <key> [<filter>]`: what a key can call, with prices; the `--model` check.

Both ask the provider for the key's model list (its list-models call, outside any
database transaction). Prices come from genai-prices, per million tokens, or "unpriced".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from sqlmodel import Session

from bot.commands import values
from bot.commands.base import Command
from bot.commands.context import CommandContext
from bot.commands.fields import arg
from bot.commands.keys import missing_key, stored_spec
from bot.commands.registry import command
from bot.commands.words import Words
from bot.errors import InvalidValue, KeyRejected, ProviderError
from bot.money import format_usd
from bot.pricing import list_prices
from bot.secrets_shape import redact_known
from bot.suggest import closest, either
from storage.keys import get_key
from storage.models import ProviderKey

MAX_LINES = 30  # the whole reply, header and "… more" line included
# Azure calls take a deployment name, which its model list does not show.
_DEPLOYMENT_NAMES = frozenset({"azure-openai"})


@dataclass(frozen=True, slots=True)
class ModelsList(Command):
    """`models <key> [<filter>]`: what the key can call, with prices."""

    action: ClassVar[str] = "models.list"
    key: str
    filter: str | None = None

    @classmethod
    def build(cls, words: Words) -> ModelsList:
        """The key, and a piece of a model id (never a secret) to keep."""
        raw = words.arg(1)
        if raw is not None and (len(raw) > 200 or values.looks_secret(raw)):
            raise ValueError("the filter is a piece of a model id, like 4o or sonnet")
        return cls(key=words.key(), filter=(raw.strip() or None) if raw else None)

    @property
    def target(self) -> str:
        """The key whose models are listed."""
        return self.key


async def fetch_models(ctx: CommandContext, key: ProviderKey) -> list[str]:
    """The ids the key's provider lists; InvalidValue (revoked, undecryptable), ProviderError."""
    spec = stored_spec(ctx, key)
    secret = spec.secret
    try:
        ids = await ctx.services.providers.list_models(spec)
    except ProviderError as exc:
        # The provider layer masks echoed secrets already; this keeps a new path honest.
        exc.args = (redact_known(str(exc), (secret,)),)
        raise
    # A provider could echo the key (or another secret) as a model id: never show one.
    return [model for model in ids if redact_known(model, (secret,)) == model]


def _price(provider: str, model: str) -> str:
    prices = list_prices(provider=provider, model=model)
    if prices is None:
        return "unpriced"
    return f"{format_usd(prices[0])} in · {format_usd(prices[1])} out per 1M tokens"


def _load(session: Session, ctx: CommandContext, *, name: str) -> ProviderKey:
    key = get_key(session, workspace_id=ctx.workspace_id, name=name)
    if key is None:
        raise missing_key(session, ctx, name=name)
    return key


@command(
    "models <key> [<filter>]",
    ModelsList,
    summary="the models a key can call, with prices per million tokens",
    brief="The models a key can call, with prices",
    example="models prod 4o",
    details=(
        "asks the provider for the key's model list; each model with its input/output price"
        " per million tokens (genai-prices) or 'unpriced'. <filter> keeps ids containing it."
    ),
    fields=(arg("key"), arg("filter", optional=True)),
)
async def list_models(ctx: CommandContext, cmd: ModelsList) -> None:
    """The key's models matching the filter, with prices, at most 30 lines."""
    key = await ctx.db(lambda session: _load(session, ctx, name=cmd.key))
    try:
        ids = await fetch_models(ctx, key)
    except KeyRejected as exc:
        await ctx.reply(f"{exc}; check the key with /byok key test {key.name}.")
        return
    except ProviderError as exc:
        await ctx.reply(f"could not list the models of key {key.name}: {exc}")
        return
    wanted = (cmd.filter or "").lower()
    found = [model for model in ids if wanted in model.lower()]
    matching = f' matching "{cmd.filter}"' if cmd.filter else ""
    if not found:
        tail = f"; try /byok models {key.name}" if cmd.filter and ids else ""
        await ctx.reply(f"No models{matching} for key {key.name} ({key.provider}){tail}.")
        return
    shown = found if len(found) < MAX_LINES else found[: MAX_LINES - 2]
    lines = [f"Models of key {key.name} ({key.provider}){matching}: {len(found):,}"]
    lines += [f"• {model} — {_price(key.provider, model)}" for model in shown]
    if len(shown) < len(found):
        lines.append(
            f"… and {len(found) - len(shown):,} more; narrow it with"
            f" /byok models {key.name} <filter>."
        )
    await ctx.reply("\n".join(lines))


async def check_model(ctx: CommandContext, key: ProviderKey, model: str) -> str:
    """'' if the key lists `model`; a note if the list cannot be had; else InvalidValue."""
    try:
        ids = await fetch_models(ctx, key)
    except ProviderError as exc:
        return (
            f" Note: {model} was not checked against the models of key {key.name}"
            f" (could not list them: {exc})."
        )
    bare = model.removeprefix("models/") if key.provider == "gemini" else model
    if not ids or bare in ids:
        return ""
    if key.provider in _DEPLOYMENT_NAMES:
        return (
            f" Note: {model} is not in the model list of key {key.name}; that is fine if it"
            " is the name of one of your Azure deployments."
        )
    near = closest(bare, ids)
    hint = f"; did you mean {either(near)}?" if near else "."
    raise InvalidValue(
        f"key {key.name} ({key.provider}) has no model {model}{hint}"
        f" /byok models {key.name} lists them; --no-verify skips this check"
    )
