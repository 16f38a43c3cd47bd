"""Alembic environment: runs on the connection `storage.migrate` hands it."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from storage import slack_models  # noqa: F401  (registers the Slack tables)

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    """Run with the connection passed in `config.attributes["connection"]`."""
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("storage.migrate must pass a connection")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
