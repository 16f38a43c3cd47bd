"""`/byok key add|list|rotate|revoke|delete|test`: secrets go in sealed and come out masked only.

A secret is held in memory just long enough to verify and seal it; it is never put in a
reply, an audit row, a log line or an exception message. Provider calls (verification)
run outside any database transaction.
"""

from __future__ import annotations

import asyncio

import httpx
from sqlmodel import Session

from bot.boundary import SecretForm
from bot.commands import models as m
from bot.commands.context import CommandContext
from bot.commands.display import local_time
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
from storage.keys import agents_using_key, get_key, list_keys
from storage.models import ProviderKey, naive_utcnow, new_id

MAX_SECRET = 4096
_NO_SECRET = "-"


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


async def add(ctx: CommandContext, cmd: m.KeyAdd) -> None:
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


def _put_secret(row: ProviderKey, sealed: Sealed, *, masked: str) -> None:
    row.ciphertext, row.nonce, row.key_version = sealed.ciphertext, sealed.nonce, sealed.key_version
    row.masked, row.status, row.status_reason = masked, "active", None


def _existing(session: Session, ctx: CommandContext, *, name: str) -> ProviderKey:
    found = get_key(session, workspace_id=ctx.workspace_id, name=name)
    if found is None:
        raise missing_key(session, ctx, name=name)
    return found


def missing_key(session: Session, ctx: CommandContext, *, name: str) -> NotFound:
    """NotFound for key `name`, naming up to three close key names."""
    names = [key.name for key in list_keys(session, workspace_id=ctx.workspace_id)]
    line = not_found_line("key", name, names, see="see /byok key list")
    return NotFound(line, kind="key", name=name)


async def rotate(ctx: CommandContext, cmd: m.KeyRotate) -> None:
    """Replace a key's secret in place, so every agent using it switches at once."""
    key = await ctx.db(lambda session: _existing(session, ctx, name=cmd.name))
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
        row = _existing(session, ctx, name=cmd.name)
        if row.id != key.id:
            raise Conflict(f"key {cmd.name} changed meanwhile; run the command again")
        sealed = ctx.services.vault.seal(secret, workspace_id=ctx.workspace_id, key_id=row.id)
        _put_secret(row, sealed, masked=_shown_mask(secret))
        row.rotated_at = naive_utcnow()
        session.add(row)
        ctx.audit(session, action=cmd.action, target=cmd.name, detail=f"verified={cmd.verify}")

    await ctx.db(store)
    await ctx.reply(f"key {cmd.name} rotated; it is now {_shown_mask(secret)} and active.")


async def revoke(ctx: CommandContext, cmd: m.KeyRevoke) -> None:
    """Wipe a key's ciphertext and mark it revoked: unusable from this moment."""

    def work(session: Session) -> tuple[bool, list[str]]:
        row = _existing(session, ctx, name=cmd.name)
        users = agents_using_key(session, workspace_id=ctx.workspace_id, key_id=row.id)
        if row.status == "revoked":
            return False, users
        row.status, row.status_reason = "revoked", f"revoked by {ctx.sender.user_id}"[:200]
        row.ciphertext, row.nonce = b"", b""
        session.add(row)
        ctx.audit(session, action=cmd.action, target=cmd.name, detail=f"agents={len(users)}")
        return True, users

    changed, users = await ctx.db(work)
    if not changed:
        await ctx.reply(f"key {cmd.name} was already revoked.")
        return
    line = f"key {cmd.name} revoked; its secret is wiped."
    if users:
        line += (
            f" Agents using it ({', '.join(users)}) will say their key was revoked until an"
            f" admin sets another with /byok agent set <agent> --key <key>."
        )
    await ctx.reply(line + " Revoke it at the provider too if it may have leaked.")


async def delete(ctx: CommandContext, cmd: m.KeyDelete) -> None:
    """Erase a key no agent uses, sealed secret included; the audit trail keeps the fact."""

    def work(session: Session) -> str:
        row = _existing(session, ctx, name=cmd.name)
        users = agents_using_key(session, workspace_id=ctx.workspace_id, key_id=row.id)
        if users:
            raise Conflict(
                f"key {cmd.name} is used by {', '.join(users)}; give them another key with"
                " /byok agent set <agent> --key <key> (or delete them) first"
            )
        provider, status = row.provider, row.status
        session.delete(row)
        session.flush()
        ctx.audit(
            session,
            action=cmd.action,
            target=cmd.name,
            detail=f"provider={provider} status={status}",
        )
        return provider

    provider = await ctx.db(work)
    await ctx.reply(
        f"key {cmd.name} ({provider}) deleted; its sealed secret is erased. Its past usage"
        " stays in /byok usage and the audit trail. Revoke it at the provider too if it"
        " may have leaked."
    )


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


async def test(ctx: CommandContext, cmd: m.KeyTest) -> None:
    """Verify a stored key with its provider; marks it failing or active accordingly."""
    key = await ctx.db(lambda session: _existing(session, ctx, name=cmd.name))
    spec = stored_spec(ctx, key)
    secret = spec.secret
    status, outcome = "active", "ok"
    try:
        await ctx.services.providers.verify_key(spec)
        line = f"key {cmd.name} works ({key.provider} accepted it)."
    except KeyRejected as exc:
        status, outcome, line = "failing", "refused", f"{exc}; key {cmd.name} is marked failing."
    except ProviderError as exc:
        status, outcome, line = key.status, "error", f"could not test key {cmd.name}: {exc}"
    line = redact_known(line, (secret,))

    def record(session: Session) -> None:
        row = _existing(session, ctx, name=cmd.name)
        if row.id == key.id and row.status != "revoked":
            row.status = status
            row.status_reason = None if status == "active" else line[:200]
            session.add(row)
        ctx.audit(session, action=cmd.action, target=cmd.name, outcome=outcome)

    await ctx.db(record)
    await ctx.reply(line)


def _host(base_url: str | None, provider: str) -> str:
    if not base_url or base_url == default_base_url(provider):
        return ""
    try:
        url = httpx.URL(base_url)
    except (httpx.InvalidURL, ValueError):
        return " · custom base URL"
    port = f":{url.port}" if url.port else ""
    return f" · {url.host}{port}"


async def list_all(ctx: CommandContext, cmd: m.KeyList) -> None:
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
