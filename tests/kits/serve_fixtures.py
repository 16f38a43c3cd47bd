"""Fixtures every platform folder shares (tests/slack, tests/discord): `provider`, `serve`.

Import them into a platform's conftest.py, which defines `env` (the environment `serve`
runs `byokbot serve` with) and the platform's own fake and driver:

    from tests.kits.serve_fixtures import *  # noqa: F403

`usage_rows` (not a fixture) counts what the serve process has recorded so far.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.fakes.fixtures import _openai_server, openai_fake
from tests.fakes.providers import FakeOpenAI
from tests.kits.helpers import ServeProcess

# `provider` needs `openai_fake`, which needs the session server: pytest must see all three.
__all__ = ["_openai_server", "openai_fake", "provider", "serve"]


@pytest.fixture
def provider(request: pytest.FixtureRequest) -> FakeOpenAI:
    """The fake OpenAI the tests' agents answer with (`openai_fake`: reset around the test)."""
    server: FakeOpenAI = request.getfixturevalue("openai_fake")
    return server


@pytest.fixture
def serve(env: dict[str, str], tmp_path: Path) -> Iterator[ServeProcess]:
    """The real `byokbot serve` process with the platform's `env`, stopped after the test."""
    with ServeProcess(env=env, cwd=tmp_path) as process:
        yield process


def usage_rows(engine: Engine) -> int:
    """How many usage rows there are now (a fresh connection: no stale snapshot)."""
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM usage_events")).scalar_one())
