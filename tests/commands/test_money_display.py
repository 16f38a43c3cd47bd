"""One rule for dollars shown to people (`bot.money.format_usd`), and a session that keeps it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from bot.money import format_pico, format_usd
from tests.console.test_console_e2e import ShellRunner
from tests.fakes.providers import FakeOpenAI

SECRET = "sk-proj-MoneySecretValue0123456789abcdefXYZ"


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        ("0", "$0.00"),
        ("1", "$1.00"),
        ("1234.5", "$1,234.50"),
        ("2.005", "$2.01"),
        ("0.999", "$1.00"),
        ("0.42", "$0.42"),
        ("0.1", "$0.10"),
        ("0.075", "$0.075"),
        ("0.0042", "$0.0042"),
        ("0.00651", "$0.0065"),
        ("0.0001", "$0.0001"),
        ("0.000042", "$0.000042"),
        ("0.00000255", "$0.000003"),  # 2 significant digits, but never past 6 decimals
        ("0.0000015", "$0.000002"),
        ("0.000001", "$0.000001"),
        ("0.00000099", "<$0.000001"),
        ("0.000000000001", "<$0.000001"),
        ("-0.5", "-$0.50"),
    ],
)
def test_the_rule(amount: str, shown: str) -> None:
    assert format_usd(Decimal(amount)) == shown


def test_pico_dollars_and_never_zero_for_a_non_zero_amount() -> None:
    assert format_pico(2_550_000) == "$0.000003"
    assert format_pico(0) == "$0.00"
    for pico in (1, 10, 999_999, 1_000_000, 12_345_678, 10**12 + 1):
        assert not re.fullmatch(r"\$0\.0*", format_pico(pico))


_AMOUNT = re.compile(r"(?<![\w<])\$([\d,]+\.\d+)")


def _follows_the_rule(text: str) -> list[str]:
    """Every `$x.yz` in `text` that breaks the rule."""
    bad = []
    for match in _AMOUNT.finditer(text):
        value = Decimal(match.group(1).replace(",", ""))
        if format_usd(value) != match.group(0):
            bad.append(match.group(0))
    return bad


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(valid_keys=[SECRET], reply="Zebras graze at dawn.") as server:
        yield server


def test_a_sample_session_never_prints_four_zero_decimals(
    fake: FakeOpenAI, database_url: str, tmp_path: Path
) -> None:
    shell = ShellRunner(database_url, tmp_path)
    out = shell(
        f"/byok key add openai prod {SECRET} --base-url {fake.base_url}",
        "/byok models prod",
        "/byok agent create writer --key prod --model gpt-4o-mini --show-cost",
        "Write a haiku about zebras",
        "/byok usage",
        "/byok usage --by model",
        "/byok limit set writer 0.0001 --per day",
        "/byok limit set workspace 5 --per month",
        "/byok limit list",
        "Another haiku please",
        "/byok digest now",
    ).stdout
    assert "writer · gpt-4o-mini · 19 tokens · $0.000006" in out
    assert re.search(r"\$0\.0000(?!\d)", out) is None, out
    assert _AMOUNT.search(out) is not None
    assert _follows_the_rule(out) == [], out
