"""The batch writer: what happened reaches the database in batches, never on the answer path.

Actors call :meth:`BatchWriter.record` through the narrow
:class:`quizd.actors.ports.RecordPort`: it appends
to an in-memory buffer and returns at once (no await, no I/O).  One Trio task flushes
the buffer every ``flush_interval_s``, or sooner once it holds ``batch_size`` events, in
one transaction per batch in the writer's own low-priority thread
(:class:`quizd.store.thread.WriterThread`: a batch yields the CPU to the event loop).
A ``QuizEnded`` wakes the task at once: the end of a quiz (its results, and the
``quiz.ended`` webhook that commits with them) is written without waiting for the
interval, while answers still go at least every interval.

When the database is down the batch goes back to the front of the buffer and is
retried with a doubling backoff.  The buffer is bounded: past ``max_pending`` events the
oldest *answers* are dropped and counted (``quizd_store_dropped_answers``): the oldest
of those buffered, since the batch being written may still reach the database; a quiz's
creation, start, closes and end with its results are never dropped, so the bound is
exceeded only by those few facts.  An event the database refuses for what it holds
(a value too long, say) would block every batch behind it for ever: the batch is then
written one event a transaction, and the refused event is logged and counted
(``quizd_store_rejected_events``) instead.  Writes are idempotent (:mod:`quizd.store.rows`), so
a batch whose commit was lost in transit is simply written again.  An ``outbox``
(:class:`OutboxPort`) adds its rows in each batch's transaction: the webhook outbox, so
that ``quiz.ended`` commits with the quiz's results.

:meth:`BatchWriter.drain` (the node's drain) waits until everything is written or its
timeout passes.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from functools import partial
from typing import Protocol

import trio
from sqlalchemy import Connection
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from quizd.ops import metrics
from quizd.store.engine import Database
from quizd.store.events import AnswerRecorded, QuizEnded, StoreEvent
from quizd.store.rows import write_batch
from quizd.store.thread import WriterThread

log = logging.getLogger("quizd.store")

# Errors that say the database is away (down, restarting, unreachable, out of
# connections), not that it refuses what was written: the batch is kept and retried.
TRANSIENT = (OperationalError, InterfaceError, DisconnectionError, PoolTimeout)


class OutboxPort(Protocol):
    """Rows written with a batch, in its transaction (the webhook outbox,
    :class:`quizd.webhooks.outbox.Outbox`): called after the batch's own rows."""

    def write(self, connection: Connection, events: Sequence[StoreEvent]) -> None: ...


