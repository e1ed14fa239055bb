"""Real redis-server processes on free loopback ports, started and stopped by the tests.

The server is ``quizd.testing.procs.RedisServer`` (shared with the benchmark); it is
re-exported here for the tests that subclass it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from quizd.testing.procs import REDIS_SERVER, RedisServer

__all__ = ["REDIS_SERVER", "RedisServer", "redis_server"]


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if REDIS_SERVER is None:
        pytest.fail("redis-server is not installed (scripts/test installs Debian's redis-server)")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()
