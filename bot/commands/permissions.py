"""Who may manage byokbot: platform admins (the adapter's fail-closed verdict) + granted admins."""

from __future__ import annotations

from sqlmodel import Session

from bot.boundary import Place, Sender, Standing
from storage.admins import is_granted


def is_admin(session: Session, *, place: Place, sender: Sender) -> bool:
    """True if the sender may run management commands in this workspace.

    The platform's negative verdict (guest, external user, bot, failed look-up) wins over
    a grant: SPEC Guarantee 3.
    """
    standing = sender.standing
    if standing is Standing.NEVER:
        return False
    if standing is Standing.PLATFORM_ADMIN:
        return True
    return is_granted(session, workspace_id=place.workspace_id, user_id=sender.user_id)


def refusal(command: str) -> str:
    """The private line a non-admin gets for a command (its words: "key add")."""
    return (
        f"Only byokbot admins can use /byok {command}. Workspace admins can grant"
        " access with /byok admins add @you."
    )