class BatchWriter:
    """A bounded buffer of store events and the task that writes them in batches."""

    def __init__(
        self,
        database: Database,
        *,
        flush_interval_s: float = 1.0,
        batch_size: int = 1000,
        max_pending: int = 100_000,
        backoff_min_s: float = 0.1,
        backoff_max_s: float = 5.0,
        outbox: OutboxPort | None = None,
    ) -> None:
        if flush_interval_s <= 0 or batch_size < 1 or max_pending < 1:
            raise ValueError("flush_interval_s, batch_size and max_pending must be positive")
        self._database = database
        self._flush_interval_s = flush_interval_s
        self._batch_size = batch_size
        self._max_pending = max_pending
        self._backoff_min_s = backoff_min_s
        self._backoff_max_s = backoff_max_s
        self._outbox = outbox
        self._thread = WriterThread()
        self._pending: deque[StoreEvent] = deque()
        self._in_flight = 0  # events taken out for the batch being written
        self._wake = trio.Event()
        self._round_done = trio.Event()  # set (and replaced) each time a flush round empties the buffer
        self.dropped = 0  # answers dropped past the bound, since start
        self.written = 0  # events written, since start

    # ------------------------------------------------------------------ the port
    def record(self, event: StoreEvent) -> None:
        """Buffer ``event`` for the next batch; returns at once.  A full batch or the end
        of a quiz wakes the flushing task now, rather than at the interval."""
        self._pending.append(event)
        if self.pending > self._max_pending:
            self._drop_oldest_answer()
        if len(self._pending) >= self._batch_size or isinstance(event, QuizEnded):
            self._wake.set()
        metrics.STORE_PENDING.set(self.pending)

    @property
    def pending(self) -> int:
        """Events not yet known to be written (buffered and in the batch being written)."""
        return len(self._pending) + self._in_flight

    def _drop_oldest_answer(self) -> bool:
        """Drop the oldest buffered answer; False when only facts that are never dropped remain."""
        for i, event in enumerate(self._pending):
            if isinstance(event, AnswerRecorded):
                del self._pending[i]
                self.dropped += 1
                metrics.STORE_DROPPED.inc()
                return True
        return False

    # ------------------------------------------------------------------ the task
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Flush every interval (or when woken) until cancelled."""
        async with trio.open_nursery() as nursery:
            await nursery.start(self._thread.run)
            task_status.started()
            while True:
                with trio.move_on_after(self._flush_interval_s):
                    await self._wake.wait()
                self._wake = trio.Event()
                await self._flush_all()

    async def _flush_all(self) -> None:
        """Write everything buffered, batch by batch, retrying with backoff until it is done."""
        backoff = self._backoff_min_s
        failing = False
        while self._pending:
            if await self._flush_batch():
                if failing:
                    log.info("store: the database is back, %d events pending", self.pending)
                failing = False
                backoff = self._backoff_min_s
                continue
            if not failing:
                log.warning("store: the database is unavailable; keeping %d events and retrying", self.pending)
            failing = True
            await trio.sleep(backoff)
            backoff = min(backoff * 2, self._backoff_max_s)
        done, self._round_done = self._round_done, trio.Event()
        done.set()

    async def _flush_batch(self) -> bool:
        """Write the next batch; False (the batch back at the front) when the database is away."""
        n = min(len(self._pending), self._batch_size)
        batch = [self._pending.popleft() for _ in range(n)]
        self._in_flight = n
        ok = False
        try:
            try:
                await self._thread.call(partial(self._write, batch))
            except TRANSIENT:
                raise
            except Exception as exc:  # the database refused what the batch holds
                log.warning(
                    "store: a batch of %d was refused (%s); writing its events one by one", n, exc.__class__.__name__
                )
                self._reject(await self._thread.call(partial(self._write_each, batch)))
            ok = True
        except TRANSIENT as exc:
            metrics.STORE_WRITE_ERRORS.inc()
            log.debug("store: batch of %d failed: %s", n, exc)
        finally:
            self._in_flight = 0
            if ok:
                self.written += n
            else:  # back to the front, in order, for the retry (also when cancelled)
                self._pending.extendleft(reversed(batch))
                while self.pending > self._max_pending and self._drop_oldest_answer():
                    pass
            metrics.STORE_PENDING.set(self.pending)
        return ok

    def _write(self, batch: list[StoreEvent]) -> None:
        with self._database.engine.begin() as connection:
            write_batch(connection, batch)
            if self._outbox is not None:
                self._outbox.write(connection, batch)

    def _write_each(self, batch: list[StoreEvent]) -> list[tuple[StoreEvent, Exception]]:
        """Each event in its own transaction; those refused for what they hold, with why.

        A transient error still propagates, so the whole batch is retried (the events
        already written are written again as no-ops).
        """
        rejected: list[tuple[StoreEvent, Exception]] = []
        for event in batch:
            try:
                self._write([event])
            except TRANSIENT:
                raise
            except Exception as exc:  # one refused event must not block the rest
                rejected.append((event, exc))
        return rejected

    def _reject(self, rejected: list[tuple[StoreEvent, Exception]]) -> None:
        for event, exc in rejected:
            metrics.STORE_REJECTED.inc()
            log.error(
                "store: the database refused %s of quiz %s for good: %s",
                type(event).__name__,
                event.quiz_id,
                str(exc).splitlines()[0] if str(exc) else exc,
            )

    # ------------------------------------------------------------------ drain
    async def drain(self, timeout: float) -> bool:
        """Wait until everything recorded so far is written, at most ``timeout`` seconds.

        True when nothing is pending.  The flushing task must be running.
        """
        with trio.move_on_after(timeout):
            while self.pending:
                self._wake.set()
                await self._round_done.wait()
        return self.pending == 0
