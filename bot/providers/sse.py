"""A small incremental Server-Sent Events decoder (bytes in, events out)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SSEvent:
    """One dispatched event: its ``event:`` name (``message`` if none) and joined ``data:``."""

    event: str
    data: str


class SSEDecoder:
    """Feed raw chunks; get complete events back (WHATWG event-stream rules, LF or CRLF)."""

    __slots__ = ("_buffer", "_data", "_event")

    def __init__(self) -> None:
        self._buffer = b""
        self._event = ""
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[SSEvent]:
        """Consume a chunk and return the events it completed."""
        if self._buffer:
            chunk = self._buffer + chunk
        lines = chunk.split(b"\n")
        self._buffer = lines.pop()  # an incomplete last line waits for the next chunk
        events: list[SSEvent] = []
        for line in lines:
            if line.endswith(b"\r"):
                line = line[:-1]
            # Fast path for the common "data: {...}" line.
            if line.startswith(b"data: "):
                self._data.append(line[6:].decode("utf-8", errors="replace"))
                continue
            event = self._line(line)
            if event is not None:
                events.append(event)
        return events

    def finish(self) -> list[SSEvent]:
        """Flush at end of stream: a last event without its blank line still counts."""
        events: list[SSEvent] = []
        if self._buffer:
            line, self._buffer = self._buffer.rstrip(b"\r"), b""
            event = self._line(line)
            if event is not None:
                events.append(event)
        event = self._line(b"")
        if event is not None:
            events.append(event)
        return events

    def _line(self, raw: bytes) -> SSEvent | None:
        if not raw:
            if not self._data and not self._event:
                return None
            event = SSEvent(self._event or "message", "\n".join(self._data))
            self._event, self._data = "", []
            return event
        line = raw.decode("utf-8", errors="replace")
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        # "id" and "retry" fields are irrelevant for one-shot provider streams.
        return None
