"""Plain helpers for tests that start quizd nodes: where the sample quizzes are, the
admin token the test nodes use, and TOML writers for node configs and quiz definitions.

Also ``RunningNode`` and ``launch_node``: a test node as a process (the harness's
``NodeProcess`` with its temp dir and token); ``tests/conftest.py`` turns them into the
``node_factory`` fixture.

A kit module, imported by name (``from tests.nodekit import quiz_toml``); a conftest
is never imported as a module, it only offers fixtures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from quizd.testing.procs import NodeProcess

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_QUIZZES = ROOT / "config" / "quizzes"
ADMIN_TOKEN = "test-admin-token"


class NodeAddresses(Protocol):
    """Where a running test node listens and the token it takes: what a client needs."""

    @property
    def ws_url(self) -> str: ...
    @property
    def http_url(self) -> str: ...
    @property
    def token(self) -> str: ...


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
        array = isinstance(keys, Sequence)
        for entry in keys if array else [keys]:
            lines.append(f"[[{table}]]" if array else f"[{table}]")
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


READY_TIMEOUT_S = 20.0


class RunningNode(NodeProcess):
    """A test node: the harness's ``NodeProcess`` plus its temp dir and admin token."""

    def __init__(
        self, config_path: Path, tmp: Path, env: Mapping[str, str] | None = None, command: Sequence[str] | None = None
    ) -> None:
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
