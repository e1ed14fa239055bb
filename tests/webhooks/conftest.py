"""Fixtures of the webhook tests: a migrated Engine on each dialect (real SQLite file,
real PostgreSQL of tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from quizd.config import StorageSection
from quizd.store.engine import engine_from_settings
from quizd.store.migrate import upgrade


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """An Engine on a freshly migrated database of each dialect."""
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    engine = engine_from_settings(StorageSection(url=url), None)
    upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()
