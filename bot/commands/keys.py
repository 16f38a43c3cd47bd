"""`/byok key add|list|rotate`: secrets go in sealed and come out masked only.

A secret is held in memory just long enough to verify and seal it; it is never put in a
reply, an audit row, a log line or an exception message. Provider calls (verification)
run outside any database transaction. `key revoke|delete|test` are in `keystate.py`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import ClassVar

import httpx
from sqlmodel import Session

from bot.boundary import SecretForm
from bot.commands import values
from bot.commands.base import Command
from bot.commands.context import CommandContext
from bot.commands.display import local_time
from bot.commands.fields import arg, option, switch
from bot.commands.registry import command
from bot.commands.words import Words
from bot.errors import (
    Conflict,
    DecryptionError,
    InvalidValue,
    KeyRejected,
    NotFound,
    ProviderError,
    UnsafeBaseURL,
)
from bot.providers import PROVIDER_IDS, default_base_url, key_optional, requires_base_url
from bot.providers.types import KeySpec
from bot.secrets_shape import redact_known
from bot.suggest import not_found_line
from bot.vault.keystore import Sealed, mask
from storage.keys import get_key, list_keys
from storage.models import ProviderKey, naive_utcnow, new_id

MAX_SECRET = 4096
_NO_SECRET = "-"


@dataclass(frozen=True, slots=True)
class KeyAdd(Command):
    """`key add <provider> <name> [<secret>] [--base-url URL] [--no-verify]`."""

    action: ClassVar[str] = "key.add"
    mutates: ClassVar[bool] = True
    provider: str
    name: str
    secret: str | None = field(default=None, repr=False)
    base_url: str | None = None
    verify: bool = True

    @classmethod
    def build(cls, words: Words) -> KeyAdd:
        """The provider (a known one is checked by the handler), name, secret and options."""
        provider = words.args[0].lower()
        if not values.NAME.fullmatch(provider):
            raise ValueError(f"unknown provider {values.shown(provider)}")
        return cls(
            provider=provider,
            name=words.key(1),
            secret=words.arg(2),
            base_url=words.opts.get("--base-url"),
            verify=words.verify(),
        )


@dataclass(frozen=True, slots=True)
class KeyList(Command):
    """`key list`."""

    action: ClassVar[str] = "key.list"


@dataclass(frozen=True, slots=True)
class KeyRotate(Command):
    """`key rotate <name> [<secret>] [--no-verify]`."""

    action: ClassVar[str] = "key.rotate"
    mutates: ClassVar[bool] = True
    name: str
    secret: str | None = field(default=None, repr=False)
    verify: bool = True

    @classmethod
    def build(cls, words: Words) -> KeyRotate:
        """The key, its new secret (or a form asks for it) and `--no-verify`."""
        return cls(name=words.key(), secret=words.arg(1), verify=words.verify())


def _provider(name: str) -> str:
    if name not in PROVIDER_IDS:
        raise InvalidValue(f"unknown provider; choose one of {', '.join(PROVIDER_IDS)}")
    return name


def _clean_secret(secret: str, *, provider: str) -> str:
    """The secret as it will be sent; InvalidValue (never quoting it) if it cannot be a key."""
    secret = secret.strip()
    if not secret or secret == _NO_SECRET:
        if key_optional(provider):
            return _NO_SECRET
        raise InvalidValue(f"{provider} needs a secret")
    if len(secret) > MAX_SECRET:
        raise InvalidValue("that secret is too long to be an API key")
    if not all(0x21 <= ord(char) <= 0x7E for char in secret):
        raise InvalidValue("the secret must be printable ASCII without spaces")
    return secret


def _shown_mask(secret: str) -> str:
    return "(no key)" if secret == _NO_SECRET else mask(secret)


async def _base_url(ctx: CommandContext, provider: str, raw: str | None) -> str | None:
    """The normalised custom base URL (None for the preset); InvalidValue if not allowed."""
    if raw is None:
        if requires_base_url(provider):
            raise InvalidValue(f"{provider} needs --base-url URL")
        return None
    try:
        # check_base_url may resolve DNS, so it runs off the event loop.
        return await asyncio.to_thread(ctx.services.providers.check_base_url, provider, raw)
    except UnsafeBaseURL as exc:
        raise InvalidValue(f"--base-url refused: {exc}") from None


async def _verified(ctx: CommandContext, spec: KeySpec, *, action: str, name: str) -> bool:
    """Check the key with its provider; on failure audit, answer and return False."""
    try:
        await ctx.services.providers.verify_key(spec)
        return True
    except KeyRejected as exc:
        line, outcome = f"{exc}; the key was not stored.", "refused"
    except ProviderError as exc:
        line = f"could not verify the key ({exc}); it was not stored. Use --no-verify to skip."
        outcome = "error"
    # The provider layer already masks what a provider echoes; this keeps the line safe even
    # if a new error path forgets to (the line goes to the chat and the audit trail).
    line = redact_known(line, (spec.secret,))

    def audit(session: Session) -> None:
        ctx.audit(session, action=action, target=name, outcome=outcome, detail=f"verify: {line}")

    await ctx.db(audit)
    await ctx.reply(line)
    return False


def _live(session: Session, ctx: CommandContext, *, name: str) -> ProviderKey | None:
    """The key called `name`; Conflict if it exists and is not revoked."""
    found = get_key(session, workspace_id=ctx.workspace_id, name=name)
    if found is not None and found.status != "revoked":
        raise Conflict(
            f"key {name} already exists; replace its secret with /byok key rotate {name}"
        )
    return found


@command(
    "key add <provider> <name> [<secret>] [--base-url URL] [--no-verify]",
    KeyAdd,
    summary="register a provider key (without <secret> a private form asks for it)",
    brief="Register a provider key (no secret: a private form)",
    example="key add openai prod --base-url https://proxy.example.com/v1 --no-verify",
    details=(
        "providers: openai, anthropic, gemini, azure-openai (needs --base-url), openrouter, groq,"
        " mistral, deepseek, xai, together, ollama (key may be -), openai-compatible (needs"
        " --base-url). The key is checked with the provider before it is stored unless"
        " --no-verify; replies about keys are always private."
    ),
    fields=(
        arg("provider"),
        arg("name"),
        arg("secret", optional=True),
        option("base_url", "--base-url"),
        switch("no_verify", "--no-verify"),
    ),
    asks_for="secret",
)
async def add(ctx: CommandContext, cmd: KeyAdd) -> None:
    """Register a key (opening a private form when no secret was given)."""
    provider = _provider(cmd.provider)
    base_url = await _base_url(ctx, provider, cmd.base_url)
    await ctx.db(lambda session: _live(session, ctx, name=cmd.name))
    if cmd.secret is None:
        form = SecretForm(
            action="add", key_name=cmd.name, provider=provider, base_url=base_url, verify=cmd.verify
        )
        await ctx.sink.open_secret_form(form)
        return
    secret = _clean_secret(cmd.secret, provider=provider)
    spec = KeySpec(provider=provider, secret=secret, base_url=base_url)
    if cmd.verify and not await _verified(ctx, spec, action=cmd.action, name=cmd.name):
        return

    def store(session: Session) -> bool:
        found = _live(session, ctx, name=cmd.name)
        row = found
        if row is None:
            row = ProviderKey(
                id=new_id(),
                workspace_id=ctx.workspace_id,
                name=cmd.name,
                provider=provider,
                ciphertext=b"",
                nonce=b"",
                key_version="",
                masked="",
            )
        # The id is fixed before sealing: the ciphertext is bound to (workspace, key id).
        sealed = ctx.services.vault.seal(secret, workspace_id=ctx.workspace_id, key_id=row.id)
        _put_secret(row, sealed, masked=_shown_mask(secret))
        row.provider, row.base_url, row.created_by = provider, base_url, ctx.sender.user_id
        session.add(row)
        session.flush()
        detail = f"provider={provider} verified={cmd.verify}" + (" replaced" if found else "")
        ctx.audit(session, action=cmd.action, target=cmd.name, detail=detail)
        return found is not None

    replaced = await ctx.db(store)
    checked = "verified" if cmd.verify else "not verified (--no-verify)"
    again = "; it replaces the revoked key of that name" if replaced else ""
    await ctx.reply(
        f"key {cmd.name} ({provider}) stored as {_shown_mask(secret)}, {checked}{again}."
    )


def _host(base_url: str | None, provider: str) -> str:
    if not base_url or base_url == default_base_url(provider):
        return ""
    try:
        url = httpx.URL(base_url)
    except (httpx.InvalidURL, ValueError):
        return " · custom base URL"
    port = f":{url.port}" if url.port else ""
    return f" · {url.host}{port}"


@command("key list", KeyList, summary="list the keys, masked", example="key list")
async def list_all(ctx: CommandContext, cmd: KeyList) -> None:
    """The workspace's keys: name, provider, masked secret, status, custom host, last use."""

    def work(session: Session) -> str:
        keys = list_keys(session, workspace_id=ctx.workspace_id)
        if not keys:
            return "No keys yet. Add one with /byok key add <provider> <name>."
        tz = ctx.tz(session)
        lines = [f"Keys ({len(keys)}):"]
        for key in keys:
            status = key.status
            if key.status == "failing" and key.status_reason:
                status = f"failing: {key.status_reason}"
            used = f"last used {local_time(key.last_used_at, tz)}" if key.last_used_at else "unused"
            lines.append(
                f"• {key.name} — {key.provider} · {key.masked} · {status}"
                f"{_host(key.base_url, key.provider)} · {used}"
            )
        return "\n".join(lines)

    await ctx.reply(await ctx.db(work))


