"""Composition root: settings in, ready `Services` out (database, vault, providers)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from bot.config import Settings
from bot.errors import ConfigError, DatabaseUnavailable, StorageError
from bot.services import Services
from bot.vault.keystore import Vault, check_key_settings, open_vault
from storage.engine import DatabaseDown, make_engine, normalise_url, safe_url, wait_for_database
from storage.migrate import current_revision, schema_head, upgrade

logger = logging.getLogger(__name__)


def _engine_for(url: str) -> Engine:
    try:
        backend = make_url(normalise_url(url)).get_backend_name()
    except ArgumentError:
        backend = ""
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(
            "invalid setting BYOKBOT_DATABASE_URL: use sqlite:///PATH or "
            "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE",
            setting="BYOKBOT_DATABASE_URL",
        )
    try:
        return make_engine(url)
    except OSError as exc:  # the SQLite file's directory cannot be created
        raise StorageError(f"cannot create the database directory: {exc.strerror}") from None


def connect(settings: Settings, *, attempts: int = 5) -> Engine:
    """An engine on the configured database, reachable now (retries with backoff)."""
    engine = _engine_for(settings.database_url)
    try:
        wait_for_database(engine, attempts=attempts)
    except DatabaseDown as exc:
        engine.dispose()
        raise DatabaseUnavailable(str(exc)) from None
    return engine


@contextlib.contextmanager
def _migration_errors() -> Iterator[None]:
    """Alembic's and the database's errors as one-line byokbot errors."""
    try:
        yield
    except OperationalError:
        raise DatabaseUnavailable("database unreachable during migration") from None
    except Exception as exc:
        # Alembic's error type comes with Alembic, which a start at the head never loads.
        from alembic.util.exc import CommandError

        if isinstance(exc, CommandError):
            # e.g. the database is at a revision this version does not know (a newer release).
            raise StorageError(f"cannot migrate the database: {exc}") from None
        raise


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision, with one-line errors."""
    with _migration_errors():
        before = current_revision(engine)
        if before is not None and before == schema_head():
            # Most starts: nothing to migrate, so Alembic is not even imported.
            logger.debug("database schema is current (%s)", before)
            return
        upgrade(engine)
        after = current_revision(engine)
    if before != after:
        logger.info("database migrated from %s to %s", before or "empty", after)
    else:
        logger.debug("database schema is current (%s)", after)


def prepare_database(settings: Settings, engine: Engine) -> Vault:
    """Migrate and open the vault in the order that writes nothing when the key is wrong."""
    if current_revision(engine) is None:
        # Fresh database: validate the key settings before creating any table.
        check_key_settings(settings)
        migrate(engine)
        return open_vault(settings, engine)
    # Existing database: prove the master key before any migration touches it.
    vault = open_vault(settings, engine)
    migrate(engine)
    return vault


def build_services(settings: Settings) -> Services:
    """Connect, migrate, open the vault and create the provider clients."""
    # Imported here so that `byokbot migrate` and `master-key` start without the
    # provider stack.
    from bot.providers import Providers

    check_key_settings(settings)  # a malformed key stops the start before any I/O
    engine = connect(settings)
    try:
        vault = prepare_database(settings, engine)
    except OperationalError:
        engine.dispose()
        raise DatabaseUnavailable(
            f"database unreachable at {safe_url(settings.database_url)}"
        ) from None
    except BaseException:
        engine.dispose()
        raise
    providers = Providers(allow_private_base_urls=settings.allow_private_base_urls)
    logger.info("database ready at %s", safe_url(str(engine.url)))
    return Services(settings=settings, engine=engine, vault=vault, providers=providers)
