"""Ask, approve and deny: the flow behind the buttons and `/byok approve|deny`.

Each step is one conditional state change (`storage.approvals`), so a replayed click or a
click on two replicas acts once. Only admins decide, checked on every click and audited
either way; the member hears the decision in a direct message (the console prints it).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal

from sqlmodel import Session

from bot.approvals import requests as words
from bot.boundary import Place, Sender
from bot.clock import to_naive_utc
from bot.commands import refs
from bot.commands.permissions import is_admin
from bot.money import format_usd, from_pico, to_pico
from bot.services import Services
from storage import approvals as store
from storage.approvals import ApprovalRow
from storage.audit import add_audit
from storage.models import Workspace

logger = logging.getLogger(__name__)

NOT_ADMIN = "Only byokbot admins can approve or deny requests."


@dataclass(frozen=True, slots=True)
class Decided:
    """What a decision attempt came to: the reply for the admin, and whom to tell what."""

    reply: str
    member_id: str | None = None
    member_text: str | None = None


def _missing(request_id: str) -> str:
    return f"There is no request {request_id} in this workspace."


def _closed(row: ApprovalRow, *, now: dt.datetime) -> str:
    if row.state in store.OPEN and row.expires_at <= now:
        return f"Request {row.id} expired (requests last an hour)."
    return f"Request {row.id} was already {row.state}; nothing changed."


class Approvals:
    """The approval flow for one set of services."""

    def __init__(self, services: Services) -> None:
        self.services = services

    async def ask(self, *, place: Place, sender: Sender, request_id: str) -> str:
        """The refused member asks the admins: post the request to the digest channel."""
        request_id = words.normalise_id(request_id)
        now = to_naive_utc(self.services.clock())

        def work(session: Session) -> tuple[ApprovalRow | None, str | None, str]:
            conn = session.connection()
            row = store.mark_asked(
                conn,
                workspace_id=place.workspace_id,
                request_id=request_id,
                member_id=sender.user_id,
                now=now,
            )
            workspace = session.get(Workspace, place.workspace_id)
            channel = None if workspace is None else workspace.digest_channel
            if row is None:
                found = store.get(conn, workspace_id=place.workspace_id, request_id=request_id)
                if found is None or found.member_id != sender.user_id:
                    return None, channel, _missing(request_id)
                if found.state == store.ASKED and found.expires_at > now:
                    return None, channel, f"You already asked the admins about request {found.id}."
                return None, channel, _closed(found, now=now)
            add_audit(
                session,
                workspace_id=place.workspace_id,
                actor_id=sender.user_id,
                action="approval.ask",
                target=row.id,
                detail=f"budget={row.budget_id} worst_pusd={row.worst_pusd}",
            )
            return row, channel, ""

        row, channel, line = await self.services.db.session(work)
        if row is None:
            return line
        poster = self.services.posters.get(place.platform)
        if channel is None or poster is None:
            return (
                f"No digest channel is set, so nobody was notified: ask an admin to run "
                f"/byok approve {row.id}."
            )
        member = refs.show_user(sender.user_id, platform=place.platform)
        await poster.post(
            workspace_id=place.workspace_id,
            channel_id=channel,
            text=words.ask_text(row, member=member),
            request_id=row.id,
        )
        return f"Asked the admins (request {row.id}); you will be told when one decides."

    async def decide(
        self,
        *,
        place: Place,
        sender: Sender,
        request_id: str,
        approve: bool,
        usd: Decimal | None = None,
    ) -> str:
        """An admin approves (an allowance) or denies; the member is told. The admin's reply."""
        request_id = words.normalise_id(request_id)
        now = to_naive_utc(self.services.clock())
        action = "approval.approve" if approve else "approval.deny"

        def work(session: Session) -> Decided:
            conn = session.connection()

            def audit(outcome: str, detail: str = "") -> None:
                add_audit(
                    session,
                    workspace_id=place.workspace_id,
                    actor_id=sender.user_id,
                    action=action,
                    target=request_id,
                    outcome=outcome,
                    detail=detail,
                )

            if not is_admin(session, place=place, sender=sender):
                audit("denied")
                return Decided(NOT_ADMIN)
            found = store.get(conn, workspace_id=place.workspace_id, request_id=request_id)
            if found is None:
                audit("error", "unknown request")
                return Decided(_missing(request_id))
            allowance = None
            if approve:
                allowance = found.worst_pusd if usd is None else to_pico(usd, round_up=True)
            row = store.decide(
                conn,
                workspace_id=place.workspace_id,
                request_id=request_id,
                state=store.APPROVED if approve else store.DENIED,
                decided_by=sender.user_id,
                allowance_pusd=allowance,
                now=now,
            )
            if row is None:
                store.expire(conn, workspace_id=place.workspace_id, request_id=request_id, now=now)
                audit("error", f"state={found.state}")
                return Decided(_closed(found, now=now))
            audit("ok", "" if allowance is None else f"allowance_pusd={allowance}")
            member = refs.show_user(row.member_id, platform=place.platform)
            if approve:
                shown = format_usd(from_pico(row.allowance_pusd or 0))
                reply = (
                    f"Approved request {row.id}: {member} gets a one-off allowance of {shown}"
                    f" on {row.budget_label}."
                )
                return Decided(reply, row.member_id, words.approved_text(row))
            return Decided(f"Denied request {row.id}.", row.member_id, words.denied_text(row))

        decided = await self.services.db.session(work)
        if decided.member_id is not None and decided.member_text is not None:
            await self._tell(place, decided.member_id, decided.member_text)
        return decided.reply

    async def _tell(self, place: Place, member_id: str, text: str) -> None:
        """A direct message to the member (best effort: the decision stands either way)."""
        poster = self.services.posters.get(place.platform)
        if poster is None:
            return
        try:
            await poster.post(
                workspace_id=place.workspace_id, channel_id=f"@{member_id}", text=text
            )
        except Exception as exc:  # the platform is failing; the admin's reply still goes
            logger.warning("could not tell a member of a decision: %s", type(exc).__name__)