def _put_secret(row: ProviderKey, sealed: Sealed, *, masked: str) -> None:
    row.ciphertext, row.nonce, row.key_version = sealed.ciphertext, sealed.nonce, sealed.key_version
    row.masked, row.status, row.status_reason = masked, "active", None


def existing(session: Session, ctx: CommandContext, *, name: str) -> ProviderKey:
    """The workspace's key `name`, or NotFound naming the closest key names."""
    found = get_key(session, workspace_id=ctx.workspace_id, name=name)
    if found is None:
        raise missing_key(session, ctx, name=name)
    return found


def missing_key(session: Session, ctx: CommandContext, *, name: str) -> NotFound:
    """NotFound for key `name`, naming up to three close key names."""
    names = [key.name for key in list_keys(session, workspace_id=ctx.workspace_id)]
    line = not_found_line("key", name, names, see="see /byok key list")
    return NotFound(line, kind="key", name=name)


def stored_spec(ctx: CommandContext, key: ProviderKey) -> KeySpec:
    """The usable key (secret unsealed in memory); InvalidValue when revoked or undecryptable."""
    if key.status == "revoked":
        raise InvalidValue(f"key {key.name} is revoked; add a new secret with /byok key rotate")
    try:
        secret = ctx.services.vault.unseal(
            Sealed(key.ciphertext, key.nonce, key.key_version),
            workspace_id=ctx.workspace_id,
            key_id=key.id,
        )
    except DecryptionError:
        raise InvalidValue(
            f"key {key.name} cannot be decrypted with this master key; rotate it"
        ) from None
    return KeySpec(provider=key.provider, secret=secret, base_url=key.base_url)


