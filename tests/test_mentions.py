"""The mass-mention defusers of adapters/mentions.py, whole and streamed in any chunking.

Whatever a text holds and however it is cut into chunks, what a `StreamDefuser` lets
through is exactly the whole text defused: no mention is ever completed across a chunk
boundary, and apart from the zero-width spaces nothing changes.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.mentions import (
    ZWSP,
    StreamDefuser,
    discord_safe,
    discord_stream,
    slack_safe,
    slack_stream,
)

SLACK_ACTIVE = re.compile(
    r"<!(?:channel|here|everyone|subteam|group)|(?<!\w)@(?:channel|here|everyone)\b",
    re.IGNORECASE,
)
DISCORD_ACTIVE = re.compile(r"@(?:everyone|here)|<@&", re.IGNORECASE)
PIECES = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<!subteam^S123|@team>",
    "<!here|here>",
    "@channel",
    "@here",
    "@everyone",
    "<@&123>",
    "<!DOCTYPE html>",
    "<!-- note -->",
    "a@b.io",
    "<",
    "!",
    "@",
    "&",
    "ch",
    "annel>",
    "ever",
    "yone",
    " ",
    "\n",
    "x",
]


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("<!channel>", f"<{ZWSP}!channel>"),
        ("<!HERE>", f"<{ZWSP}!HERE>"),
        ("<!subteam^S123|@team>", f"<{ZWSP}!subteam^S123|@team>"),
        ("ping @everyone now", f"ping @{ZWSP}everyone now"),
        ("<!DOCTYPE html><!-- x -->", "<!DOCTYPE html><!-- x -->"),  # code stays intact
        ("mail admin@channel.io", "mail admin@channel.io"),
        ("<@U123> and <#C1>", "<@U123> and <#C1>"),  # one person or a channel link: no blast
    ],
)
def test_slack_safe(raw: str, safe: str) -> None:
    assert slack_safe(raw) == safe


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("@everyone", f"@{ZWSP}everyone"),
        ("x@here", f"x@{ZWSP}here"),
        ("<@&42>", f"<@{ZWSP}&42>"),
        ("<@42> <#7>", "<@42> <#7>"),
    ],
)
def test_discord_safe(raw: str, safe: str) -> None:
    assert discord_safe(raw) == safe


def _streamed(defuser: StreamDefuser, text: str, cuts: list[int]) -> str:
    out, start = [], 0
    for cut in sorted(set(cuts)):
        out.append(defuser.feed(text[start:cut]))
        start = cut
    out.append(defuser.feed(text[start:]))
    out.append(defuser.flush())
    return "".join(out)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from(PIECES), max_size=30),
    st.lists(st.integers(min_value=0, max_value=400), max_size=30),
)
def test_streams_never_complete_a_mention_across_chunks(pieces: list[str], cuts: list[int]) -> None:
    text = "".join(pieces)
    cuts = [c for c in cuts if c <= len(text)]
    for make, whole, active in (
        (slack_stream, slack_safe, SLACK_ACTIVE),
        (discord_stream, discord_safe, DISCORD_ACTIVE),
    ):
        shown = _streamed(make(), text, cuts)
        assert shown == whole(text)
        assert not active.search(shown)
        assert shown.replace(ZWSP, "") == text


def test_a_split_mention_is_held_back_until_it_is_decided() -> None:
    defuser = slack_stream()
    assert defuser.feed("Hi <!ch") == "Hi "
    assert defuser.feed("annel>!") == f"<{ZWSP}!channel>!"
    assert defuser.feed(" <") == " "
    assert defuser.flush() == "<"
