"""The batch writer's own thread (``quizd.store.thread``): results, errors, its priority
(only its own), and its end with the task that runs it."""

from __future__ import annotations

import os
import threading

import pytest
import trio

from quizd.store.thread import WRITER_NICE, WriterThread


def _me() -> tuple[int, int, str]:
    """The calling thread: its id, its nice value, its name."""
    tid = threading.get_native_id()
    return tid, os.getpriority(os.PRIO_PROCESS, tid), threading.current_thread().name


async def test_a_call_runs_in_the_writer_thread_at_low_priority_and_only_there() -> None:
    loop_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    thread = WriterThread(name="test-writer")
    async with trio.open_nursery() as nursery:
        await nursery.start(thread.run)
        tid, nice, name = await thread.call(_me)
        assert name == "test-writer"
        assert tid != threading.get_native_id()
        assert nice == max(WRITER_NICE, loop_nice)
        # The same thread for every call: one writer, in order.
        assert (await thread.call(_me))[0] == tid
        # The event loop's thread and Trio's worker threads keep their priority.
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == loop_nice
        _tid, worker_nice, _name = await trio.to_thread.run_sync(_me)
        assert worker_nice == loop_nice
        nursery.cancel_scope.cancel()


async def test_an_exception_in_the_thread_is_raised_to_the_caller() -> None:
    def refuse() -> None:
        raise ValueError("refused")

    thread = WriterThread()
    async with trio.open_nursery() as nursery:
        await nursery.start(thread.run)
        with pytest.raises(ValueError, match="refused"):
            await thread.call(refuse)
        assert await thread.call(lambda: 42) == 42  # the thread goes on
        nursery.cancel_scope.cancel()


async def test_a_call_without_the_thread_running_says_so() -> None:
    with pytest.raises(RuntimeError, match="not running"):
        await WriterThread().call(lambda: None)


async def test_the_thread_ends_with_its_task_after_the_call_in_progress() -> None:
    started = threading.Event()
    release = threading.Event()
    finished: list[int] = []

    def slow() -> int:
        started.set()
        release.wait(10)
        finished.append(1)
        return 1

    thread = WriterThread(name="test-writer-end")
    async with trio.open_nursery() as nursery:
        await nursery.start(thread.run)
        with trio.move_on_after(0.05):
            nursery.start_soon(thread.call, slow)
            await trio.to_thread.run_sync(started.wait, 10)
            await trio.sleep_forever()
        nursery.cancel_scope.cancel()  # the caller and the thread's task leave
    release.set()
    for _ in range(200):  # bounded: the thread finishes its call, then ends
        alive = [t for t in threading.enumerate() if t.name == "test-writer-end"]
        if not alive:
            break
        await trio.to_thread.run_sync(alive[0].join, 0.05)
    assert finished == [1]
    assert not [t for t in threading.enumerate() if t.name == "test-writer-end"]
