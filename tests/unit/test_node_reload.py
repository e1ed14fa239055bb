"""``Node.reload`` never lets an exception out: a SIGHUP that escaped it would cancel the
node's nursery and every live quiz with it (defence in depth behind the config loader,
which reports every path problem as a ``ConfigError``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from quizd import node as node_module
from quizd.config import Config, QuizzesSection
from quizd.node import Node
from quizd.ops import metrics
from tests.nodekit import quiz_toml


def _failures() -> float:
    return metrics.REGISTRY.get_sample_value("quizd_config_reloads_total", {"result": "failure"}) or 0.0


@pytest.fixture
def node(tmp_path: Path) -> Node:
    quizzes = tmp_path / "quizzes"
    quizzes.mkdir()
    (quizzes / "a.toml").write_text(quiz_toml("a"))
    config_path = tmp_path / "quizd.toml"
    config_path.write_text(f'[quizzes]\ndefinitions_dir = "{quizzes}"\n')
    return Node(Config(quizzes=QuizzesSection(definitions_dir=str(quizzes)), source=config_path))


async def test_an_unexpected_error_loading_the_config_is_counted_not_raised(node, monkeypatch) -> None:
    def explode(*_args: object) -> Config:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(node_module, "load_config", explode)
    before = _failures()
    await node.reload()
    assert _failures() == before + 1
    assert set(node.service.definitions.definitions) == {"a"}  # definitions still reloaded


async def test_an_unexpected_error_loading_definitions_keeps_the_old_ones(node, monkeypatch) -> None:
    await node.reload()
    assert set(node.service.definitions.definitions) == {"a"}

    def explode(*_args: object) -> object:
        raise ValueError("embedded null byte")

    monkeypatch.setattr(node_module, "load_definitions", explode)
    before = _failures()
    await node.reload()
    assert _failures() == before + 1
    assert set(node.service.definitions.definitions) == {"a"}
