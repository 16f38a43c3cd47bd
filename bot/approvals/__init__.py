"""Ask an admin: approval requests for calls a hard budget refused, and their one-off allowances.

`bot.approvals.decisions.Approvals` (ask, approve, deny) is imported where it is used: it
checks admin rights through the command layer, which a message-only process need not load.
"""

from __future__ import annotations

from bot.approvals.requests import console_hint, new_request_id, open_for_refusal

__all__ = ["console_hint", "new_request_id", "open_for_refusal"]
