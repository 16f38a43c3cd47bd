"""The core's single entry point for adapters: commands, messages, secret forms.

Whatever goes wrong inside, an adapter gets one line through its sink, never an
exception: a database outage answers "temporarily unavailable" (and, because budgets
are checked in the database, no provider call is made meanwhile); anything unexpected
is logged (metadata only) and answered with a generic line.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot import metrics, safetext
from bot.boundary import CommandRequest, IncomingMessage, Place, ReplySink, SecretForm, Sender
from bot.dedupe import Deduper, claim_request
from bot.errors import UNAVAILABLE_LINE, DatabaseUnavailable
from bot.forms import EXPIRED_LINE, PendingForms
from bot.services import Services
from bot.transactions import is_outage
from bot.turns.runner import TurnRunner

if TYPE_CHECKING:
    from bot.approvals.decisions import Approvals
    from bot.commands import CommandDispatcher

logger = logging.getLogger(__name__)

UNAVAILABLE = UNAVAILABLE_LINE
INTERNAL = "byokbot hit an internal error and could not finish that; the error was logged."


class Core:
    """Platform-neutral bot: adapters call these coroutines and nothing else."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._turns = TurnRunner(services, deduper=Deduper())
        self._forms = PendingForms(services)
        self._approver: Approvals | None = None
        self._dispatcher: CommandDispatcher | None = None

    def _commands(self) -> CommandDispatcher:
        # Imported on first use: the command layer is large and a message-only process
        # (or a bench) should not pay for it at start.
        if self._dispatcher is None:
            from bot.commands import CommandDispatcher

            self._dispatcher = CommandDispatcher(self.services)
        return self._dispatcher

    @property
    def _approvals(self) -> Approvals:
        # Imported on first use like the commands (it checks admin rights through them).
        if self._approver is None:
            from bot.approvals.decisions import Approvals

            self._approver = Approvals(self.services)
        return self._approver

    async def handle_command(self, request: CommandRequest, sink: ReplySink) -> None:
        """Run one `/byok …` command and answer privately through `sink`."""
        request = safetext.clean_command(request)  # adapters normalise too: defence in depth
        try:
            await self._commands().handle(request, sink)
            metrics.count_command(platform=request.place.platform, outcome="handled")
        except Exception as exc:
            metrics.count_command(platform=request.place.platform, outcome=_outcome(exc))
            await self._fail(exc, sink, what="command")

    async def handle_message(self, message: IncomingMessage, sink: ReplySink) -> None:
        """Route one chat message to its agent (or ignore it) and answer through `sink`."""
        message = safetext.clean_message(message)  # adapters normalise too: defence in depth
        try:
            await self._turns.run(message, sink)
            metrics.count_message(platform=message.place.platform, outcome="handled")
        except Exception as exc:
            metrics.count_message(platform=message.place.platform, outcome=_outcome(exc))
            await self._fail(exc, sink, what="message")

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
        """Finish a `key add`/`key rotate` whose secret came through a private form;
        `request_id` (the submission's trigger id) makes a replayed submission act once."""
        secret = safetext.encodable(secret)
        try:
            await self._commands().submit_secret(
                form, secret, place=place, sender=sender, sink=sink, request_id=request_id
            )
        except Exception as exc:
            await self._fail(exc, sink, what="secret form")

    async def open_form(self, form: SecretForm, *, place: Place, sender: Sender) -> str:
        """Keep a form's metadata (never a secret) in the database; return the token the
        platform form carries, for `submit_form`.

        Called from a sink's `open_secret_form` while a command runs: a database outage
        raises, and the command layer answers it with its one line.
        """
        return await self._forms.open(form, place=place, sender=sender)

    async def submit_form(
        self, token: str, secret: str, *, place: Place, sender: Sender, sink: ReplySink
    ) -> None:
        """Finish the pending form `token` with the submitted secret, whichever process
        opened it. Only once, only by the user who opened it, only before it expires:
        otherwise one private line, and nothing is stored."""
        try:
            form = await self._forms.take(token, place=place, sender=sender)
        except Exception as exc:
            await self._fail(exc, sink, what="secret form")
            return
        if form is None:
            try:
                await sink.send(EXPIRED_LINE, private=True)
            except Exception as exc:  # the platform is failing; nothing more to do
                logger.warning("could not send the expired-form line: %s", type(exc).__name__)
            return
        await self.submit_secret(form, secret, place=place, sender=sender, sink=sink)

    async def ask_admin(
        self,
        request_id: str,
        *,
        place: Place,
        sender: Sender,
        sink: ReplySink,
        click_id: str | None = None,
    ) -> None:
        """The **Ask an admin** button: post approval request `request_id` to the digest
        channel; `click_id` (the platform's trigger/interaction id) makes a replay act once."""
        try:
            if click_id and not await self._claim_click(place, click_id):
                return
            line = await self._approvals.ask(place=place, sender=sender, request_id=request_id)
            await sink.send(line, private=True)
        except Exception as exc:
            await self._fail(exc, sink, what="approval request")

    async def decide_request(
        self,
        request_id: str,
        *,
        approve: bool,
        place: Place,
        sender: Sender,
        sink: ReplySink,
        click_id: str | None = None,
    ) -> None:
        """The **Approve** / **Deny** buttons: admins only (checked now, audited either way)."""
        try:
            if click_id and not await self._claim_click(place, click_id):
                return
            line = await self._approvals.decide(
                place=place, sender=sender, request_id=request_id, approve=approve
            )
            await sink.send(line, private=True)
        except Exception as exc:
            await self._fail(exc, sink, what="approval decision")

    async def _claim_click(self, place: Place, click_id: str) -> bool:
        now = self.services.clock()
        return await self.services.db.session(
            lambda s: claim_request(
                s.connection(), workspace_id=place.workspace_id, request_id=click_id, now=now
            )
        )

    async def _fail(self, exc: Exception, sink: ReplySink, *, what: str) -> None:
        if is_outage(exc) or isinstance(exc, DatabaseUnavailable):
            logger.warning("%s not handled: database unreachable", what)
            line = UNAVAILABLE
        else:
            # The type and traceback only: our errors never carry content or secrets, and
            # the logging filter redacts anything key-shaped that a library put in one.
            logger.error("%s failed: %s", what, type(exc).__name__, exc_info=exc)
            line = INTERNAL
        try:
            await sink.send(line, private=True)
        except Exception as send_exc:  # the platform itself is failing; nothing more to do
            logger.warning("could not send the %s error line: %s", what, type(send_exc).__name__)


def _outcome(exc: Exception) -> str:
    """The metrics word for an exception that reached the core's edge."""
    return "unavailable" if is_outage(exc) or isinstance(exc, DatabaseUnavailable) else "failed"
