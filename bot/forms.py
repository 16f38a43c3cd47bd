"""Pending key forms: what a private `key add`/`key rotate` form is for, kept in the database.

A platform form (a Discord modal) outlives the process that opened it when byokbot is
restarted or another replica receives its submission, so what the form is for (action,
key name, provider, base URL, verify flag) and who opened it are kept in `pending_forms`
under a random token the form carries. The secret is never part of it: it arrives only
with the submission and goes straight to the command layer.

A form is taken once, by the user who opened it, in the workspace it was opened in,
within `FORM_TIMEOUT_SECONDS`; anything else is one private line and an audited refusal.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets

from sqlmodel import Session

from bot.boundary import Place, SecretForm, Sender
from bot.clock import to_naive_utc
from bot.services import Services
from storage.audit import add_audit
from storage.engine import session_scope
from storage.forms import create_form, prune_forms, take_form
from storage.models import PendingForm
from storage.workspaces import ensure_workspace

logger = logging.getLogger(__name__)

FORM_TIMEOUT_SECONDS = 15 * 60.0
EXPIRED_LINE = "This key form has expired; run /byok key add … again."
TOKEN_BYTES = 24  # 32 URL-safe characters
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")


def valid_token(token: str) -> bool:
    """True when `token` has the shape of a token `PendingForms.open` hands out."""
    return _TOKEN.fullmatch(token) is not None


class PendingForms:
    """Opens and takes pending key forms on the services' database, off the event loop."""

    def __init__(self, services: Services, *, timeout: float = FORM_TIMEOUT_SECONDS) -> None:
        self._services = services
        self._timeout = dt.timedelta(seconds=timeout)

    def _now(self) -> dt.datetime:
        """Naive UTC now, from the services' clock."""
        return to_naive_utc(self._services.clock())

    async def open(self, form: SecretForm, *, place: Place, sender: Sender) -> str:
        """Keep `form` for `sender` in `place`'s workspace; return its token (raises on an
        outage, which the command layer answers)."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        await self._services.db.call(lambda: self._open(token, form, place, sender))
        return token

    def _open(self, token: str, form: SecretForm, place: Place, sender: Sender) -> None:
        now = self._now()
        row = PendingForm(
            token=token,
            workspace_id=place.workspace_id,
            user_id=sender.user_id,
            action=form.action,
            key_name=form.key_name,
            provider=form.provider,
            base_url=form.base_url,
            verify=form.verify,
            created_at=now,
        )
        with session_scope(self._services.engine) as session:
            ensure_workspace(
                session,
                workspace_id=place.workspace_id,
                platform=place.platform,
                name=place.workspace_name,
            )
            pruned = prune_forms(session, opened_before=now - self._timeout)
            create_form(session, row)
        if pruned:
            logger.debug("pruned %d expired key form(s)", pruned)

    async def take(self, token: str, *, place: Place, sender: Sender) -> SecretForm | None:
        """The form `token` if `sender` opened it in this workspace and it has not expired
        nor been taken before; it is gone afterwards. None otherwise (refusal audited)."""
        return await self._services.db.call(lambda: self._take(token, place, sender))

    def _take(self, token: str, place: Place, sender: Sender) -> SecretForm | None:
        with session_scope(self._services.engine) as session:
            row = None
            if valid_token(token):
                row = take_form(
                    session,
                    token=token,
                    workspace_id=place.workspace_id,
                    user_id=sender.user_id,
                    opened_after=self._now() - self._timeout,
                )
            if row is None:
                self._refused(session, place, sender)
                return None
        return SecretForm(
            action=row.action,
            key_name=row.key_name,
            provider=row.provider,
            base_url=row.base_url,
            verify=row.verify,
        )

    def _refused(self, session: Session, place: Place, sender: Sender) -> None:
        add_audit(
            session,
            workspace_id=place.workspace_id,
            actor_id=sender.user_id,
            action="key.form",
            outcome="refused",
            detail="unknown, expired, used or another user's form",
        )
        logger.info("refused a key form submission in %s: not a pending form", place.workspace_id)
