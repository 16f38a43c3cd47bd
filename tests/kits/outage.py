"""A real PostgreSQL outage for tests: one database cut off (existing sessions killed) and back."""

from __future__ import annotations

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url


class DatabaseSwitch:
    """Cuts a PostgreSQL database off (no new connections, existing ones killed) and back."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self.name = parsed.database
        self.admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(
            hide_password=False
        )

    def _run(self, query: sql.Composed) -> None:
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(query)

    def cut(self) -> None:
        """Refuse new connections and terminate the database's sessions."""
        name = sql.Identifier(self.name or "")
        self._run(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(name))
        self._run(
            sql.SQL(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = {}"
            ).format(sql.Literal(self.name))
        )

    def restore(self) -> None:
        """Accept connections again."""
        name = sql.Identifier(self.name or "")
        self._run(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(name))
