"""End-to-end fixtures: ``quizd_node``, one real node per test module.

The node carries the small quizzes of ``protocolkit.DEFINITIONS`` and fast throttles;
every test creates its own quiz on it, so tests stay independent while paying for a
node start only once per module.  (``node`` and ``node_factory``, a fresh node per
test, come from tests/conftest.py.)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.protocolkit import DEFINITIONS, FAST_TABLES
from tests.nodekit import RunningNode, launch_node


@pytest.fixture(scope="module")
def quizd_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    """One node per test module, with ``DEFINITIONS`` and fast throttles."""
    node = launch_node(tmp_path_factory.mktemp("quizd"), "protocol-test-node", DEFINITIONS, **FAST_TABLES)
    yield node
    node.stop()
