"""Fixtures of the store tests: SQLite files in the test's directory and an Engine on
each dialect (the PostgreSQL server and ``pg_url`` live in tests/conftest.py, which the
end-to-end storage tests share)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from quizd.config.model import StorageSection
from quizd.store.engine import engine_from_settings


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
