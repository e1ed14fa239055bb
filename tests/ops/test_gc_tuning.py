"""The garbage collector's schedule (quizd.ops.gc_tuning), with the real collector and
virtual time: generation 1 is collected while no question is open, never during one."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
import trio
import trio.testing

from quizd.ops import gc_tuning


@pytest.fixture
def no_automatic_collections() -> Iterator[None]:
    """Only the collections the code under test runs (and the test's own)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


async def test_generation_1_is_collected_while_no_question_is_open(
    autojump_clock: trio.testing.MockClock, no_automatic_collections: None
) -> None:
    question_open = True
    async with trio.open_nursery() as nursery:
        nursery.start_soon(gc_tuning.collect_middle_when_quiet, lambda: question_open)
        gc.collect(0)  # a young collection: what survived it is in generation 1 now
        assert gc.get_count()[1] >= 1
        await trio.sleep(10 * gc_tuning.MIDDLE_CHECK_S)
        assert gc.get_count()[1] >= 1  # a question is open: not now
        question_open = False
        await trio.sleep(2 * gc_tuning.MIDDLE_CHECK_S)
        assert gc.get_count()[1] == 0  # collected
        nursery.cancel_scope.cancel()


async def test_nothing_is_collected_when_generation_1_is_empty(
    autojump_clock: trio.testing.MockClock, no_automatic_collections: None
) -> None:
    collected: list[int] = []

    def record(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collected.append(info["generation"])

    gc.collect(1)  # generation 1 empty, its count 0
    gc.callbacks.append(record)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(gc_tuning.collect_middle_when_quiet, lambda: False)
            await trio.sleep(10 * gc_tuning.MIDDLE_CHECK_S)
            nursery.cancel_scope.cancel()
    finally:
        gc.callbacks.remove(record)
    assert collected == []
