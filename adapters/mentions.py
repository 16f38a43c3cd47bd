"""Mass mentions defused in everything the bot posts, whole or streamed (Slack and Discord).

Model output, model ids and echoed user input may hold `<!channel>`, `<!here>`,
`<!everyone>`, `<!subteam^…>` (Slack) or `@everyone`, `@here`, `<@&role>` (Discord).
Each platform has one function that makes such text inert by putting a zero-width
space where the platform's parser would see the mention, so it still reads the same.
A streamed answer goes through `StreamDefuser`, which holds back a tail that the next
chunk could still complete into a mention (`"<!ch"` + `"annel>"`).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable

ZWSP = "\u200b"

# Every Slack `<!…>` control sequence is refused except the HTML/XML markup a model may
# quote in code (`<!--`, `<![CDATA[`, `<!DOCTYPE>` and DTD declarations): deny by default.
_SLACK_CONTROL = re.compile(
    r"<!(?!--|\[CDATA\[|(?:doctype|element|entity|attlist|notation)\b)", re.IGNORECASE
)
# Plain `@channel`/`@here`/`@everyone` only ping with `link_names`, which we never set;
# defused anyway so no rendering path (markdown blocks included) can turn them into pings.
_SLACK_AT = re.compile(r"(?<!\w)@(?=(?:channel|here|everyone)\b)", re.IGNORECASE)
# A tail that one more chunk could turn into a Slack mention.
SLACK_TAIL = re.compile(r"(?:<|<![^\s<>]{0,9}|@\w{0,9})\Z")

_DISCORD_AT = re.compile(r"@(?=everyone|here)", re.IGNORECASE)
_DISCORD_ROLE = re.compile(r"<@&")
DISCORD_TAIL = re.compile(r"(?:<@?|@\w{0,7})\Z")


def slack_safe(text: str) -> str:
    """`text` with every Slack mass mention (`<!channel>`, `<!subteam^…>`, @here…) inert."""
    text = _SLACK_CONTROL.sub("<" + ZWSP + "!", text)
    return _SLACK_AT.sub("@" + ZWSP, text)


def discord_safe(text: str) -> str:
    """`text` with Discord's `@everyone`, `@here` and role mentions `<@&id>` inert."""
    text = _DISCORD_ROLE.sub("<@" + ZWSP + "&", text)
    return _DISCORD_AT.sub("@" + ZWSP, text)


class StreamDefuser:
    """Defuses a text that arrives in chunks: what `feed` returns is final and inert."""

    def __init__(self, defuse: Callable[[str], str], tail: re.Pattern[str]) -> None:
        self._defuse = defuse
        self._tail = tail
        self._held = ""
        self._before = ""  # the last character let through: context for a look-behind

    def feed(self, chunk: str) -> str:
        """The inert text that `chunk` completes; a possible mention's start waits."""
        text = self._held + chunk
        found = self._tail.search(text)
        cut = found.start() if found is not None else len(text)
        self._held = text[cut:]
        return self._release(text[:cut])

    def flush(self) -> str:
        """The held-back rest, inert: the stream has ended."""
        rest, self._held = self._held, ""
        return self._release(rest)

    def _release(self, text: str) -> str:
        # The context character is never `<` or `@` (those are held), so defusing never
        # changes it and the result past it is exactly what defusing the whole text gives.
        before, self._before = self._before, (text[-1:] or self._before)
        return self._defuse(before + text)[len(before) :]


def slack_stream() -> StreamDefuser:
    """A `StreamDefuser` for Slack text."""
    return StreamDefuser(slack_safe, SLACK_TAIL)


def discord_stream() -> StreamDefuser:
    """A `StreamDefuser` for Discord text."""
    return StreamDefuser(discord_safe, DISCORD_TAIL)


class DefusedStream:
    """Base of one streamed answer (a Slack thread, a Discord reply): each chunk defused,
    fed to the platform by `_feed`, and `_finish` once at the end, also after a failure."""

    full: list[str]  # every chunk as generated (what the answer says, before defusing)

    def _defuser(self) -> StreamDefuser:
        raise NotImplementedError

    async def _feed(self, chunk: str) -> None:
        raise NotImplementedError

    async def _finish(self) -> None:
        raise NotImplementedError

    async def run(self, chunks: AsyncIterator[str]) -> str:
        """Consume `chunks` to the end, writing them to the platform; return the full text."""
        defuser = self._defuser()
        try:
            async for chunk in chunks:
                if chunk:
                    self.full.append(chunk)
                    safe = defuser.feed(chunk)
                    if safe:
                        await self._feed(safe)
        finally:
            # Show and close everything generated even when the provider failed mid-stream.
            try:
                rest = defuser.flush()
                if rest:
                    await self._feed(rest)
            finally:
                await self._finish()
        return "".join(self.full)
