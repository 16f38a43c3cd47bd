"""The `byokbot` command: serve, shell, migrate, master-key rotate/generate.

Every error byokbot raises on purpose ends the command with one line on stderr and
exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from bot.app import connect, migrate
from bot.config import Settings, load_settings
from bot.errors import ByokError, ConfigError, DatabaseUnavailable, StorageError
from bot.logging_setup import configure_logging, log_to_file
from bot.vault.keystore import open_vault, rotate_master_key
from bot.vault.masterkey import generate_key, parse_key, read_key_file
from storage.migrate import current_revision, migrate_to

logger = logging.getLogger(__name__)

EXIT_ERROR = 2


def _settings() -> Settings:
    settings = load_settings()
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    return settings


def _cmd_serve(args: argparse.Namespace) -> int:
    # The runtime (aiohttp, scheduler, core) is imported only by the commands that run it.
    from bot.runtime import serve

    settings = _settings()
    # With no platform configured, serve on a terminal runs the console (bot.runtime).
    if not (settings.slack_configured or settings.discord_configured):
        _console_logs()
    return asyncio.run(serve(settings, port_file=args.port_file))


def _console_logs() -> None:
    """The console will hold the terminal: log lines go to ./data/byokbot.log from the start."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return  # a pipe or a service: stderr, as always
    with contextlib.suppress(OSError):  # an unwritable ./data: the console says so later
        log_to_file()


async def _shell(settings: Settings) -> int:
    from bot.app import build_services
    from bot.core import Core
    from bot.runtime import CONSOLE, discover_plugins

    plugin = discover_plugins().get(CONSOLE)
    if plugin is None:
        raise ConfigError("the console adapter is not installed (reinstall byokbot)")
    services = build_services(settings)
    try:
        adapter = plugin.create(Core(services), services)
        poster = adapter.poster()
        if poster is not None:
            services.posters[adapter.name] = poster
        run = getattr(adapter, "run", None)
        if run is None:
            raise ConfigError("the console adapter cannot run a shell")
        code: int = await run()
        return code
    finally:
        await services.providers.aclose()
        services.engine.dispose()


def _cmd_shell(_args: argparse.Namespace) -> int:
    settings = _settings()
    _console_logs()
    return asyncio.run(_shell(settings))


def _migrate_to(engine: Engine, revision: str) -> None:
    # Alembic is loaded by the commands that migrate, never by every start.
    from alembic.util import CommandError as AlembicCommandError

    before = current_revision(engine)
    try:
        migrate_to(engine, revision)
    except AlembicCommandError as exc:
        raise StorageError(f"cannot migrate the database: {exc}") from None
    after = current_revision(engine)
    if before != after:
        logger.info("database migrated from %s to %s", before or "empty", after or "empty")


def _cmd_migrate(args: argparse.Namespace) -> int:
    settings = _settings()
    engine = connect(settings)
    try:
        if args.to is None:
            migrate(engine)
        else:
            _migrate_to(engine, args.to)
        print(f"database at revision {current_revision(engine) or 'base (empty)'}")
    finally:
        engine.dispose()
    return 0


def _cmd_generate(_args: argparse.Namespace) -> int:
    print(generate_key())
    return 0


def _new_key(args: argparse.Namespace) -> bytes:
    if args.new_key_file is not None:
        return read_key_file(args.new_key_file)
    value = os.environ.get(args.new_key_env)
    if value is None:
        raise ConfigError(f"{args.new_key_env} is not set", setting=args.new_key_env)
    return parse_key(value, origin=args.new_key_env)


def _cmd_rotate(args: argparse.Namespace) -> int:
    settings = _settings()
    new_key = _new_key(args)
    engine = connect(settings)
    try:
        current = open_vault(settings, engine, extra_keys=[new_key], allow_create=False)
        count = rotate_master_key(engine, current=current, new_key=new_key)
    finally:
        engine.dispose()
    print(f"re-encrypted {count} stored secret(s) under the new master key.")
    print(
        "Next: put the new key in BYOKBOT_MASTER_KEY (or the file BYOKBOT_MASTER_KEY_FILE "
        "names) and restart every replica; keep the old key in BYOKBOT_OLD_MASTER_KEYS "
        "until all replicas run with the new one. Back up the new key."
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="byokbot", description="AI agents in Slack and Discord on your own provider keys."
    )
    # A source tree that is not installed has no version to show.
    with contextlib.suppress(PackageNotFoundError):
        parser.add_argument("--version", action="version", version=version("byokbot"))
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve_cmd = commands.add_parser("serve", help="run adapters, HTTP server and scheduler")
    serve_cmd.add_argument(
        "--port-file",
        type=Path,
        help="write the HTTP port actually bound (useful with BYOKBOT_HTTP_PORT=0)",
    )
    serve_cmd.set_defaults(handler=_cmd_serve)

    shell = commands.add_parser("shell", help="the console adapter on stdin/stdout")
    shell.set_defaults(handler=_cmd_shell)

    migrate_cmd = commands.add_parser("migrate", help="apply database migrations")
    migrate_cmd.add_argument(
        "--to",
        metavar="REV",
        help="upgrade or downgrade to this revision instead (e.g. 0003, head, base); "
        "a downgrade drops what the newer migrations added",
    )
    migrate_cmd.set_defaults(handler=_cmd_migrate)

    master = commands.add_parser("master-key", help="manage the master key")
    master_commands = master.add_subparsers(dest="action", required=True, metavar="ACTION")
    rotate = master_commands.add_parser(
        "rotate", help="re-encrypt every stored key under a new master key"
    )
    source = rotate.add_mutually_exclusive_group(required=True)
    source.add_argument("--new-key-file", type=Path, help="file holding the new key (base64)")
    source.add_argument(
        "--new-key-env", metavar="VAR", help="environment variable holding the new key"
    )
    rotate.set_defaults(handler=_cmd_rotate)
    generate = master_commands.add_parser("generate", help="print a fresh random master key")
    generate.set_defaults(handler=_cmd_generate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `byokbot` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
        return code
    except ByokError as exc:
        print(f"byokbot: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except OperationalError:
        print(
            f"byokbot: error: {DatabaseUnavailable('the database became unreachable')}",
            file=sys.stderr,
        )
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
