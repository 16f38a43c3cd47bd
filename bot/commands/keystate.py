"""`/byok key revoke|delete|test`: a stored key made unusable, erased, or checked again."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from sqlmodel import Session

from bot.commands.base import OnKey
from bot.commands.context import CommandContext
from bot.commands.fields import arg
from bot.commands.keys import existing, stored_spec
from bot.commands.registry import command
from bot.errors import Conflict, KeyRejected, ProviderError
from bot.secrets_shape import redact_known
from storage.keys import agents_using_key


@dataclass(frozen=True, slots=True)
class KeyRevoke(OnKey):
    """`key revoke <name>`."""

    action: ClassVar[str] = "key.revoke"
    mutates: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class KeyDelete(OnKey):
    """`key delete <name>`: only a key no agent uses."""

    action: ClassVar[str] = "key.delete"
    mutates: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class KeyTest(OnKey):
    """`key test <name>`."""

    action: ClassVar[str] = "key.test"
    mutates: ClassVar[bool] = True


@command(
    "key revoke <name>",
    KeyRevoke,
    summary="make a key unusable at once",
    example="key revoke prod",
    details="the secret is wiped at once; agents using the key stop answering.",
    fields=(arg("name"),),
)
async def revoke(ctx: CommandContext, cmd: KeyRevoke) -> None:
    """Wipe a key's ciphertext and mark it revoked: unusable from this moment."""

    def work(session: Session) -> tuple[bool, list[str]]:
        row = existing(session, ctx, name=cmd.name)
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


@command(
    "key delete <name>",
    KeyDelete,
    summary="erase a key no agent uses (the audit trail keeps that it existed)",
    brief="Erase a key no agent uses",
    example="key delete prod",
    details=(
        "only a key no agent uses (move them with agent set --key first); a revoked key can"
        " be deleted too. The audit trail and past usage keep its name."
    ),
    fields=(arg("name"),),
)
async def delete(ctx: CommandContext, cmd: KeyDelete) -> None:
    """Erase a key no agent uses, sealed secret included; the audit trail keeps the fact."""

    def work(session: Session) -> str:
        row = existing(session, ctx, name=cmd.name)
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


@command(
    "key test <name>",
    KeyTest,
    summary="check a key against its provider",
    example="key test prod",
    fields=(arg("name"),),
)
async def test(ctx: CommandContext, cmd: KeyTest) -> None:
    """Verify a stored key with its provider; marks it failing or active accordingly."""
    key = await ctx.db(lambda session: existing(session, ctx, name=cmd.name))
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
        row = existing(session, ctx, name=cmd.name)
        if row.id == key.id and row.status != "revoked":
            row.status = status
            row.status_reason = None if status == "active" else line[:200]
            session.add(row)
        ctx.audit(session, action=cmd.action, target=cmd.name, outcome=outcome)

    await ctx.db(record)
    await ctx.reply(line)
