"""Capture every log record of every logger at DEBUG, rendered the way a handler would.

`.text` is the raw rendering (message with its arguments, exception and stack text),
*before* the production redaction filter: a secret found there was logged by someone,
even if the redaction would have masked it on output. `.redacted_text` is what the
production handlers would write.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from bot.secrets_shape import redact


class LogCapture(logging.Handler):
    """A handler that keeps every record's full rendering."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self.records: list[logging.LogRecord] = []
        self._formatter = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        """Render now: a later handler or filter may rewrite the record."""
        try:
            message = record.getMessage()
        except Exception:
            message = f"{record.msg!s} {record.args!r}"
        parts = [f"{record.levelname} {record.name}: {message}"]
        if record.exc_info:
            parts.append(self._formatter.formatException(record.exc_info))
        elif record.exc_text:
            parts.append(record.exc_text)
        if record.stack_info:
            parts.append(record.stack_info)
        self.lines.append("\n".join(parts))
        self.records.append(record)

    @property
    def text(self) -> str:
        """Everything logged so far, unredacted."""
        return "\n".join(self.lines)

    @property
    def redacted_text(self) -> str:
        """Everything logged so far, as the production redaction filter would write it."""
        return redact(self.text)

    def clear(self) -> None:
        """Forget what was captured so far."""
        self.lines.clear()
        self.records.clear()

    @contextmanager
    def installed(self) -> Iterator[LogCapture]:
        """Attach to the root and to every non-propagating logger, all at DEBUG."""
        root = logging.getLogger()
        saved_root = root.level
        saved_disable = logging.root.manager.disable
        saved: dict[str, tuple[int, bool]] = {}
        logging.disable(logging.NOTSET)
        root.addHandler(self)
        root.setLevel(logging.DEBUG)
        for name, candidate in list(logging.root.manager.loggerDict.items()):
            if not isinstance(candidate, logging.Logger):
                continue
            saved[name] = (candidate.level, candidate.propagate)
            candidate.setLevel(logging.DEBUG)
            if not candidate.propagate:
                candidate.addHandler(self)
        try:
            yield self
        finally:
            root.removeHandler(self)
            root.setLevel(saved_root)
            for name, (level, _propagate) in saved.items():
                logger = logging.getLogger(name)
                logger.setLevel(level)
                if self in logger.handlers:
                    logger.removeHandler(self)
            logging.disable(saved_disable)
