"""Shared fixtures: real quizd nodes as subprocesses on free loopback ports.

The processes themselves are ``quizd.testing.procs``'s (shared with the benchmark).

``node_factory(**tables)`` writes a config (ports 0, a temp results dir, the sample
quizzes unless ``definitions`` are given), starts ``python -m quizd serve``, waits for
the ready line and returns a ``RunningNode``.  Every node is stopped (SIGTERM, then
SIGKILL after a deadline) when the test ends.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from quizd.testing.procs import NodeProcess, PostgresServer, postgres_bin_dir

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_QUIZZES = ROOT / "config" / "quizzes"
ADMIN_TOKEN = "test-admin-token"
READY_TIMEOUT_S = 20.0


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def write_toml(path: Path, tables: Mapping[str, Mapping[str, Any] | Sequence[Mapping[str, Any]]]) -> Path:
    """Write ``tables``; a list of mappings is an array of tables (``[[webhooks]]``)."""
    lines: list[str] = []
    for table, keys in tables.items():
        for entry in keys if isinstance(keys, Sequence) else [keys]:
            lines.append(f"[[{table}]]" if isinstance(keys, Sequence) else f"[{table}]")
            lines.extend(f"{key} = {toml_value(value)}" for key, value in entry.items())
            lines.append("")
    path.write_text("\n".join(lines))
    return path


def quiz_toml(
    quiz_id: str,
    *,
    questions: int = 3,
    reveal: str = "on_answer",
    time_limit_ms: int = 20000,
    reveal_ms: int = 3000,
    countdown_ms: int = 0,
    **extra: Any,
) -> str:
    """A quiz definition file; question i has choices a..d and answer i % 4."""
    head = {
        "id": quiz_id,
        "title": f"Quiz {quiz_id}",
        "reveal": reveal,
        "time_limit_ms": time_limit_ms,
        "reveal_ms": reveal_ms,
        "countdown_ms": countdown_ms,
        **extra,
    }
    lines = [f"{k} = {toml_value(v)}" for k, v in head.items()]
    for i in range(questions):
        lines += [
            "",
            "[[questions]]",
            f'text = "Question {i}"',
            'choices = ["a", "b", "c", "d"]',
            f"answer = {i % 4}",
        ]
    return "\n".join(lines) + "\n"


class RunningNode(NodeProcess):
    """A test node: the harness's ``NodeProcess`` plus its temp dir and admin token."""

    def __init__(self, config_path: Path, tmp: Path, env: Mapping[str, str] | None = None,
                 command: Sequence[str] | None = None) -> None:
        # ``command`` replaces ``python -m quizd`` (e.g. under prlimit, or with patched constants).
        wrap = (lambda argv: [*command, *argv[3:]]) if command else (lambda argv: argv)
        super().__init__(config_path, tmp / "stderr.log", env=env, wrap=wrap)
        self.tmp = tmp
        self.token = ADMIN_TOKEN

    @property
    def results_dir(self) -> Path:
        return self.tmp / "results"

    def end_live_quizzes(self) -> None:
        """End what still runs, so the teardown SIGTERM need not wait out a drain."""
        from quizd.client import ControlClient

        control = ControlClient(self.http_url, self.token, timeout=5)
        try:
            status, quizzes = control.request_sync("GET", "/api/quizzes")
            for quiz in quizzes if status == 200 else []:
                if quiz["phase"] != "ended":
                    control.request_sync("POST", f"/api/quizzes/{quote(quiz['quizId'], safe='')}/end")
        except (OSError, ValueError):
            pass

    def stop(self, timeout: float = 15) -> None:
        if self.running:
            self.end_live_quizzes()
        super().stop(timeout)


def launch_node(
    base: Path,
    node_id: str,
    definitions: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    command: Sequence[str] | None = None,
    **tables: Mapping[str, Any] | Sequence[Mapping[str, Any]],
) -> RunningNode:
    """Write a config under ``base`` (ports 0, the sample quizzes unless ``definitions``)
    and start ``python -m quizd serve`` on it (or ``command`` in place of ``python -m
    quizd``); returns once the node is ready."""
    base.mkdir(parents=True, exist_ok=True)
    if definitions is None:
        definitions_dir = SAMPLE_QUIZZES
    else:
        definitions_dir = base / "quizzes"
        definitions_dir.mkdir()
        for name, text in definitions.items():
            (definitions_dir / f"{name}.toml").write_text(text)
    config: dict[str, Any] = {
        "node": {"id": node_id, "drain_timeout_s": 2},
        "websocket": {"host": "127.0.0.1", "port": 0},
        "http": {"host": "127.0.0.1", "port": 0},
        "auth": {"admin_token": ADMIN_TOKEN},
        "quizzes": {"definitions_dir": str(definitions_dir), "results_dir": str(base / "results")},
        "logging": {"level": "info", "format": "json"},
    }
    for table, keys in tables.items():
        if isinstance(keys, Sequence):  # an array of tables, e.g. webhooks=[{...}]
            config[table] = list(keys)
        else:
            config.setdefault(table, {}).update(keys)
    config_path = write_toml(base / "quizd.toml", config)
    node = RunningNode(config_path, base, env, command)
    node.start(READY_TIMEOUT_S)
    return node


_pg_names = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the whole run (started on first use)."""
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

    def start(definitions: Mapping[str, str] | None = None, env: Mapping[str, str] | None = None,
              command: Sequence[str] | None = None, **tables: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> RunningNode:
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
