"""Text normalisation and the context key guard, on any input hypothesis can think of."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot import safetext
from bot.providers.types import ChatMessage
from bot.turns import keyguard

LEAKED = "sk-proj-Leaked0123456789abcdefghijklmnop"


@given(st.text())
def test_clean_text_always_encodes_and_holds_no_stray_control(text: str) -> None:
    cleaned = safetext.clean(text)
    cleaned.encode("utf-8")  # never raises
    assert all(ch in "\t\n\r" or ord(ch) >= 0x20 for ch in cleaned)
    assert safetext.clean(cleaned) == cleaned


@given(st.text())
def test_encodable_keeps_everything_but_lone_surrogates(text: str) -> None:
    out = safetext.encodable(text)
    out.encode("utf-8")
    assert len(out) == len(text)
    assert all(a == b or b == "\ufffd" for a, b in zip(text, out, strict=True))


def test_lone_surrogates_become_replacement_characters() -> None:
    assert safetext.clean("a\ud800b\udfffc\x00d\x1b[0m") == "a\ufffdb\ufffdcd[0m"
    assert safetext.encodable("a\ud800\x00") == "a\ufffd\x00"  # controls left to the grammar


def test_context_turns_carrying_a_key_are_left_out() -> None:
    turns = [
        ChatMessage("user", "hello"),
        ChatMessage("user", f"my key {LEAKED} ok?"),
        ChatMessage("assistant", f"it is {LEAKED}"),
        ChatMessage("assistant", "hi"),
    ]
    kept, dropped = keyguard.without_keys(turns)
    assert kept == [turns[0], turns[3]] and dropped == 2
