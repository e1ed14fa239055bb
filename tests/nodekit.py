"""Plain helpers for tests that start quizd nodes: where the sample quizzes are, the
admin token the test nodes use, and TOML writers for node configs and quiz definitions.

A kit module, imported by name (``from tests.nodekit import quiz_toml``); a conftest
is never imported as a module, it only offers fixtures.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

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


def write_toml(path: Path, tables: Mapping[str, Mapping[str, Any]]) -> Path:
    lines: list[str] = []
    for table, keys in tables.items():
        lines.append(f"[{table}]")
        lines.extend(f"{key} = {toml_value(value)}" for key, value in keys.items())
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
