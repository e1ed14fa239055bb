"""Fixtures of the store tests: an Engine on each dialect.

The real PostgreSQL server (``postgres_server``, ``pg_url``) and ``sqlite_url`` live in
tests/conftest.py, shared with the webhook tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from quizd.config.model import StorageSection
from quizd.store.engine import engine_from_settings


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """An Engine on an empty database of each dialect."""
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    engine = engine_from_settings(StorageSection(url=url), None)
    try:
        yield engine
    finally:
        engine.dispose()
