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
        data = self._data
        for line in lines:
            if line.endswith(b"\r"):
                line = line[:-1]
            # Fast paths for the lines of nearly every event — "event: …", "data: …" and the
            # blank line that dispatches it — as `_line` would handle them: this loop runs
            # for every event of every call.
            if line.startswith(b"data: "):
                data.append(line[6:].decode("utf-8", errors="replace"))
                continue
            if not line:
                if data or self._event:
                    joined = data[0] if len(data) == 1 else "\n".join(data)
                    events.append(SSEvent(self._event or "message", joined))
                    data.clear()
                    self._event = ""
                continue
            if line.startswith(b"event: "):
                self._event = line[7:].decode("utf-8", errors="replace")
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
            self._event = ""
            self._data.clear()
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
