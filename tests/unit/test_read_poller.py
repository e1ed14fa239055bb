"""The read poller (quizd.gateway.poller) on real sockets: one task reads for many
connections, a connection's failure stays its own, and a descriptor number reused by a
newer connection is never confused with the old one."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import trio

from quizd.gateway.poller import MAX_EVENTS, ReadPoller
from tests.unit.steps import TaskSteps


class Conn:
    """A Readable over one end of a socketpair, recording what it read."""

    def __init__(self, sock: socket.socket, poller: ReadPoller, *, fail: bool = False) -> None:
        self.sock = sock
        self.sock.setblocking(False)
        self.poller = poller
        self.fail = fail
        self.reads: list[bytes] = []
        self.calls = 0
        self.failed = False
        self.leftover = 0  # calls still asked for with nothing new to read

    @property
    def fd(self) -> int:
        return self.sock.fileno()

    def on_readable(self) -> None:
        self.calls += 1
        if self.fail:
            raise RuntimeError("this connection's handler broke")
        if self.leftover:
            self.leftover -= 1
            self.reads.append(b"<leftover>")
            if self.leftover:
                self.poller.again(self)
            return
        try:
            self.reads.append(self.sock.recv(4096))
        except BlockingIOError:
            pass

    def on_read_error(self) -> None:
        self.failed = True


@pytest.fixture
def pairs() -> Iterator[list[tuple[socket.socket, socket.socket]]]:
    made: list[tuple[socket.socket, socket.socket]] = []
    yield made
    for ends in made:
        for end in ends:
            end.close()


def pair(pairs: list[tuple[socket.socket, socket.socket]]) -> tuple[socket.socket, socket.socket]:
    ends = socket.socketpair()
    pairs.append(ends)
    return ends


async def settle() -> None:
    """Let the poller take what the kernel has (loopback is immediate; bounded)."""
    for _ in range(20):
        await trio.sleep(0.005)


async def test_one_task_reads_every_ready_connection(pairs: list[tuple[socket.socket, socket.socket]]) -> None:
    poller = ReadPoller()
    conns = []
    for _ in range(100):
        ours, theirs = pair(pairs)
        conns.append((Conn(ours, poller), theirs))
    for conn, _ in conns:
        poller.add(conn)
    steps = TaskSteps("ReadPoller.run")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(poller.run)
        await settle()
        trio.lowlevel.add_instrument(steps)
        try:
            for i, (_, theirs) in enumerate(conns):
                if i % 2 == 0:
                    theirs.sendall(b"answer %d" % i)
            await settle()
        finally:
            trio.lowlevel.remove_instrument(steps)
        nursery.cancel_scope.cancel()
    for i, (conn, _) in enumerate(conns):
        assert conn.reads == ([b"answer %d" % i] if i % 2 == 0 else [])
    # 50 ready connections: a round or two of the poller, not a task wake-up each
    # (a round is two steps: the wait, then the checkpoint after the reads).
    assert steps.steps <= 6


async def test_a_round_takes_at_most_max_events_and_the_rest_come_next(
    pairs: list[tuple[socket.socket, socket.socket]],
) -> None:
    poller = ReadPoller()
    conns = []
    for _ in range(MAX_EVENTS + 10):
        ours, theirs = pair(pairs)
        conn = Conn(ours, poller)
        poller.add(conn)
        theirs.sendall(b"x")
        conns.append(conn)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(poller.run)
        await settle()
        nursery.cancel_scope.cancel()
    assert all(conn.reads == [b"x"] for conn in conns)


async def test_a_failing_connection_ends_alone(pairs: list[tuple[socket.socket, socket.socket]]) -> None:
    poller = ReadPoller()
    bad_ours, bad_theirs = pair(pairs)
    good_ours, good_theirs = pair(pairs)
    bad, good = Conn(bad_ours, poller, fail=True), Conn(good_ours, poller)
    poller.add(bad)
    poller.add(good)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(poller.run)
        bad_theirs.sendall(b"boom")
        good_theirs.sendall(b"first")
        await settle()
        good_theirs.sendall(b"second")
        bad_theirs.sendall(b"more")
        await settle()
        nursery.cancel_scope.cancel()
    assert bad.failed and bad.calls == 1  # unregistered at its failure: not called again
    assert b"".join(good.reads) == b"firstsecond"
    assert len(poller) == 1


async def test_again_calls_back_without_new_bytes(pairs: list[tuple[socket.socket, socket.socket]]) -> None:
    poller = ReadPoller()
    ours, theirs = pair(pairs)
    conn = Conn(ours, poller)
    conn.leftover = 3
    poller.add(conn)
    poller.again(conn)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(poller.run)
        await settle()
        theirs.sendall(b"new")
        await settle()
        nursery.cancel_scope.cancel()
    assert conn.reads == [b"<leftover>"] * 3 + [b"new"]


async def test_a_reused_descriptor_number_belongs_to_the_newer_connection(
    pairs: list[tuple[socket.socket, socket.socket]],
) -> None:
    """The old connection is unregistered before its socket closes; if its end comes
    late (after the number went to a newer connection), discarding it is a no-op."""
    poller = ReadPoller()
    old_ours, _ = pair(pairs)
    old = Conn(old_ours, poller)
    poller.add(old)
    poller.discard(old)
    old_ours.close()
    newer_ours, newer_theirs = pair(pairs)
    newer = Conn(newer_ours, poller)
    poller.add(newer)
    # Most likely the same number; either way the old one's late discard must not touch
    # the newer registration (the old socket is closed: its fd reads as -1).
    late = Conn(newer_ours, poller)  # what a stale reader with that number looks like
    poller.discard(late)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(poller.run)
        newer_theirs.sendall(b"mine")
        await settle()
        nursery.cancel_scope.cancel()
    assert newer.reads == [b"mine"]
    assert old.reads == []


async def test_discard_after_the_poller_stopped_is_harmless(pairs: list[tuple[socket.socket, socket.socket]]) -> None:
    poller = ReadPoller()
    ours, _ = pair(pairs)
    conn = Conn(ours, poller)
    poller.add(conn)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(poller.run)
        await settle()
        nursery.cancel_scope.cancel()
    poller.discard(conn)  # the node stopping: sessions end after the poller
    assert len(poller) == 0
