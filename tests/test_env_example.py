"""`.env.example` lists exactly the settings class's variables, each with its real default."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.config import Settings, load_settings
from tests.kits.helpers import REPO

EXAMPLE = REPO / ".env.example"
VARIABLE = re.compile(r"^# ?([A-Z][A-Z0-9_]*)=(.*)$")


def _setting_variables() -> set[str]:
    names = set()
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        assert isinstance(alias, str), "every setting is read from one named variable"
        names.add(alias)
    return names


def _example() -> list[tuple[str, str, str]]:
    """(variable, value, the comment line above it) for every variable line."""
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    found = []
    for number, line in enumerate(lines):
        match = VARIABLE.match(line)
        if match:
            above = lines[number - 1] if number else ""
            found.append((match.group(1), match.group(2), above))
    return found


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No setting in the environment and a working directory without `.env`."""
    for name in _setting_variables():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_every_setting_is_in_the_example_and_nothing_else() -> None:
    listed = [name for name, _value, _above in _example()]
    assert len(listed) == len(set(listed)), "a variable is listed twice"
    settings = _setting_variables()
    assert set(listed) - settings == set(), "listed in .env.example but not a setting"
    assert settings - set(listed) == set(), "a setting missing from .env.example"


def test_every_variable_is_commented_out_under_a_one_line_comment() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert not re.search(r"^[A-Z][A-Z0-9_]*=", text, re.MULTILINE), "only commented-out lines"
    for name, _value, above in _example():
        assert above.startswith("# ") and not VARIABLE.match(above), f"{name} has no comment"
        assert len(above) > len("# ") + 10, f"{name}'s comment says nothing"


def test_the_values_shown_are_the_defaults(clean: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Uncommenting every line changes nothing: what the example shows is the default."""
    defaults = load_settings()
    uncommented = "".join(f"{name}={value}\n" for name, value, _above in _example())
    (tmp_path / ".env").write_text(uncommented, encoding="utf-8")
    assert load_settings() == defaults
    # ...and the .env really was read: a changed value shows.
    (tmp_path / ".env").write_text(uncommented.replace("=3000", "=3999"), encoding="utf-8")
    assert load_settings().http_port == 3999
