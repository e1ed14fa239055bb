"""Fixtures of the store tests: one real PostgreSQL server for the whole run, a fresh
database per test, and SQLite files in the test's directory."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from quizd.config.model import StorageSection
from quizd.store.engine import engine_from_settings
from quizd.testing.procs import PostgresServer, postgres_bin_dir

_names = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole run (started on first use)."""
    if postgres_bin_dir() is None:
        pytest.fail("PostgreSQL is not installed: scripts/lib/test-tools.sh installs it")
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> str:
    """A fresh, empty database of the shared server."""
    return postgres_server.create_database(f"t{next(_names)}")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'quizd.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """An Engine on an empty database of each dialect."""
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    engine = engine_from_settings(StorageSection(url=url), None)
    try:
        yield engine
    finally:
        engine.dispose()
