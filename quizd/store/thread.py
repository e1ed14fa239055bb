"""The batch writer's own worker thread, at the lowest CPU priority (nice 19).

Why a thread of its own, when every other blocking call of the node goes through
``trio.to_thread.run_sync`` under a limiter (:class:`quizd.store.engine.Database`):

* A batch is mostly C work with the GIL released (SQLite's ``json_each`` insert, or
  psycopg waiting on PostgreSQL), so a writer thread and the event loop really run at
  the same time, and on a node that has one core, or whose cores are busy, the kernel
  shares that core between them fairly: while a batch of 1,000 answers is written,
  the loop runs at about half speed, in the middle of an answer burst.  Measured on
  this project's 2-core machine (node pinned to one core, 5,000 players answering
  within 1 s, six alternating rounds, medians; docs/benchmarks.md, "The writer's own
  thread"): answer p50 11.6 ms without storage, 48.1 ms with SQLite written from a
  thread of Trio's, 11.3 ms from this one; p99 136, 221 and 103 ms.  At nice 19 the
  thread still gets CPU on a busy core (about 1.5 % of it against a nice-0 loop), so
  the writes are late, never starved; on a core with spare time, or another core, it
  runs at full speed.  It has to be the lowest priority: at 10 levels below the node
  the thread got about a tenth of the core, close to all a burst's batches need, and
  the same comparison gave p50 3.4 ms without storage, 21.1 ms before, 15.8 ms after.
* The priority is the thread's own (``setpriority`` on its thread id, Linux): a thread
  of Trio's shared cache could not be given it, because an unprivileged process cannot
  lower a nice value again, and the next ``to_thread`` call to reuse that thread (a
  Redis commit on the answer path of a cluster node) would inherit it.

So the thread is started by :meth:`WriterThread.run` (the writer's task), runs one
call at a time from a queue, hands each outcome back through Trio's token, and ends
when that task does.  A caller cancelled while its call runs leaves it running to its
end (the writes are idempotent, and the writer puts the batch back for its retry).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import outcome
import trio

log = logging.getLogger("quizd.store")

T = TypeVar("T")

#: The writer thread's nice value: the lowest CPU priority that still gets CPU time.
WRITER_NICE = 19


def lower_priority(nice: int = WRITER_NICE) -> None:
    """Give the calling thread (only it) the nice value ``nice``; where that is not
    possible (not Linux, or refused), the thread keeps the process's priority."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    except (AttributeError, OSError) as exc:
        log.debug("store: the writer thread keeps the process's priority (%s)", exc)


class _Call:
    __slots__ = ("fn", "done", "result")

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn = fn
        self.done = trio.Event()
        self.result: outcome.Outcome[Any] | None = None


class WriterThread:
    """One dedicated worker thread at low CPU priority; :meth:`call` runs a function in it."""

    def __init__(self, name: str = "quizd-store-writer", *, nice: int = WRITER_NICE) -> None:
        self._name = name
        self._nice = nice
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._running = False

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Start the thread, keep it until cancelled, then let it end after its call."""
        token = trio.lowlevel.current_trio_token()
        thread = threading.Thread(target=self._main, args=(token,), name=self._name, daemon=True)
        thread.start()
        self._running = True
        try:
            task_status.started()
            await trio.sleep_forever()
        finally:
            self._running = False
            self._calls.put(None)

    async def call(self, fn: Callable[[], T]) -> T:
        """``fn()`` in the writer thread; its result or its exception."""
        if not self._running:
            raise RuntimeError("the writer thread is not running (WriterThread.run)")
        call = _Call(fn)
        self._calls.put(call)
        await call.done.wait()
        assert call.result is not None
        return call.result.unwrap()  # type: ignore[no-any-return]

    def _main(self, token: trio.lowlevel.TrioToken) -> None:
        lower_priority(self._nice)
        while (call := self._calls.get()) is not None:
            call.result = outcome.capture(call.fn)
            try:
                trio.from_thread.run_sync(call.done.set, trio_token=token)
            except trio.RunFinishedError:
                return
