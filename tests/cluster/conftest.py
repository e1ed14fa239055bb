"""The cluster tests' fixtures: ``redis_server`` lives in tests/conftest.py, shared with
the data API and storage tests; ``persistent_redis`` (a Redis that keeps its data across a
crash) is here.  The processes are ``quizd.testing.procs``'s; helpers are in clusterkit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from quizd.testing.procs import REDIS_SERVER
from tests.cluster.clusterkit import PersistentRedis


@pytest.fixture
def persistent_redis(tmp_path: Path) -> Iterator[PersistentRedis]:
    if REDIS_SERVER is None:
        pytest.fail("redis-server is not installed")
    directory = tmp_path / "redis"
    directory.mkdir()
    server = PersistentRedis(directory)
    server.start()
    yield server
    server.stop()
