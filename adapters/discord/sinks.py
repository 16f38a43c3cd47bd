"""The core's reply sinks for Discord: ephemeral command replies and replies to messages.

Discord has no ephemeral replies to ordinary messages, so a private hint that answers a
chat message goes to the sender's DMs instead of the channel. Every text is defused
(`discord_safe`) and every send carries `AllowedMentions.none()`.
"""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import discord

from adapters.discord.buttons import refusal_view
from adapters.discord.secret_form import SecretModal
from adapters.discord.streaming import DISCORD_ERRORS, NO_PINGS, ReplyStream, error_reason
from adapters.discord.translation import split_text
from adapters.mentions import discord_safe
from bot.boundary import NonStreamingSink, SecretForm

logger = logging.getLogger(__name__)

# Discord's per-file upload limit where an interaction does not say (no server boosts).
DEFAULT_FILESIZE_LIMIT = 10 * 1024 * 1024

# Keeps a form's metadata with the core (`Core.open_form`) and returns the form's token.
OpenForm = Callable[[SecretForm], Awaitable[str]]


def _size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MiB"
    return f"{size / 1024:.0f} KiB" if size >= 1024 else f"{size:,} bytes"


class InteractionSink(NonStreamingSink):
    """Answers a `/byok` interaction: always ephemeral, a key form as a modal.

    `open_form` is given to the sinks of commands, which may open a key form; the sink
    answering a form's submission has none.
    """

    def __init__(
        self, interaction: discord.Interaction[Any], *, open_form: OpenForm | None = None
    ) -> None:
        self._interaction = interaction
        self._open_form = open_form

    async def send(self, text: str, *, private: bool = True) -> None:
        """Reply privately (a command, and above all a key command, is never public)."""
        for piece in split_text(discord_safe(text)):
            if piece.strip():
                await self._reply(content=piece)

    async def send_refusal(self, text: str, *, request_id: str) -> None:
        """An ephemeral refusal with its **Ask an admin** button."""
        guild = self._interaction.guild_id
        await self._reply(
            content=discord_safe(text)[:2000], view=refusal_view(request_id, guild_id=guild)
        )

    async def _reply(self, **kwargs: Any) -> bool:
        """Send one ephemeral answer; False (logged) when Discord refused it."""
        response = self._interaction.response
        try:
            if not response.is_done():
                await response.send_message(ephemeral=True, allowed_mentions=NO_PINGS, **kwargs)
            else:
                await self._interaction.followup.send(
                    ephemeral=True, allowed_mentions=NO_PINGS, **kwargs
                )
        except DISCORD_ERRORS as exc:
            logger.warning("could not answer an interaction (%s)", error_reason(exc))
            return False
        return True

    async def send_file(
        self, *, filename: str, content: bytes, title: str = "", private: bool = True
    ) -> None:
        """An ephemeral file (CSV export); one line instead when Discord cannot take it.

        A deferred interaction whose only follow-up failed would stay "thinking…" with no
        answer, so a file over the size Discord accepts here, or a refused upload, is
        answered with a line saying so.
        """
        limit = getattr(self._interaction, "filesize_limit", None) or DEFAULT_FILESIZE_LIMIT
        if len(content) > limit:
            await self.send(
                f"{filename} is too large to send here ({_size(len(content))}; Discord takes "
                f"files up to {_size(limit)}). Ask for a shorter period with the since option."
            )
            return
        file = discord.File(io.BytesIO(content), filename)
        if not await self._reply(content=discord_safe(title) or None, file=file):
            await self.send(f"{filename} could not be sent: Discord refused the upload.")

    async def open_secret_form(self, form: SecretForm) -> None:
        """Open the modal; only possible as the interaction's first response.

        The form's metadata goes to the database first (a database outage raises here and
        the command layer answers it); the modal carries only the token. It is stopped
        once sent, so discord.py's view store keeps nothing: the submission is handled
        from the token by the adapter, in this process or in a restarted one.
        """
        response = self._interaction.response
        if response.is_done() or self._open_form is None:
            await self.send(f"Run `/byok key {form.action}` again to open the form.")
            return
        modal = SecretModal(form, token=await self._open_form(form))
        try:
            await response.send_modal(modal)
        except DISCORD_ERRORS as exc:
            logger.info("could not open the key form (%s)", error_reason(exc))
            await self.send("The key form could not be opened; run the command again.")
        finally:
            modal.stop()


class MessageSink:
    """Answers a chat message with (streamed) replies; private hints go to the sender's DMs."""

    def __init__(self, message: discord.Message) -> None:
        self._message = message
        self.last_stream: ReplyStream | None = None

    async def send(self, text: str, *, private: bool = False) -> None:
        """A whole reply to the message, or a DM only the sender sees."""
        try:
            for piece in split_text(discord_safe(text)):
                if not piece.strip():
                    continue
                if private:
                    await self._message.author.send(piece, allowed_mentions=NO_PINGS)
                else:
                    await self._message.reply(
                        piece, mention_author=False, allowed_mentions=NO_PINGS
                    )
        except DISCORD_ERRORS as exc:
            logger.warning(
                "could not answer a message in channel %s (%s)",
                self._message.channel.id,
                error_reason(exc),
            )

    async def stream(self, chunks: AsyncIterator[str]) -> str:
        """Stream the answer as replies edited as it grows; returns the full text."""
        self.last_stream = ReplyStream(self._message)
        return await self.last_stream.run(chunks)

    async def send_file(
        self, *, filename: str, content: bytes, title: str = "", private: bool = False
    ) -> None:
        """A file as a reply, or in the sender's DMs when private."""
        file = discord.File(io.BytesIO(content), filename)
        caption = discord_safe(title) or None
        try:
            if private:
                await self._message.author.send(
                    content=caption, file=file, allowed_mentions=NO_PINGS
                )
            else:
                await self._message.reply(
                    content=caption, file=file, mention_author=False, allowed_mentions=NO_PINGS
                )
        except DISCORD_ERRORS as exc:
            logger.warning("could not send a file (%s)", error_reason(exc))

    async def send_refusal(self, text: str, *, request_id: str) -> None:
        """The refusal in the sender's DMs (Discord has no ephemeral message replies), with
        its **Ask an admin** button; the button names the guild the refusal is about."""
        guild = self._message.guild
        view = refusal_view(request_id, guild_id=None if guild is None else guild.id)
        try:
            await self._message.author.send(
                discord_safe(text)[:2000], view=view, allowed_mentions=NO_PINGS
            )
        except DISCORD_ERRORS as exc:
            logger.warning("could not send a refusal by DM (%s)", error_reason(exc))

    async def open_secret_form(self, form: SecretForm) -> None:
        """A message cannot open a modal: point the user at the app command."""
        await self.send(
            f"Use `/byok key {form.action}` to enter the key in a private form.", private=True
        )
