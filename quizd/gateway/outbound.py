"""The connection's byte stream, with a bounded outbound queue the node owns.

Everything written to a player goes through ``push`` as whole frames (or the HTTP
response of the handshake): the node's pre-framed JSON, and the protocol's pongs and close
frames (:mod:`quizd.gateway.websocket`).  ``push`` never waits:

* if nothing is queued, the frame goes straight into the socket with one non-blocking
  write (no task switch per player: a broadcast to 10,000 players is one loop);
* whatever the kernel does not take is queued, and a drain task started on demand
  writes it when the socket becomes writable;
* a queued leaderboard frame is replaced by a newer one rather than sent twice;
* ``push_pair`` writes two frames (a broadcast and the leaderboard that goes with it)
  in one write when nothing is queued;
* when the queue exceeds ``max_queue_bytes`` the client is a slow consumer: the
  connection is aborted instead of waited for, so it never holds up anyone else.

Writes go through ``os.write`` on the socket's file descriptor, which is public API
(``trio.SocketStream.socket.fileno()``), so a trio or trio-websocket upgrade cannot
silently break the hot path.  TLS streams have no raw descriptor: they take the same
queue with an always-queued drain through ``send_all``.

Because every write funnels through one queue, control frames and the node's data
frames interleave only at frame boundaries.  ``finish`` lets what is queued go (for at
most a deadline) and then closes the socket.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Awaitable, Callable

import trio

from quizd.game.handoffs import HandoffSink


class _Chunk:
    __slots__ = ("data", "handoff", "participant_id", "replaceable")

    def __init__(
        self, data: bytes | memoryview, handoff: HandoffSink | None, participant_id: str | None, replaceable: bool
    ) -> None:
        self.data = data
        self.handoff = handoff
        self.participant_id = participant_id
        self.replaceable = replaceable


class OutboundStream:
    __slots__ = (
        "transport",
        "max_queue_bytes",
        "_spawn",
        "_on_slow_consumer",
        "_fd",
        "_queue",
        "_queued_bytes",
        "_draining",
        "_closed",
        "_flushed",
        "last_received_at",
        "bytes_written",
        "on_close",
        "_sealed",
        "_clock",
    )

    def __init__(
        self,
        transport: trio.abc.Stream,
        *,
        max_queue_bytes: int,
        spawn: Callable[[Callable[[], Awaitable[object]]], None],
        on_slow_consumer: Callable[[], None] = lambda: None,
    ) -> None:
        self.transport = transport
        self.max_queue_bytes = max_queue_bytes
        self._spawn = spawn
        self._on_slow_consumer = on_slow_consumer
        sock = getattr(transport, "socket", None)
        self._fd: int | None = sock.fileno() if isinstance(transport, trio.SocketStream) and sock else None
        # Created when something must wait: an idle connection carries no queue.
        self._queue: deque[_Chunk] | None = None
        self._queued_bytes = 0
        self._draining = False
        self._closed = False
        self._flushed: trio.Event | None = None  # made by ``finish`` while it waits
        self.last_received_at = trio.current_time()
        self.bytes_written = 0
        # Called once, just before the socket is closed (while its descriptor is still
        # this connection's): the read poller unregisters it (quizd.gateway.poller).
        self.on_close: Callable[[], None] | None = None
        self._sealed = False  # a close frame went: nothing more is written
        # The run's clock, read for every hand-off: ``current_time()`` on it directly is
        # half the cost of ``trio.current_time()``, which finds it again on every call.
        self._clock = trio.lowlevel.current_clock()

    # ------------------------------------------------------------------ the owned interface
    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def fd(self) -> int | None:
        """The socket's descriptor; None for TLS (read and written through the SSL stream)."""
        return self._fd

    @property
    def queued_bytes(self) -> int:
        return self._queued_bytes

    def push(
        self,
        frame: bytes,
        *,
        replaceable: bool = False,
        handoff: HandoffSink | None = None,
        participant_id: str | None = None,
    ) -> bool:
        """Hand ``frame`` to the socket now, or queue it; never blocks.

        Returns False when the connection is closed (or was just closed as a slow
        consumer).  ``handoff`` records, for ``participant_id``, the moment the
        frame's last byte went into the socket: now if it goes straight in, or when
        the drain writes it if it had to wait behind queued bytes.
        """
        if self._closed or self._sealed:
            return False
        rest: bytes | memoryview = frame
        if not self._queue and self._fd is not None:
            try:
                written = os.write(self._fd, frame)
            except BlockingIOError:
                written = 0
            except OSError:
                self._abort()
                return False
            self.bytes_written += written
            if written == len(frame):
                if handoff is not None and participant_id is not None:
                    handoff.handed(participant_id, self._clock.current_time())
                return True
            rest = memoryview(frame)[written:]
        elif replaceable and self._queue:
            for chunk in self._queue:
                # The head may be half-written; any later leaderboard frame can go.
                if chunk.replaceable and chunk is not self._queue[0]:
                    self._queued_bytes -= len(chunk.data)
                    chunk.data = b""
                    chunk.replaceable = False
        if self._queue is None:
            self._queue = deque()
        self._queue.append(_Chunk(rest, handoff, participant_id, replaceable))
        self._queued_bytes += len(rest)
        if self._queued_bytes > self.max_queue_bytes:
            self._on_slow_consumer()
            self._abort()
            return False
        if not self._draining:
            self._draining = True
            self._spawn(self._drain)
        return True

    def push_pair(self, frame: bytes, latest: bytes, both: bytes) -> bool:
        """``push(frame)`` then ``push(latest, replaceable=True)``, where ``both`` is the
        two joined: when nothing is queued they go in one write instead of two (half
        the system calls, and half the wake-ups of the reader).  Queued as two chunks
        when they have to wait, so that ``latest`` stays replaceable."""
        if self._queue or self._fd is None:
            return self.push(frame) and self.push(latest, replaceable=True)
        if not self.push(both):
            return False
        if self._queue and len(self._queue[0].data) > len(latest):
            # The kernel took only part of ``frame``: the rest of it and ``latest`` wait
            # as two chunks (the drain has not run yet).  Cut inside ``latest`` instead,
            # the rest is the head of the queue, which is never replaced anyway.
            head = self._queue[0]
            head.data = memoryview(frame)[len(frame) - (len(head.data) - len(latest)) :]
            self._queue.append(_Chunk(latest, None, None, True))
        return True

    def seal(self) -> None:
        """The close frame is pushed: nothing after it is written (what is queued still goes)."""
        self._sealed = True

    def abort(self) -> None:
        """Drop the queue and close the transport at once (slow consumer, shutdown)."""
        self._abort()

    async def receive_some(self, max_bytes: int) -> bytes | bytearray:
        """Read from the transport (the TLS path; plain sockets are read by descriptor)."""
        data = await self.transport.receive_some(max_bytes)
        self.last_received_at = trio.current_time()
        return data

    async def finish(self, timeout_s: float) -> None:
        """Let the queued bytes go for at most ``timeout_s``, then close the socket."""
        try:
            if self._queue and not self._closed:
                self._flushed = trio.Event()
                with trio.move_on_after(timeout_s):
                    await self._flushed.wait()
        finally:
            self._abort()

    # ------------------------------------------------------------------ internals
    def _chunk_done(self, chunk: _Chunk) -> None:
        """A chunk's last byte is in the socket (its bytes are already uncounted)."""
        if chunk.handoff is not None and chunk.participant_id is not None:
            chunk.handoff.handed(chunk.participant_id, self._clock.current_time())

    async def _drain(self) -> None:
        try:
            while self._queue and not self._closed:
                chunk = self._queue[0]
                if not chunk.data:
                    self._queue.popleft()
                    continue
                if self._fd is None:
                    await self.transport.send_all(chunk.data)
                    if self._closed or not self._queue:
                        break
                    self._queued_bytes -= len(chunk.data)
                    chunk.data = b""
                    self._chunk_done(self._queue.popleft())
                    continue
                await trio.lowlevel.wait_writable(self._fd)
                if self._closed:
                    break
                before = len(chunk.data)
                try:
                    written = os.write(self._fd, chunk.data)
                except BlockingIOError:
                    continue
                self.bytes_written += written
                self._queued_bytes -= written
                if written < before:
                    chunk.data = memoryview(chunk.data)[written:]
                    continue
                chunk.data = b""
                self._chunk_done(self._queue.popleft())
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
            self._abort()
        finally:
            self._draining = False
            if not self._queue:
                self._queue = None
                if self._flushed is not None:
                    self._flushed.set()

    def _abort(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue = None
        self._queued_bytes = 0
        if self._flushed is not None:
            self._flushed.set()
        if self.on_close is not None:
            on_close, self.on_close = self.on_close, None
            on_close()
        sock = getattr(self.transport, "socket", None)
        if sock is not None:
            sock.close()
        else:  # TLS: closing the wrapped transport is async; do it from a task.
            self._spawn(lambda: trio.aclose_forcefully(self.transport))
