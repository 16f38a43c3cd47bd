"""Parse, check admin rights, run, answer privately — and never let an error escape."""

from __future__ import annotations

import asyncio
import logging
import secrets
import traceback

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlmodel import Session

from bot.boundary import CommandRequest, Place, ReplySink, SecretForm, Sender
from bot.commands import keys
from bot.commands.base import Command
from bot.commands.context import CommandContext
from bot.commands.grammar import parse
from bot.commands.help import Help
from bot.commands.permissions import is_admin, refusal
from bot.commands.registry import spec_of
from bot.dedupe import claim_request
from bot.errors import (
    UNAVAILABLE_LINE,
    CommandError,
    DatabaseUnavailable,
    ParseError,
    ProviderError,
)
from bot.services import Services
from storage.engine import DatabaseDown
from storage.workspaces import ensure_workspace

logger = logging.getLogger(__name__)

UNAVAILABLE = UNAVAILABLE_LINE
_CONCURRENT = "that changed at the same moment elsewhere; run the command again."
_DB_DOWN = (DatabaseDown, DatabaseUnavailable, PoolTimeout)


def error_line(exc: CommandError) -> str:
    """The one-line answer to a command error, plus the syntax line for malformed input."""
    if isinstance(exc, ParseError) and exc.syntax:
        return f"{exc}\n{exc.syntax}"
    return str(exc)


class CommandDispatcher:
    """Runs `/byok` commands for every adapter; replies are always private."""

    def __init__(self, services: Services) -> None:
        self.services = services

    async def handle(self, request: CommandRequest, sink: ReplySink) -> None:
        """Parse, check admin rights, run and answer; never raises (except CancelledError)."""
        ctx = CommandContext(self.services, request.place, request.sender, sink)
        try:
            command = parse(request.text)
        except ParseError as exc:
            await self._answer(ctx, error_line(exc))
            return
        except Exception as exc:  # the grammar promises ParseError only; belt and braces
            await self._internal(ctx, "parse", exc)
            return
        await self._run(ctx, command, request_id=request.event_id)

    async def submit_secret(
        self,
        form: SecretForm,
        secret: str,
        *,
        place: Place,
        sender: Sender,
        sink: ReplySink,
        request_id: str | None = None,
    ) -> None:
        """Finish a `key add`/`key rotate` whose secret came through a private form."""
        ctx = CommandContext(self.services, place, sender, sink)
        try:
            command = keys.from_form(form, secret)
        except ValueError as exc:
            await self._answer(ctx, str(exc))
            return
        if command is None:
            await self._answer(ctx, "that form is not one byokbot knows.")
            return
        await self._run(ctx, command, request_id=request_id)

    async def _run(
        self, ctx: CommandContext, command: Command, *, request_id: str | None = None
    ) -> None:
        try:
            # A replayed request (same trigger id, across replicas) acts once; help needs
            # no database and changes nothing, so it is not claimed.
            if request_id and not isinstance(command, Help):
                claimed = await ctx.db(
                    lambda s: claim_request(
                        s.connection(),
                        workspace_id=ctx.workspace_id,
                        request_id=request_id,
                        now=ctx.now(),
                    )
                )
                if not claimed:
                    return
            if command.admin_only and not await ctx.db(lambda s: self._gate(s, ctx, command)):
                await ctx.reply(refusal(spec_of(command).name))
                return
            await spec_of(command).handler(ctx, command)
        except asyncio.CancelledError:
            raise
        except CommandError as exc:
            if command.mutates:
                await self._audit_failure(ctx, command, exc)
            await self._answer(ctx, error_line(exc))
        except IntegrityError:
            logger.info("command %s lost a race on a unique row", command.action)
            await self._answer(ctx, _CONCURRENT)
        except (*_DB_DOWN, DBAPIError) as exc:
            logger.warning(
                "database unavailable for command %s: %s", command.action, type(exc).__name__
            )
            await self._answer(ctx, UNAVAILABLE)
        except ProviderError as exc:
            # Handlers turn provider failures into lines themselves; this is the safety net.
            await self._answer(ctx, str(exc))
        except Exception as exc:
            await self._internal(ctx, command.action, exc)

    def _gate(self, session: Session, ctx: CommandContext, command: Command) -> bool:
        """Ensure the workspace row; admit admins; audit a refusal in the same transaction."""
        ensure_workspace(
            session,
            workspace_id=ctx.workspace_id,
            platform=ctx.place.platform,
            name=ctx.place.workspace_name,
        )
        if is_admin(session, place=ctx.place, sender=ctx.sender):
            return True
        ctx.audit(session, action=command.action, target=command.target, outcome="denied")
        logger.info("refused %s to a non-admin in %s", command.action, ctx.workspace_id)
        return False

    async def _audit_failure(
        self, ctx: CommandContext, command: Command, exc: CommandError
    ) -> None:
        def work(session: Session) -> None:
            ctx.audit(
                session,
                action=command.action,
                target=command.target,
                outcome="error",
                detail=type(exc).__name__,
            )

        try:
            await ctx.db(work)
        except (*_DB_DOWN, DBAPIError) as failure:
            logger.warning("could not audit failed %s: %s", command.action, type(failure).__name__)

    async def _internal(self, ctx: CommandContext, action: str, exc: Exception) -> None:
        ref = secrets.token_hex(4)
        # Frames only: an exception's message or locals could hold a secret or content.
        frames = "".join(traceback.format_list(traceback.extract_tb(exc.__traceback__)))
        logger.error(
            "command %s failed with %s (ref %s)\n%s", action, type(exc).__name__, ref, frames
        )
        await self._answer(ctx, f"internal error (ref {ref})")

    async def _answer(self, ctx: CommandContext, text: str) -> None:
        try:
            await ctx.reply(text)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the adapter's sink failed: nothing left to tell the user
            logger.warning("could not deliver a command reply: %s", type(exc).__name__)
