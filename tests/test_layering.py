"""The layering `adapters → bot → storage`, never back, checked on every module's imports.

adapters/ talk to the core only (never to storage/); bot/ imports no adapter and no
chat-platform SDK; storage/ imports neither bot/ nor adapters/. Every import statement
counts, wherever it stands (inside functions and `TYPE_CHECKING` blocks too), and
relative imports are resolved against the importing module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# package -> top-level modules it must never import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "adapters": ("storage",),
    "bot": ("adapters", "slack_sdk", "slack_bolt", "discord"),
    "storage": ("bot", "adapters"),
}


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """(line, absolute module name) for every import in the file under `root`."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    module = _module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            name = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                name = ".".join([*base, name] if name else base)
            found.append((node.lineno, name))
    return found


def _violations(package: str, root: Path = ROOT) -> list[str]:
    files = sorted((root / package).rglob("*.py"))
    assert files, f"no modules found under {package}/"
    bad: list[str] = []
    for path in files:
        for line, name in _imported(path, root):
            if name.split(".")[0] in FORBIDDEN[package]:
                bad.append(f"{path.relative_to(root)}:{line} imports {name}")
    return sorted(set(bad))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layer_imports_nothing_it_must_not(package: str) -> None:
    bad = _violations(package)
    forbidden = ", ".join(FORBIDDEN[package])
    assert not bad, f"{package}/ must not import {forbidden}:\n" + "\n".join(bad)


def test_the_check_sees_every_kind_of_import(tmp_path: Path) -> None:
    """Plain, from-, relative, nested and TYPE_CHECKING imports are all caught."""
    slack = tmp_path / "adapters" / "slack"
    slack.mkdir(parents=True)
    (tmp_path / "adapters" / "__init__.py").write_text("")
    (slack / "__init__.py").write_text("from .. import slack\n")
    (slack / "ok.py").write_text("from bot.core import Core\nfrom . import text\n")
    assert _imported(slack / "ok.py", tmp_path) == [
        (1, "bot.core"),
        (2, "adapters.slack"),
    ]
    (slack / "bad.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "import storage.engine\n"
        "if TYPE_CHECKING:\n"
        "    from storage.models import Workspace\n"
        "def f() -> None:\n"
        "    from storage import slack_store\n"
    )
    assert _violations("adapters", tmp_path) == [
        "adapters/slack/bad.py:2 imports storage.engine",
        "adapters/slack/bad.py:4 imports storage.models",
        "adapters/slack/bad.py:6 imports storage",
    ]
