"""One logging set-up for the whole process: console or JSON lines, secrets masked.

The redaction filter sits on the root *handlers*, not on loggers, because a logger's
filters only see records logged to that very logger: records from httpx, slack_bolt,
slack_sdk, discord or any other library propagate to the root handlers and pass
through the filter there.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from pathlib import Path
from typing import TextIO

from bot.secrets_shape import redact

CONSOLE_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
# Where the logs go while the console holds the terminal (relative, like ./data/byokbot.db).
LOG_FILE = Path("data", "byokbot.log")

# Libraries that are chatty about their own plumbing; byokbot logs what matters of it
# (e.g. "database migrated from X to Y"). Shown again at DEBUG. httpx logs one INFO line
# per request: one per provider call, 1.5% of the CPU of an answer under load.
_QUIET_BELOW_DEBUG = ("alembic", "apscheduler", "httpx")
_QUIET_ALWAYS = ("asyncio", "matplotlib", "PIL", "hpack")
# SQL echo would log statement parameters and result rows, and httpcore's trace logs
# response headers word for word (a provider may echo a key in one): never wanted in a log.
_SILENT = ("sqlalchemy.engine", "sqlalchemy.pool", "sqlalchemy.orm", "httpcore")


class RedactionFilter(logging.Filter):
    """Render msg % args, exception and stack text, then mask everything secret-shaped."""

    def __init__(self) -> None:
        super().__init__()
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place so every later handler sees only masked text."""
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            message = f"{record.msg!s} (unformattable arguments)"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and exception text."""

    def format(self, record: logging.LogRecord) -> str:
        """Serialise the (already redacted) record."""
        payload: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            payload["exc"] = record.exc_text
        if record.stack_info:
            payload["stack"] = record.stack_info
        return json.dumps(payload, ensure_ascii=False)


def make_handler(*, fmt: str, stream: TextIO | None = None) -> logging.Handler:
    """A stream handler with byokbot's formatter and the redaction filter attached."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(CONSOLE_FORMAT))
    handler.addFilter(RedactionFilter())
    return handler


def configure_logging(*, level: str, fmt: str, stream: TextIO | None = None) -> None:
    """Route every logger to one redacting handler on stderr (`fmt`: console or json)."""
    if fmt not in ("console", "json"):
        raise ValueError(f"unknown log format {fmt!r}")
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    root.addHandler(make_handler(fmt=fmt, stream=stream))
    root.setLevel(level.upper())
    logging.captureWarnings(True)
    # Libraries may have attached their own handlers (discord.py does when asked to);
    # strip them so nothing bypasses the redacting root handler.
    for name in list(logging.root.manager.loggerDict):
        logger = logging.getLogger(name)
        for extra in list(logger.handlers):
            logger.removeHandler(extra)
        logger.propagate = True
    threshold = root.level
    for name in _SILENT:
        logging.getLogger(name).setLevel(max(logging.WARNING, threshold))
    for name in _QUIET_ALWAYS:
        logging.getLogger(name).setLevel(max(logging.INFO, threshold))
    for name in _QUIET_BELOW_DEBUG:
        quiet = threshold > logging.DEBUG
        logging.getLogger(name).setLevel(max(logging.WARNING, threshold) if quiet else 0)


def log_to_file(path: Path = LOG_FILE) -> Path:
    """Move every log record from the terminal to `path` (appended); idempotent.

    The console calls it when it holds a terminal, so log lines never interleave with the
    conversation. The handlers' formatter and redaction filter move along.
    """
    root = logging.getLogger()
    target = path.resolve()
    for handler in root.handlers:
        if isinstance(handler, logging.FileHandler) and Path(handler.baseFilename) == target:
            return path
    path.parent.mkdir(parents=True, exist_ok=True)
    new = logging.FileHandler(path, encoding="utf-8")
    old = list(root.handlers)
    new.setFormatter(old[0].formatter if old else logging.Formatter(CONSOLE_FORMAT))
    new.addFilter(RedactionFilter())
    for handler in old:
        root.removeHandler(handler)
        handler.close()
    root.addHandler(new)
    return path
