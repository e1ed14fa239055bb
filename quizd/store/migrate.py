"""Alembic migrations run from code, ``quizd db upgrade|check``, and migrate-at-start.

The migration scripts ship inside the package (``quizd/store/migrations``); the
``alembic.config.Config`` is built here, so no alembic.ini is needed on disk.  A
migration runs on one connection in one transaction (PostgreSQL's DDL is transactional),
so a failed upgrade leaves the schema as it was.
"""

from __future__ import annotations

import sys
from pathlib import Path

import trio
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from quizd.config.model import StorageSection
from quizd.store.engine import engine_from_settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_NOT_CURRENT = 2


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's config for quizd's migrations; ``connection`` is what they run on."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revisions() -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def current_revisions(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def is_current(engine: Engine) -> bool:
    """True when the database's schema is at the newest migration."""
    return current_revisions(engine) == head_revisions()


def upgrade(engine: Engine) -> None:
    """Bring the schema up to the newest migration (nothing when it already is)."""
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "head")


async def migrate_at_start(settings: StorageSection, config_path: Path | None) -> None:
    """What ``serve`` does before it listens when ``[storage] auto_migrate`` is true.

    Runs in a worker thread (the event loop must not wait on the database); raises what
    the database raised, so the node refuses to start on a schema it cannot write.
    """
    if not settings.enabled or not settings.auto_migrate:
        return

    def run() -> None:
        engine = engine_from_settings(settings, config_path)
        try:
            upgrade(engine)
        finally:
            engine.dispose()

    await trio.to_thread.run_sync(run)


def run_db(action: str, config: str | None) -> int:
    """The ``quizd db`` command: the exit code, the reason on stderr."""
    from quizd.config.loader import ConfigError, load_config

    try:
        loaded = load_config(config)
        engine = engine_from_settings(loaded.storage, loaded.source)
    except (ConfigError, ValueError) as exc:
        print(f"quizd db {action}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        if action == "upgrade":
            upgrade(engine)
            return EXIT_OK
        if is_current(engine):
            return EXIT_OK
        print("quizd db check: the schema is not current (run quizd db upgrade)", file=sys.stderr)
        return EXIT_NOT_CURRENT
    except SQLAlchemyError as exc:
        print(f"quizd db {action}: {exc.__class__.__name__}: {exc}".splitlines()[0], file=sys.stderr)
        return EXIT_FAILED if action == "upgrade" else EXIT_NOT_CURRENT
    finally:
        engine.dispose()
