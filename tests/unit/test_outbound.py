"""``OutboundStream`` on a real socket pair: what reaches the peer, and when.

One end of a ``socketpair`` is the connection's transport; the test reads the other
end itself, so "the kernel took it" and "it is queued" are both real states.  The
sending end gets a small send buffer, so a frame of ``BIG`` bytes never fits at once.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import trio
import trio.testing

from quizd.game.handoffs import HandoffLog
from quizd.gateway.outbound import OutboundStream

BIG = 1 << 20
SMALL_BUFFER = 16 * 1024


class Pair:
    """The OutboundStream under test and the peer socket the test reads."""

    def __init__(self, out: OutboundStream, peer: trio.socket.SocketType, spawned: list[Callable[[], object]]) -> None:
        self.out = out
        self.peer = peer
        self.spawned = spawned
        self.slow_consumers = 0

    async def read(self, n: int) -> bytes:
        """Exactly ``n`` bytes from the peer (fails the test if they never come)."""
        got = bytearray()
        with trio.fail_after(10):
            while len(got) < n:
                chunk = await self.peer.recv(min(n - len(got), 1 << 16))
                assert chunk, f"connection closed after {len(got)} of {n} bytes"
                got += chunk
        return bytes(got)

    async def read_to_eof(self) -> bytes:
        got = bytearray()
        with trio.fail_after(10):
            while chunk := await self.peer.recv(1 << 16):
                got += chunk
        return bytes(got)


def frame(byte: bytes, size: int) -> bytes:
    return byte * size


MakePair = Callable[..., Pair]


@pytest.fixture
def make_pair(nursery: trio.Nursery) -> Iterator[MakePair]:
    """``make_pair(max_queue_bytes=...)``: a fresh pair; both ends are closed at teardown."""
    made: list[Pair] = []

    def make(*, max_queue_bytes: int = 4 * BIG) -> Pair:
        left, right = trio.socket.socketpair()
        left.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER)
        right.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
        spawned: list[Callable[[], object]] = []

        def spawn(fn: Callable[[], Any]) -> None:
            spawned.append(fn)
            nursery.start_soon(fn)

        def slow() -> None:
            made_pair.slow_consumers += 1

        out = OutboundStream(
            trio.SocketStream(left), max_queue_bytes=max_queue_bytes, spawn=spawn, on_slow_consumer=slow
        )
        made_pair = Pair(out, right, spawned)
        made.append(made_pair)
        return made_pair

    yield make
    for each in made:
        each.out.abort()
        each.out.transport.socket.close()  # type: ignore[attr-defined]
        each.peer.close()


@pytest.fixture
def pair(make_pair: MakePair) -> Pair:
    return make_pair()


async def test_a_frame_the_kernel_takes_is_written_at_once_without_a_task(pair: Pair) -> None:
    assert pair.out.push(b"hello") is True
    assert pair.out.queued_bytes == 0
    assert pair.out.bytes_written == 5
    assert pair.spawned == []  # no drain task for what went straight in
    assert await pair.read(5) == b"hello"


async def test_what_the_kernel_does_not_take_is_queued_and_drained_in_order(pair: Pair) -> None:
    big = frame(b"a", BIG)
    # push never waits: it returns with the rest of the frame queued.
    assert pair.out.push(big) is True
    assert 0 < pair.out.queued_bytes < BIG
    written_at_once = pair.out.bytes_written
    assert written_at_once + pair.out.queued_bytes == BIG
    # A later frame queues behind it, even a small one the kernel could take.
    assert pair.out.push(b"tail") is True
    assert pair.out.queued_bytes == BIG - written_at_once + 4
    assert len(pair.spawned) == 1  # one drain task for the whole queue

    assert await pair.read(BIG + 4) == big + b"tail"
    await trio.testing.wait_all_tasks_blocked()
    assert pair.out.queued_bytes == 0
    assert pair.out.bytes_written == BIG + 4
    # The queue is empty again: the next frame takes the direct path.
    assert pair.out.push(b"again") is True
    assert pair.out.queued_bytes == 0
    assert len(pair.spawned) == 1
    assert await pair.read(5) == b"again"


async def test_a_queued_leaderboard_frame_is_replaced_by_a_newer_one(pair: Pair) -> None:
    big = frame(b"a", BIG)
    pair.out.push(big)
    head = pair.out.queued_bytes
    assert pair.out.push(b"board-1", replaceable=True)
    assert pair.out.push(b"note")
    assert pair.out.push(b"board-2", replaceable=True)
    # board-1's bytes are dropped from the count; everything else stays queued.
    assert pair.out.queued_bytes == head + len(b"note") + len(b"board-2")
    assert await pair.read(BIG + len(b"note") + len(b"board-2")) == big + b"note" + b"board-2"


async def test_a_half_written_leaderboard_frame_is_not_replaced(pair: Pair) -> None:
    board = frame(b"L", BIG)
    assert pair.out.push(board, replaceable=True)
    assert pair.out.queued_bytes > 0  # its head is in the kernel, the rest is queued
    assert pair.out.push(b"board-2", replaceable=True)
    # Cutting a half-sent frame would break the framing: both go out whole.
    assert await pair.read(BIG + len(b"board-2")) == board + b"board-2"


async def test_a_pair_goes_in_one_write_when_nothing_is_queued(pair: Pair) -> None:
    assert pair.out.push_pair(b"note", b"board", b"noteboard") is True
    assert pair.out.queued_bytes == 0 and pair.out.bytes_written == 9
    assert pair.spawned == []
    assert await pair.read(9) == b"noteboard"


async def test_a_pair_cut_in_its_first_frame_queues_both_and_the_board_stays_replaceable(pair: Pair) -> None:
    note, board = frame(b"n", BIG), b"board-1"
    assert pair.out.push_pair(note, board, note + board) is True
    written = pair.out.bytes_written
    assert 0 < written < BIG and pair.out.queued_bytes == BIG - written + len(board)
    assert pair.out.push(b"board-2", replaceable=True)  # board-1 waits whole: replaced
    assert pair.out.queued_bytes == BIG - written + len(b"board-2")
    assert await pair.read(BIG + len(b"board-2")) == note + b"board-2"


async def test_a_pair_cut_in_its_board_keeps_the_half_written_board(pair: Pair) -> None:
    note, board = b"note", frame(b"L", BIG)
    assert pair.out.push_pair(note, board, note + board) is True
    written = pair.out.bytes_written
    assert len(note) < written < len(note) + BIG
    assert pair.out.queued_bytes == len(note) + BIG - written
    assert pair.out.push(b"board-2", replaceable=True)  # the head is half-sent: kept
    assert await pair.read(len(note) + BIG + len(b"board-2")) == note + board + b"board-2"


async def test_a_pair_behind_a_queue_is_two_pushes(pair: Pair) -> None:
    big = frame(b"a", BIG)
    pair.out.push(big)
    head = pair.out.queued_bytes
    assert pair.out.push(b"board-1", replaceable=True)
    assert pair.out.push_pair(b"note", b"board-2", b"noteboard-2")
    # The older board is replaced by the pair's; the pair's first frame is not.
    assert pair.out.queued_bytes == head + len(b"note") + len(b"board-2")
    assert await pair.read(BIG + len(b"note") + len(b"board-2")) == big + b"note" + b"board-2"


async def test_a_slow_consumer_is_aborted_when_its_queue_exceeds_the_bound(make_pair: MakePair) -> None:
    pair = make_pair(max_queue_bytes=BIG // 2)
    assert pair.out.push(frame(b"a", BIG // 4)) is True
    assert pair.slow_consumers == 0
    assert pair.out.push(frame(b"b", BIG // 2)) is False
    assert pair.slow_consumers == 1
    assert pair.out.closed
    assert pair.out.queued_bytes == 0
    # Closed: nothing more is taken, and the counter does not fire twice.
    assert pair.out.push(b"more") is False
    assert pair.slow_consumers == 1
    received = await pair.read_to_eof()
    assert received == frame(b"a", len(received))  # only what the kernel took, then EOF


async def test_control_frames_queue_behind_data_frames(pair: Pair) -> None:
    pair.out.push(frame(b"a", BIG))
    pair.out.push(b"pong")  # a pong or a close frame never overtakes a queued frame
    assert await pair.read(BIG + 4) == frame(b"a", BIG) + b"pong"


async def test_finish_lets_the_queue_go_then_closes(pair: Pair) -> None:
    pair.out.push(frame(b"a", BIG))
    pair.out.push(b"last words")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(pair.out.finish, 10.0)
        received = await pair.read_to_eof()
    assert received == frame(b"a", BIG) + b"last words"
    assert pair.out.closed
    assert pair.out.push(b"after") is False


async def test_finish_gives_up_on_a_peer_that_reads_nothing(pair: Pair, autojump_clock: trio.testing.MockClock) -> None:
    pair.out.push(frame(b"a", 2 * BIG))
    start = trio.current_time()
    await pair.out.finish(5.0)  # the peer never reads: the deadline closes it
    assert trio.current_time() - start == pytest.approx(5.0)
    assert pair.out.closed
    assert pair.out.queued_bytes == 0


async def test_question_frames_are_stamped_when_their_last_byte_is_handed_over(
    make_pair: MakePair, autojump_clock: trio.testing.MockClock
) -> None:
    handoff = HandoffLog("q1", opened_at=trio.current_time(), time_limit_s=60)
    start = trio.current_time()
    fast = make_pair()
    slow = make_pair()

    # Straight into the socket: stamped now.
    assert fast.out.push(b"question", handoff=handoff, participant_id="fast")
    assert handoff.times == {"fast": start}

    # Behind a big frame nobody reads yet: not stamped until it is written.
    slow.out.push(frame(b"a", BIG))
    assert slow.out.push(b"question", handoff=handoff, participant_id="slow")
    await trio.sleep(5)
    assert "slow" not in handoff.times
    assert await slow.read(BIG + len(b"question")) == frame(b"a", BIG) + b"question"
    await trio.testing.wait_all_tasks_blocked()
    assert handoff.times["slow"] == start + 5
    # Only frames that carry a hand-off are stamped, and only for their participant.
    assert set(handoff.times) == {"fast", "slow"}