@command(
    "key rotate <name> [<secret>] [--no-verify]",
    KeyRotate,
    summary="replace a key's secret (without <secret> a private form asks for it)",
    brief="Replace a key's secret (no secret: a private form)",
    example="key rotate prod --no-verify",
    details="the new secret is checked with the provider first unless --no-verify.",
    fields=(arg("name"), arg("secret", optional=True), switch("no_verify", "--no-verify")),
    asks_for="secret",
)
async def rotate(ctx: CommandContext, cmd: KeyRotate) -> None:
    """Replace a key's secret in place, so every agent using it switches at once."""
    key = await ctx.db(lambda session: existing(session, ctx, name=cmd.name))
    if cmd.secret is None:
        form = SecretForm(
            action="rotate",
            key_name=cmd.name,
            provider=key.provider,
            base_url=key.base_url,
            verify=cmd.verify,
        )
        await ctx.sink.open_secret_form(form)
        return
    secret = _clean_secret(cmd.secret, provider=key.provider)
    spec = KeySpec(provider=key.provider, secret=secret, base_url=key.base_url)
    if cmd.verify and not await _verified(ctx, spec, action=cmd.action, name=cmd.name):
        return

    def store(session: Session) -> None:
        row = existing(session, ctx, name=cmd.name)
        if row.id != key.id:
            raise Conflict(f"key {cmd.name} changed meanwhile; run the command again")
        sealed = ctx.services.vault.seal(secret, workspace_id=ctx.workspace_id, key_id=row.id)
        _put_secret(row, sealed, masked=_shown_mask(secret))
        row.rotated_at = naive_utcnow()
        session.add(row)
        ctx.audit(session, action=cmd.action, target=cmd.name, detail=f"verified={cmd.verify}")

    await ctx.db(store)
    await ctx.reply(f"key {cmd.name} rotated; it is now {_shown_mask(secret)} and active.")


def from_form(form: SecretForm, secret: str) -> Command | None:
    """The `key add`/`key rotate` a private form finishes (None: not a form we know);
    ValueError for a key name that is not one."""
    name = values.name(form.key_name, what="key")
    if form.action == "add":
        return KeyAdd(
            provider=(form.provider or "").lower(),
            name=name,
            secret=secret,
            base_url=form.base_url,
            verify=form.verify,
        )
    if form.action == "rotate":
        return KeyRotate(name=name, secret=secret, verify=form.verify)
    return None
