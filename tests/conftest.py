"""Shared fixtures: real quizd nodes as subprocesses on free loopback ports.

``node_factory(**tables)`` writes a config (ports 0, a temp results dir, the sample
quizzes unless ``definitions`` are given), starts ``python -m quizd serve``, waits for
the ready line and returns a ``RunningNode``.  Every node is stopped (SIGTERM, then
SIGKILL after a deadline) when the test ends.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.nodekit import ADMIN_TOKEN, SAMPLE_QUIZZES, write_toml

READY_TIMEOUT_S = 20.0


class RunningNode:
    def __init__(self, process: subprocess.Popen[str], config_path: Path, ready_line: str, tmp: Path) -> None:
        self.process = process
        self.config_path = config_path
        self.tmp = tmp
        fields = dict(part.split("=", 1) for part in ready_line.split()[2:])
        self.node_id = fields["node"]
        self.ws_address = fields["ws"]
        self.http_address = fields["http"]
        self.ws_url = f"ws://{self.ws_address}/ws"
        self.http_url = f"http://{self.http_address}"
        self.token = ADMIN_TOKEN

    @property
    def results_dir(self) -> Path:
        return self.tmp / "results"

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout=timeout)

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

    def stop(self) -> None:
        if self.process.poll() is None:
            self.end_live_quizzes()
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()


def _read_ready_line(process: subprocess.Popen[str], timeout: float) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    buffer = ""
    fd = process.stdout.fileno()
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            chunk = os.read(fd, 4096).decode()
            if not chunk:
                break
            buffer += chunk
            for line in buffer.splitlines():
                if line.startswith("quizd ready "):
                    return line
        elif process.poll() is not None:
            break
    raise RuntimeError(f"quizd did not become ready; stdout so far: {buffer!r}")


def launch_node(
    base: Path,
    node_id: str,
    definitions: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    **tables: Mapping[str, Any],
) -> RunningNode:
    """Write a config under ``base`` (ports 0, the sample quizzes unless ``definitions``)
    and start ``python -m quizd serve`` on it; returns once the node is ready."""
    base.mkdir(parents=True, exist_ok=True)
    if definitions is None:
        definitions_dir = SAMPLE_QUIZZES
    else:
        definitions_dir = base / "quizzes"
        definitions_dir.mkdir()
        for name, text in definitions.items():
            (definitions_dir / f"{name}.toml").write_text(text)
    config: dict[str, dict[str, Any]] = {
        "node": {"id": node_id, "drain_timeout_s": 2},
        "websocket": {"host": "127.0.0.1", "port": 0},
        "http": {"host": "127.0.0.1", "port": 0},
        "auth": {"admin_token": ADMIN_TOKEN},
        "quizzes": {"definitions_dir": str(definitions_dir), "results_dir": str(base / "results")},
        "logging": {"level": "info", "format": "json"},
    }
    for table, keys in tables.items():
        config.setdefault(table, {}).update(keys)
    config_path = write_toml(base / "quizd.toml", config)
    with open(base / "stderr.log", "w") as log:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "quizd", "serve", "--config", str(config_path)],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env={**os.environ, **(env or {})},
        )
    try:
        line = _read_ready_line(process, READY_TIMEOUT_S)
    except RuntimeError:
        process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()
        raise RuntimeError((base / "stderr.log").read_text()) from None
    return RunningNode(process, config_path, line, base)


@pytest.fixture
def node_factory(tmp_path: Path) -> Iterator[Any]:
    nodes: list[RunningNode] = []

    def start(definitions: Mapping[str, str] | None = None, env: Mapping[str, str] | None = None,
              **tables: Mapping[str, Any]) -> RunningNode:
        index = len(nodes)
        node = launch_node(tmp_path / f"node{index}", f"test-node-{index}", definitions, env, **tables)
        nodes.append(node)
        return node

    yield start
    for node in nodes:
        node.stop()


@pytest.fixture
def node(node_factory: Any) -> RunningNode:
    """One node with the sample quizzes and default limits."""
    return node_factory()
