"""Operating `byokbot serve`: `/metrics` behind a bearer token, `/healthz` contents, warnings.

Everything runs through the real `byokbot serve` process; the database outages are real
(a cut TCP proxy in front of PostgreSQL, a SQLite file moved away).
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import psycopg
from sqlalchemy.engine import make_url

from bot.vault.masterkey import generate_key
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_driver import SIGNING_SECRET, serve_env
from tests.kits.helpers import ServeProcess
from tests.kits.tcpproxy import TcpProxy

METRICS_TOKEN = "planted-metrics-token-9c41d7e2b0"
PLATFORM_VARIABLES = (
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "SLACK_CLIENT_ID",
    "SLACK_CLIENT_SECRET",
    "DISCORD_BOT_TOKEN",
)


def _env(database_url: str, **extra: str) -> dict[str, str]:
    return {"BYOKBOT_DATABASE_URL": database_url, "BYOKBOT_MASTER_KEY": generate_key(), **extra}


def _health(server: ServeProcess) -> httpx.Response:
    return httpx.get(f"{server.url}/healthz", timeout=10)


def _wait_for_database(
    server: ServeProcess, state: str, *, timeout: float = 20.0
) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    body: dict[str, object] = {}
    while time.monotonic() < deadline:
        started = time.monotonic()
        answer = _health(server)
        assert time.monotonic() - started < 5, "the health check must be bounded"
        assert answer.status_code == 200, "the process is alive whatever the database does"
        body = answer.json()
        if body["database"] == state:
            return body
        time.sleep(0.2)
    raise AssertionError(f"/healthz stayed at {body}, wanted database {state!r}")


def test_metrics_need_the_bearer_token_when_one_is_set(tmp_path: Path, database_url: str) -> None:
    env = _env(database_url, BYOKBOT_METRICS_TOKEN=METRICS_TOKEN, BYOKBOT_LOG_LEVEL="DEBUG")
    with ServeProcess(env=env, cwd=tmp_path) as server:
        url = f"{server.url}/metrics"
        refused = [
            httpx.get(url, timeout=10),
            httpx.get(url, headers={"Authorization": "Bearer wrong-token"}, timeout=10),
            httpx.get(url, headers={"Authorization": f"Bearer {METRICS_TOKEN}x"}, timeout=10),
            httpx.get(url, headers={"Authorization": f"Bearer {METRICS_TOKEN[:-1]}"}, timeout=10),
            httpx.get(url, headers={"Authorization": f"Basic {METRICS_TOKEN}"}, timeout=10),
            httpx.get(url, headers={"Authorization": METRICS_TOKEN}, timeout=10),
            httpx.get(url, headers={"Authorization": "Bearer"}, timeout=10),
        ]
        for answer in refused:
            assert answer.status_code == 401
            assert answer.headers["WWW-Authenticate"].startswith("Bearer")
            assert "byokbot_" not in answer.text and METRICS_TOKEN not in answer.text
        for scheme in ("Bearer", "bearer"):
            scrape = httpx.get(
                url, headers={"Authorization": f"{scheme} {METRICS_TOKEN}"}, timeout=10
            )
            assert scrape.status_code == 200
            assert scrape.headers["content-type"].startswith("text/plain")
            assert "# TYPE byokbot_messages_total counter" in scrape.text
            assert METRICS_TOKEN not in scrape.text
        assert _health(server).status_code == 200  # health stays open for probes
        assert server.stop() == 0
    log = server.log_text()
    assert "metrics scrape refused" in log  # the DEBUG log was on and saw the refusals
    assert METRICS_TOKEN not in log and METRICS_TOKEN[:12] not in log


def test_metrics_are_open_without_a_token(tmp_path: Path, database_url: str) -> None:
    with ServeProcess(env=_env(database_url), cwd=tmp_path) as server:
        scrape = httpx.get(f"{server.url}/metrics", timeout=10)
        assert scrape.status_code == 200
        assert "# TYPE byokbot_commands_total counter" in scrape.text


def test_no_platform_and_no_terminal_warns_with_the_variables_to_set(
    tmp_path: Path, database_url: str
) -> None:
    # ServeProcess starts `serve` with stdin from /dev/null: no terminal.
    with ServeProcess(env=_env(database_url), cwd=tmp_path) as server:
        body = _health(server).json()
        assert body == {"status": "ok", "adapters": [], "database": "ok"}
        assert server.stop() == 0
    warnings = [line for line in server.log_text().splitlines() if "WARNING" in line]
    line = next((w for w in warnings if "no chat platform configured" in w), None)
    assert line is not None, server.log_text()
    for name in PLATFORM_VARIABLES:
        assert name in line
    assert "byokbot shell" in line


def test_healthz_lists_the_running_adapters(
    tmp_path: Path, database_url: str, master_key: str
) -> None:
    with FakeSlackAPI() as fake:
        env = serve_env(
            database_url=database_url, master_key=master_key, fake=fake, secret=SIGNING_SECRET
        )
        with ServeProcess(env=env, cwd=tmp_path) as server:
            answer = _health(server)
            assert answer.status_code == 200
            assert answer.json() == {"status": "ok", "adapters": ["slack"], "database": "ok"}
            assert server.stop() == 0
    assert "no chat platform configured" not in server.log_text()


def test_healthz_reports_a_database_outage_as_degraded_and_recovers(
    tmp_path: Path, database_url: str
) -> None:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        database = Path(url.database or "")
        moved = database.with_name("moved-away.db")
        with ServeProcess(env=_env(database_url), cwd=tmp_path) as server:
            assert _wait_for_database(server, "ok")["status"] == "ok"
            database.rename(moved)  # a lost volume: the next connection would find nothing
            down = _wait_for_database(server, "unavailable")
            assert down == {"status": "degraded", "adapters": [], "database": "unavailable"}
            assert not database.exists(), "the health check must not create a database"
            moved.rename(database)
            assert _wait_for_database(server, "ok")["status"] == "ok"
            assert server.stop() == 0
    else:
        with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
            via_proxy = url.set(host="127.0.0.1", port=proxy.port)
            env = _env(via_proxy.render_as_string(hide_password=False))
            with ServeProcess(env=env, cwd=tmp_path) as server:
                assert _wait_for_database(server, "ok")["status"] == "ok"
                proxy.cut()
                down = _wait_for_database(server, "unavailable")
                assert down == {"status": "degraded", "adapters": [], "database": "unavailable"}
                assert server.process.poll() is None
                proxy.restore()
                assert _wait_for_database(server, "ok")["status"] == "ok"
                assert server.stop() == 0
    log = server.log_text()
    assert "health check: database unreachable" in log
    assert "health check: database reachable again" in log
    assert log.count("health check: database unreachable") == 1, "one warning per outage"
    assert "Traceback" not in log


def test_a_database_that_does_not_answer_is_degraded_within_the_bound(
    tmp_path: Path, pg_url: str
) -> None:
    """The check waits at most ~2 s, and probes do not pile up behind a stuck one."""
    with ServeProcess(env=_env(pg_url), cwd=tmp_path) as server:
        assert _wait_for_database(server, "ok")["status"] == "ok"
        libpq = make_url(pg_url).set(drivername="postgresql").render_as_string(False)
        with psycopg.connect(libpq) as locker:
            # The health check reads this table; holding it locked makes it hang.
            locker.execute("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE")
            for _ in range(3):
                started = time.monotonic()
                answer = _health(server)
                assert time.monotonic() - started < 4
                assert answer.status_code == 200
                assert answer.json()["database"] == "unavailable"
            locker.rollback()
        assert _wait_for_database(server, "ok")["status"] == "ok"
        assert server.stop() == 0
    assert "health check: database unreachable (TimeoutError)" in server.log_text()
