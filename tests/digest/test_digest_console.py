"""`byokbot shell` posts a digest: the chart lands in ./data/digests/ and its path is printed."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from bot.digest.chart import PNG_SIGNATURE
from tests.fakes.providers import FakeOpenAI
from tests.kits.helpers import run_byokbot

SECRET = "sk-proj-DigestConsole0123456789abcdefXYZ"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(valid_keys=[SECRET], reply="Zebras graze at dawn.") as server:
        yield server


def test_console_writes_the_chart_and_prints_its_path(
    fake: FakeOpenAI, database_url: str, tmp_path: Path
) -> None:
    env = {
        "BYOKBOT_DATABASE_URL": database_url,
        "BYOKBOT_MASTER_KEY_FILE": str(tmp_path / "master.key"),
        "BYOKBOT_ALLOW_PRIVATE_BASE_URLS": "true",
        "USER": "tester",
    }
    lines = [
        f"/byok key add openai openai-prod {SECRET} --base-url {fake.base_url}",
        "/byok agent create writer --key openai-prod --model gpt-4o-mini",
        "/byok agent default writer",
        "Write a haiku about zebras",
        "/byok digest channel",
        "/byok digest now",
    ]
    before = dt.datetime.now(dt.UTC).date()
    result = run_byokbot("shell", env=env, cwd=tmp_path, stdin="\n".join(lines) + "\n", timeout=120)
    after = dt.datetime.now(dt.UTC).date()
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    found = re.search(
        r"^\[file: (\./data/digests/digest-(\d{4}-\d\d-\d\d)\.png)\]$", result.stdout, re.M
    )
    assert found is not None, result.stdout
    assert dt.date.fromisoformat(found.group(2)) in (before, after)
    path = tmp_path / found.group(1)  # relative to the working directory
    assert path.is_file() and path.read_bytes().startswith(PNG_SIGNATURE)
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] >= 800
    assert "*AI usage today so far — console*" in result.stdout
    assert re.search(
        r"^digest of today so far \(\d{4}-\d\d-\d\d\) posted in #console\.$", result.stdout, re.M
    )
    assert list((tmp_path / "data" / "digests").iterdir()) == [path]  # no temporary left
