"""Shared fixtures: real quizd nodes as subprocesses on free loopback ports.

The processes themselves are ``quizd.testing.procs``'s (shared with the benchmark).

``node_factory(**tables)`` writes a config (ports 0, a temp results dir, the sample
quizzes unless ``definitions`` are given), starts ``python -m quizd serve``, waits for
the ready line and returns a ``RunningNode``.  Every node is stopped (SIGTERM, then
SIGKILL after a deadline) when the test ends.
"""

from __future__ import annotations

import gc
import itertools
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from quizd.ops import gc_tuning
from quizd.testing.procs import REDIS_SERVER, PostgresServer, RedisServer, postgres_bin_dir
from tests.nodekit import RunningNode, launch_node

_pg_names = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the whole run (started on first use): the store,
    webhook, data API and storage end-to-end tests share it."""
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
    return postgres_server.create_database(f"t{next(_pg_names)}")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'quizd.db'}"


@pytest.fixture
def node_factory(tmp_path: Path) -> Iterator[Any]:
    nodes: list[RunningNode] = []

    def start(
        definitions: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        command: Sequence[str] | None = None,
        **tables: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    ) -> RunningNode:
        index = len(nodes)
        node = launch_node(tmp_path / f"node{index}", f"test-node-{index}", definitions, env, command, **tables)
        nodes.append(node)
        return node

    yield start
    for node in nodes:
        node.stop()


@pytest.fixture
def node(node_factory: Any) -> RunningNode:
    """One node with the sample quizzes and default limits."""
    return node_factory()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A real redis-server on a free loopback port, in the test's directory."""
    if REDIS_SERVER is None:
        pytest.fail("redis-server is not installed (scripts/test installs Debian's redis-server)")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def collector_on() -> Iterator[None]:
    """The garbage collector's automatic runs on, as in a node, and no arrival hold
    (``quizd.ops.gc_tuning.HOLD``) left over after the test."""
    enabled = gc.isenabled()
    gc.enable()
    try:
        yield
    finally:
        gc_tuning.HOLD.release(collect=False)
        if not enabled:
            gc.disable()
