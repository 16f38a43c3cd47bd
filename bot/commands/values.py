"""Value checks of the grammar: names, numbers, money, periods, dates, times and timezones.

Each parser raises `ValueError` with a short reason; the grammar turns it into a
`ParseError` carrying the command's usage. Reasons never quote a value that could be
a secret (see `shown`).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import zoneinfo
from decimal import Decimal, InvalidOperation

from bot.commands.base import DigestDay, Dimension, Period, Since
from bot.secrets_shape import looks_like_provider_key

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_SAFE_TOKEN = re.compile(r"[A-Za-z0-9_.:#@<>|!/+-]{1,40}")
_KEYISH = re.compile(r"(sk-|sk_|AIza|gsk_|xai-|xox[abprs]-|xapp-)", re.IGNORECASE)
_USD = re.compile(r"\$?(\d{1,12}(\.\d{1,12})?|\.\d{1,12})")
_TEMPERATURE = re.compile(r"\d(\.\d{1,6})?")
_RELATIVE = re.compile(r"(\d{1,4})d")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_HHMM = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
_TZ = re.compile(r"[A-Za-z][A-Za-z0-9_+/-]{0,63}")
MAX_USD = Decimal(1_000_000)
MAX_TOKENS = 1_000_000
RESERVED_NAMES = frozenset({"workspace"})
PERIODS: tuple[Period, ...] = ("day", "month")
DIMENSIONS: tuple[Dimension, ...] = ("agent", "key", "model", "user")


def shown(token: str) -> str:
    """A typed token fit to quote back: short identifier-like text only, never key-shaped."""
    if _SAFE_TOKEN.fullmatch(token) and not _KEYISH.search(token) and not looks_secret(token):
        return f'"{token}"'
    return "that value"


def looks_secret(value: str) -> bool:
    """True for text shaped like a credential (so it is never taken as a name or echoed)."""
    if looks_like_provider_key(value):
        return True
    if len(value) < 20:
        return False
    # Long mixed-case-and-digit runs are how prefix-less keys (Mistral, Groq's old ones) look.
    mixed = any(c.islower() for c in value) and any(c.isupper() for c in value)
    return _KEYISH.match(value) is not None or (mixed and any(c.isdigit() for c in value))


def name(value: str, *, what: str) -> str:
    """A key or agent name: letters, digits, `_ . -`, up to 64 characters, not key-shaped."""
    if looks_secret(value):
        # Most likely a secret typed where the name belongs: refuse without storing or echoing.
        raise ValueError(f"that looks like a secret, not a {what} name; see /byok help key")
    if not NAME.fullmatch(value):
        raise ValueError(
            f"{what} names use letters, digits, '_', '.', '-' (up to 64, starting alphanumeric)"
        )
    return value


def agent_name(value: str) -> str:
    """An agent name that is not a reserved word."""
    checked = name(value, what="agent")
    if checked.lower() in RESERVED_NAMES:
        raise ValueError(f'"{checked}" is reserved; choose another agent name')
    return checked


def positive_int(value: str, *, what: str, maximum: int) -> int:
    """A whole number from 1 to `maximum`."""
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= maximum:
        raise ValueError(f"{what} must be a whole number from 1 to {maximum:,}")
    return int(value)


def temperature(value: str) -> float:
    """A sampling temperature from 0 to 2."""
    if not value.isascii() or not _TEMPERATURE.fullmatch(value) or Decimal(value) > 2:
        raise ValueError("--temperature must be a number from 0 to 2")
    return float(Decimal(value))


def usd(value: str) -> Decimal:
    """A positive dollar amount with at most 12 decimals (`5`, `5.00`, `$0.25`)."""
    if not value.isascii() or not _USD.fullmatch(value.replace(",", "")):
        raise ValueError("the amount must be in dollars, like 5 or 12.50")
    try:
        amount = Decimal(value.replace(",", "").lstrip("$"))
    except InvalidOperation:
        raise ValueError("the amount must be in dollars, like 5 or 12.50") from None
    if not 0 < amount <= MAX_USD:
        raise ValueError(f"the amount must be more than $0 and at most ${MAX_USD:,}")
    return amount


def period(value: str) -> Period:
    """`day` or `month`."""
    lowered = value.lower()
    if lowered not in PERIODS:
        raise ValueError("--per must be day or month")
    return lowered


def dimension(value: str) -> Dimension:
    """`agent`, `key`, `model` or `user`."""
    lowered = value.lower()
    if lowered not in DIMENSIONS:
        raise ValueError("--by must be agent, key, model or user")
    return lowered


def since(value: str) -> Since:
    """`Nd` (the last N days) or a calendar day `YYYY-MM-DD`."""
    lowered = value.lower()
    if match := _RELATIVE.fullmatch(lowered):
        days = int(match.group(1))
        if 1 <= days <= 3660:
            return Since(days=days)
    elif _DAY.fullmatch(lowered):
        try:
            return Since(day=dt.date.fromisoformat(lowered))
        except ValueError:
            pass
    raise ValueError("--since must be 1d, 7d, 30d (any number of days) or a date YYYY-MM-DD")


def digest_day(value: str) -> DigestDay:
    """`today`, `yesterday` or a calendar day `YYYY-MM-DD` (for `digest now`)."""
    lowered = value.lower()
    if lowered in ("today", "yesterday"):
        return "today" if lowered == "today" else "yesterday"
    if _DAY.fullmatch(lowered):
        try:
            return dt.date.fromisoformat(lowered)
        except ValueError:
            pass
    raise ValueError("the day must be today, yesterday or a date YYYY-MM-DD")


def clock_time(value: str) -> str:
    """A 24-hour `HH:MM`, normalised to two-digit hours."""
    match = _HHMM.fullmatch(value)
    if not value.isascii() or match is None:
        raise ValueError("the time must be HH:MM on a 24-hour clock, like 09:00")
    return f"{int(match.group(1)):02d}:{match.group(2)}"


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def timezone(value: str) -> str:
    """An IANA timezone name known to this system (`Europe/Paris`, `UTC`)."""
    if _TZ.fullmatch(value) and value in _zones():
        return value
    if _TZ.fullmatch(value):
        # Accept any capitalisation the user typed, answering with the canonical name.
        lowered = {zone.lower(): zone for zone in _zones()}
        if value.lower() in lowered:
            return lowered[value.lower()]
    raise ValueError("the timezone must be an IANA name like Europe/Paris or America/New_York")
