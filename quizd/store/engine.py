"""``[storage]`` (:class:`quizd.config.model.StorageSection`): the database URL it means, the Engine, and ``Database``.

``url = ""`` is an SQLite file (``$STATE_DIRECTORY/quizd.db`` under systemd, else
``quizd.db`` beside the config file), ``postgresql://...`` is PostgreSQL through the
psycopg 3 driver, ``none`` keeps nothing.  SQLite runs in WAL mode with a busy timeout
and foreign keys on, so readers never block the batch writer and a second writer waits
instead of failing at once.

``Database`` runs every call in ``trio.to_thread.run_sync`` under a
``trio.CapacityLimiter``, the way :mod:`quizd.cluster.redis_port` runs redis-py: the
drivers are synchronous, and a blocking call on the event loop would freeze every quiz
of the node.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import trio
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

from quizd.config.model import StorageSection

T = TypeVar("T")

SQLITE_FILE = "quizd.db"
SQLITE_BUSY_TIMEOUT_MS = 5000
# The batch writer's connection and one for each of Database's worker threads.
SQLITE_POOL_SIZE = 5
# json_each with the ->> operator (quizd.store.rows) came with SQLite 3.38.
SQLITE_MIN = (3, 38, 0)
PG_CONNECT_TIMEOUT_S = 5
PG_STATEMENT_TIMEOUT_MS = 30_000


def database_url(settings: StorageSection, config_path: Path | None, environ: Mapping[str, str] = os.environ) -> URL:
    """The SQLAlchemy URL ``settings`` mean; ``ValueError`` for ``none`` or an unknown scheme."""
    raw = settings.url.strip()
    if not settings.enabled:
        raise ValueError('[storage] url = "none": nothing is kept')
    if raw == "":
        state = environ.get("STATE_DIRECTORY", "").split(":")[0]
        if state:
            path = Path(state) / SQLITE_FILE
        elif config_path is not None:
            path = config_path.resolve().parent / SQLITE_FILE
        else:
            path = Path(SQLITE_FILE).resolve()
        return URL.create("sqlite+pysqlite", database=str(path))
    url = make_url(raw)
    if url.drivername in ("postgresql", "postgres", "postgresql+psycopg"):
        return url.set(drivername="postgresql+psycopg")
    if url.drivername in ("sqlite", "sqlite+pysqlite"):
        return url.set(drivername="sqlite+pysqlite")
    raise ValueError(f'[storage] url: unknown database {url.drivername!r} ("", postgresql://... or none)')


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def make_engine(url: URL | str) -> Engine:
    """An Engine for ``url``: SQLite with WAL, busy timeout and foreign keys; PostgreSQL
    with a connect timeout, a statement timeout (a server that stops answering costs a
    bounded wait of a worker thread, never a hang) and pre-ping, so a restarted server
    costs one retry, not a pool of dead connections."""
    url = make_url(url)
    if url.get_backend_name() == "sqlite":
        if sqlite3.sqlite_version_info < SQLITE_MIN:
            # The batch writer's one-statement inserts unpack JSON with ``->>``.
            raise RuntimeError(
                f"storage: SQLite {sqlite3.sqlite_version} is too old; quizd needs "
                f"{'.'.join(map(str, SQLITE_MIN))} or newer (the library Python's sqlite3 module links)"
            )
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        # Pooled: opening a connection runs the pragmas, and closing the last one
        # checkpoints the whole WAL into the database file, which with a connection per
        # batch cost the batch writer over a third of its time (py-spy on
        # ``bench.writer_drain``).  A pooled connection serves one thread at a time, so
        # crossing worker threads is safe; ``check_same_thread`` would refuse it.
        engine = create_engine(
            url,
            pool_size=SQLITE_POOL_SIZE,
            max_overflow=0,
            pool_timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
            connect_args={"check_same_thread": False},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=4,
        max_overflow=4,
        pool_timeout=PG_CONNECT_TIMEOUT_S,
        connect_args={
            "connect_timeout": PG_CONNECT_TIMEOUT_S,
            "options": f"-c statement_timeout={PG_STATEMENT_TIMEOUT_MS}",
        },
    )


def engine_from_settings(
    settings: StorageSection, config_path: Path | None, environ: Mapping[str, str] = os.environ
) -> Engine:
    """The Engine ``[storage]`` names (``ValueError`` for ``none`` or an unknown URL)."""
    return make_engine(database_url(settings, config_path, environ))


class Database:
    """An Engine used from Trio: each call in a worker thread under a capacity limiter."""

    def __init__(self, engine: Engine, *, threads: int = 4) -> None:
        self.engine = engine
        self._limiter = trio.CapacityLimiter(threads)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` in a worker thread; never on the event loop."""
        return await trio.to_thread.run_sync(
            partial(fn, *args, **kwargs), limiter=self._limiter, abandon_on_cancel=True
        )

    def dispose(self) -> None:
        self.engine.dispose()
