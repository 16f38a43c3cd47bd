"""Did-you-mean: the closest existing names to a mistyped one (stdlib ``difflib``)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

MAX_SUGGESTIONS = 3
# difflib's ratio below which a name is not offered ("claud" vs "claude" is 0.91).
_CUTOFF = 0.6


def closest(word: str, names: Iterable[str], *, limit: int = MAX_SUGGESTIONS) -> list[str]:
    """Up to `limit` of `names` closest to `word`, best first (case-insensitive)."""
    by_lower: dict[str, str] = {}
    for name in names:
        by_lower.setdefault(name.lower(), name)
    found = difflib.get_close_matches(word.lower(), list(by_lower), n=limit, cutoff=_CUTOFF)
    return [by_lower[match] for match in found]


def either(names: list[str]) -> str:
    """`a`, `a or b`, `a, b or c` — each in backticks."""
    quoted = [f"`{name}`" for name in names]
    if len(quoted) <= 1:
        return "".join(quoted)
    return ", ".join(quoted[:-1]) + " or " + quoted[-1]


def did_you_mean(word: str, names: Iterable[str]) -> str:
    """`; did you mean `writer`?` (empty when nothing is close), to end a one-line error."""
    found = closest(word, names)
    return f"; did you mean {either(found)}?" if found else ""


def not_found_line(kind: str, name: str, names: Iterable[str], *, see: str) -> str:
    """`no agent called claud; did you mean `claude`?` or `no key called x; see /byok key list`."""
    hint = did_you_mean(name, names)
    return f"no {kind} called {name}{hint}" if hint else f"no {kind} called {name}; {see}"
