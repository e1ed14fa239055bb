"""One task that reads every joined player's socket when the kernel says it has bytes.

Before this, each connection's task waited for its own descriptor
(``trio.lowlevel.wait_readable``): Trio registers the descriptor with its epoll for that
one wait (an ``epoll_ctl`` call), and when bytes come it reschedules the task, which
then runs on its own turn.  On the all-at-once burst (5,000 answers within half a
second) that machinery, per answer, was about a quarter of the node's main thread:
registering, the wake-up, the task switch, the outcome object, unregistering.

Here a joined plain-socket connection is registered once, level-triggered, with an
epoll of the poller's own; the poller's one task waits for that epoll to be readable
(one Trio wait for all of them), takes up to ``MAX_EVENTS`` ready descriptors and calls
each one's ``on_readable``, which reads once and handles what it read synchronously
(the joined hot path awaits nothing: it posts to the quiz's inbox).  Then it lets the
rest of the node run (the quizzes answer what was just read) before it polls again.

Bounds: a connection is read at most once per round (``RECEIVE_BYTES``) and hands on at
most ``BATCH_EVENTS`` frames; a connection with frames left over is called again next
round, before any new read of it.  TLS connections, and every connection until it has
joined, are read by their own task as before.

A descriptor is unregistered before its socket is closed (``OutboundStream.on_close``,
or the end of the session), so a number reused by a newer connection is never
confused with the old one.
"""

from __future__ import annotations

import logging
import select
from typing import Protocol

import trio

log = logging.getLogger("quizd.gateway")

# Ready descriptors taken per round; what is left stays ready (level-triggered) for the
# next round, after the rest of the node has run.
MAX_EVENTS = 256


class Readable(Protocol):
    """A connection the poller reads for."""

    @property
    def fd(self) -> int: ...

    def on_readable(self) -> None:
        """Read once (or hand on frames left from the last read) and handle it; never blocks."""

    def on_read_error(self) -> None:
        """``on_readable`` raised: end the connection (it was already logged)."""


# The readers already called this round when none had frames left over (the usual round).
NONE_CALLED: frozenset[Readable] = frozenset()


class ReadPoller:
    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._readers: dict[int, Readable] = {}
        self._again: list[Readable] = []  # frames left from their last read

    def __len__(self) -> int:
        return len(self._readers)

    def add(self, reader: Readable) -> None:
        fd = reader.fd
        self._epoll.register(fd, select.EPOLLIN)
        self._readers[fd] = reader

    def again(self, reader: Readable) -> None:
        """Call ``reader`` next round even if its socket has nothing new."""
        self._again.append(reader)

    def discard(self, reader: Readable) -> None:
        """Stop reading for ``reader``; call it before its socket is closed."""
        fd = reader.fd
        if self._readers.get(fd) is reader:
            del self._readers[fd]
            try:
                self._epoll.unregister(fd)
            except (OSError, ValueError):
                # OSError: the socket is already closed and the kernel dropped it from the
                # epoll itself; ValueError: the poller stopped (the node is shutting down).
                pass

    async def run(self) -> None:
        """Read for every registered connection until cancelled."""
        try:
            while True:
                if not self._again:  # (with frames left over, the last round's checkpoint was the wait)
                    await trio.lowlevel.wait_readable(self._epoll.fileno())
                called = NONE_CALLED
                if self._again:
                    again, self._again = self._again, []
                    called = frozenset(again)
                    for reader in again:
                        if self._readers.get(reader.fd) is reader:
                            self._call(reader)
                for fd, _flags in self._epoll.poll(0, MAX_EVENTS):
                    ready = self._readers.get(fd)
                    if ready is not None and ready not in called:  # once a round
                        self._call(ready)
                # The quizzes answer what was read, the other tasks run, then the next round.
                await trio.lowlevel.checkpoint()
        finally:
            self._epoll.close()

    def _call(self, reader: Readable) -> None:
        try:
            reader.on_readable()
        except Exception:
            # One connection's failure is that connection's: it ends, the others are read.
            log.exception("reading a connection failed; closing it")
            self.discard(reader)
            reader.on_read_error()
