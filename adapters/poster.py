"""The one way every adapter posts unprompted (digests, alerts, approval requests, notices).

`Poster.post` is the platform-neutral order of a post, the same on the console, Slack
and Discord: find where it goes, then either one approval request (with the platform's
Approve / Deny where it has buttons) or the text in the platform's pieces followed by
the attached file. A failure of the platform's own calls becomes one `ByokError` naming
the channel (logged as metadata only). Subclasses keep only their platform calls; each
one makes every piece safe (mass mentions defused) in `_pieces` and `_send_request`.
"""

from __future__ import annotations

import logging
from typing import ClassVar, Generic, TypeVar

from bot.errors import ByokError

Target = TypeVar("Target")


class Poster(Generic[Target]):
    """Base of each adapter's `ChannelPoster`: the order of a post; platform calls in hooks.

    `Target` is what a post is written to once found: a channel, a member's DM, a label.
    """

    platform: ClassVar[str] = ""  # named in the error when the platform refuses a post
    errors: ClassVar[tuple[type[Exception], ...]] = ()  # what the platform's calls raise

    async def post(
        self,
        *,
        workspace_id: str,
        channel_id: str,
        text: str,
        file: tuple[str, bytes] | None = None,
        request_id: str | None = None,
    ) -> None:
        """Post `text` (then `file`) to the channel, or approval request `request_id` with
        its buttons; `ByokError` if the platform refuses. `@<user id>` is that member's DM."""
        channel_id = self._channel(channel_id)
        try:
            target = await self._open(workspace_id, channel_id)
            if request_id is not None:
                await self._send_request(target, text, request_id)
                return
            for piece in self._pieces(text):
                await self._send_text(target, piece)
            if file is not None:
                name, content = file
                await self._send_file(target, name, content)
        except self.errors as exc:
            raise self._refused(exc, workspace_id=workspace_id, channel_id=channel_id) from None

    def _channel(self, channel_id: str) -> str:
        """The channel id as the platform takes it (and as a refusal names it)."""
        return channel_id

    async def _open(self, workspace_id: str, channel_id: str) -> Target:
        """Where the post goes; `ByokError` when it may not go there."""
        raise NotImplementedError

    def _pieces(self, text: str) -> list[str]:
        """The text as the platform's messages: made safe, split to its limits, none empty."""
        raise NotImplementedError

    async def _send_text(self, target: Target, piece: str) -> None:
        """One message of the post's text."""
        raise NotImplementedError

    async def _send_request(self, target: Target, text: str, request_id: str) -> None:
        """An approval request: one message with Approve / Deny (where there are buttons)."""
        raise NotImplementedError

    async def _send_file(self, target: Target, name: str, content: bytes) -> None:
        """The attached file (the digest's chart), after the text."""
        raise NotImplementedError

    @staticmethod
    def _reason(exc: BaseException) -> str:
        """A log-safe reason for a platform failure (no content, no token)."""
        return type(exc).__name__

    def _refused(self, exc: Exception, *, workspace_id: str, channel_id: str) -> ByokError:
        """The error for a post the platform refused, logged by the platform's module."""
        reason = self._reason(exc)
        # The platform module's logger: the record keeps the name it always had.
        logging.getLogger(type(self).__module__).warning(
            "post to %s in %s failed (%s)", channel_id, workspace_id, reason
        )
        return ByokError(f"{self.platform} refused the post to {channel_id}: {reason}")
