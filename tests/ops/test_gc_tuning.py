"""The garbage collector's schedule (quizd.ops.gc_tuning), with the real collector and
virtual time: generation 1 is collected while no question is open, never during one;
the automatic collections are held while players arrive, and the debt is paid when they
stop, at the hold's limits, or before a question goes out."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

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


@contextmanager
def collections() -> Iterator[list[tuple[int, float]]]:
    """The collections that start meanwhile: (generation, the Trio time it started)."""
    started: list[tuple[int, float]] = []

    def record(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started.append((info["generation"], trio.current_time()))

    gc.callbacks.append(record)
    try:
        yield started
    finally:
        gc.callbacks.remove(record)


async def test_nothing_is_collected_when_generation_1_is_empty(
    autojump_clock: trio.testing.MockClock, no_automatic_collections: None
) -> None:
    gc.collect(1)  # generation 1 empty, its count 0
    with collections() as started:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(gc_tuning.collect_middle_when_quiet, lambda: False)
            await trio.sleep(10 * gc_tuning.MIDDLE_CHECK_S)
            nursery.cancel_scope.cancel()
    assert started == []


# The tests sleep half a check interval off the checks' times: tasks waking at the same
# instant run in no fixed order.


def kept_objects(n: int) -> list[list[int]]:
    """``n`` tracked objects that stay alive (a player's connection objects, say)."""
    return [[i] for i in range(n)]


@pytest.mark.parametrize("busy_with", ["arrivals", "a question"])
async def test_collections_are_held_while_busy_and_paid_at_once_after(
    autojump_clock: trio.testing.MockClock, collector_on: None, busy_with: str
) -> None:
    """Players arriving, or a question open: held; once neither, paid in one collection."""
    busy = {"arrivals": False, "a question": False, busy_with: True}
    async with trio.open_nursery() as nursery:
        nursery.start_soon(gc_tuning.collect_middle_when_quiet, lambda: busy["a question"], lambda: busy["arrivals"])
        await trio.sleep(1.5 * gc_tuning.MIDDLE_CHECK_S)
        assert gc_tuning.HOLD.held and not gc.isenabled()
        young = gc.get_count()[0]
        with collections() as started:
            kept = kept_objects(5000)  # the new players' objects, or the answers' records
            await trio.sleep(10 * gc_tuning.MIDDLE_CHECK_S)
            assert started == []  # none while busy
            assert gc.get_count()[0] > young + 4000
            busy[busy_with] = False  # the arrivals stopped, or the reveal
            await trio.sleep(gc_tuning.MIDDLE_CHECK_S)
        assert [generation for generation, _ in started] == [1]  # one collection of 0 and 1
        assert not gc_tuning.HOLD.held and gc.isenabled()
        assert gc.get_count()[0] < 5000 and gc.get_count()[1] == 0
        nursery.cancel_scope.cancel()
    assert len(kept) == 5000


async def test_a_hold_is_paid_at_its_object_limit(
    autojump_clock: trio.testing.MockClock, collector_on: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gc_tuning, "HOLD_MAX_YOUNG", 20_000)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(gc_tuning.collect_middle_when_quiet, lambda: False, lambda: True)
        await trio.sleep(1.5 * gc_tuning.MIDDLE_CHECK_S)
        assert gc_tuning.HOLD.held
        kept = kept_objects(30_000)
        assert gc.get_count()[0] > 25_000
        await trio.sleep(1.5 * gc_tuning.MIDDLE_CHECK_S)
        assert gc.get_count()[0] < 20_000  # paid, and held again from there
        assert gc_tuning.HOLD.held
        nursery.cancel_scope.cancel()
    assert len(kept) == 30_000


def test_settling_before_a_question_pays_the_debt(collector_on: None) -> None:
    gc_tuning.HOLD.begin()
    assert not gc.isenabled()
    kept = kept_objects(5000)
    gc_tuning.settle_before_question()
    assert gc.isenabled() and not gc_tuning.HOLD.held
    assert gc.get_count()[0] < 5000 and gc.get_count()[1] == 0
    gc_tuning.settle_before_question()  # nothing held: nothing to do
    assert gc.isenabled()
    assert len(kept) == 5000


def test_a_hold_never_enables_a_collector_someone_else_disabled(no_automatic_collections: None) -> None:
    gc_tuning.HOLD.begin()
    assert not gc_tuning.HOLD.held
    gc_tuning.settle_before_question()
    assert not gc.isenabled()
