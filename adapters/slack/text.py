"""Slack message text: escaping and splitting answers that are over Slack's limits."""

from __future__ import annotations

# Slack truncates `text` past 40,000 characters and renders blocks of about 4,000 best;
# chat.startStream/appendStream take markdown of up to 12,000 characters per call.
MESSAGE_LIMIT = 3_900
STREAM_PART_LIMIT = 12_000
MAX_CHARS_IN_MESSAGES = 39_000


def escape(text: str) -> str:
    """Escape `&`, `<`, `>` so model output cannot ping `<!channel>` or forge links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cut_point(text: str, limit: int) -> int:
    """Where to split `text` at or before `limit`: a newline, else a space, else hard."""
    if len(text) <= limit:
        return len(text)
    floor = int(limit * 0.6)
    for sep in ("\n\n", "\n", " "):
        at = text.rfind(sep, floor, limit)
        if at > 0:
            return at + len(sep)
    return limit


def split_text(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """`text` in consecutive pieces of at most `limit` characters, split at natural breaks."""
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        at = cut_point(rest, limit)
        pieces.append(rest[:at])
        rest = rest[at:]
    if rest or not pieces:
        pieces.append(rest)
    return pieces
