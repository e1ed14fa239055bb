"""The node's WebSocket listener (quizd.gateway.server + session) on real loopback
sockets, in process, with a stand-in quiz whose answers the test decides.

The quiz handle only records what the gateway posts and claims joins like an actor
that has started deciding; the test answers them when it wants, so the waits of the
session (the join, the close) are played out in virtual time.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import attrs
import trio
import trio.testing
from wsproto.events import CloseConnection

from quizd.actors.inbox import Command, ConnectionLost, InboxItem, JoinRequest, SlotState
from quizd.config.model import Config, LimitsSection
from quizd.gateway.server import Gateway
from quizd.gateway.session import CLOSE_TIMEOUT_S, JOIN_TIMEOUT_S
from quizd.gateway.websocket import BATCH_EVENTS, RECEIVE_BYTES
from quizd.protocol.messages import ClientMessage, JoinPayload
from tests.e2e.clientkit import RawClient


class ClaimingQuiz:
    """A quiz handle that claims every join (the actor is deciding) and answers none;
    with ``claims=False`` it leaves them pending (a join relayed to another node)."""

    quiz_id = "q"

    def __init__(self, *, claims: bool = True) -> None:
        self.claims = claims
        self.items: list[InboxItem] = []

    def post(self, item: InboxItem) -> None:
        if isinstance(item, JoinRequest) and self.claims:
            assert item.reply.claim()
        self.items.append(item)

    async def next_item(self, kind: type[InboxItem]) -> InboxItem:
        """The first posted item of ``kind`` (waits for it)."""
        with trio.fail_after(JOIN_TIMEOUT_S):
            while True:
                for item in self.items:
                    if isinstance(item, kind):
                        return item
                await trio.sleep(0.01)


class OneQuizRouter:
    def __init__(self, quiz: ClaimingQuiz) -> None:
        self.quiz = quiz

    async def lookup(self, quiz_id: str) -> ClaimingQuiz | None:
        return self.quiz if quiz_id == self.quiz.quiz_id else None


@asynccontextmanager
async def serving(quiz: ClaimingQuiz, config: Config | None = None) -> AsyncIterator[tuple[Gateway, str]]:
    """A real ``Gateway`` listening on a loopback port, in this test's event loop."""
    gateway = Gateway(config or Config(), OneQuizRouter(quiz))
    async with trio.open_nursery() as nursery:
        host, port = await nursery.start(gateway.serve)
        yield gateway, f"{host}:{port}"
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def joining(quiz: ClaimingQuiz, address: str) -> AsyncIterator[tuple[RawClient, JoinRequest]]:
    """A raw client that sent Ann's join, and the join as the quiz got it (undecided)."""
    client = await RawClient.connect(address)
    try:
        await client.send_json("join", {"quizId": "q", "name": "Ann"}, 1)
        join = await quiz.next_item(JoinRequest)
        assert isinstance(join, JoinRequest)
        yield client, join
    finally:
        await client.aclose()


async def test_a_claimed_join_is_waited_for_however_long_it_takes(autojump_clock: trio.testing.MockClock) -> None:
    """The actor claimed the join and its answer comes after the gateway's join timeout
    and the close's bound together (a cluster commit through a Redis blip): the session
    takes it and becomes that participant, and the listener keeps serving."""
    quiz = ClaimingQuiz()
    async with serving(quiz) as (gateway, address), joining(quiz, address) as (client, join):
        await trio.sleep(JOIN_TIMEOUT_S + CLOSE_TIMEOUT_S + 1)
        join.reply.set("p1")
        await client.send_json("get_leaderboard", {}, 2)
        command = await quiz.next_item(Command)
        assert isinstance(command, Command) and command.participant_id == "p1"
        assert [s.participant_id for s in gateway.sessions] == ["p1"]


async def test_a_join_answered_while_its_connection_closes_is_told_lost(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A close under way (the node drains) waits for the join the actor is deciding, so
    the quiz hears that the participant it just accepted is gone again."""
    quiz = ClaimingQuiz()
    async with serving(quiz) as (gateway, address), joining(quiz, address) as (client, join):
        gateway.close_all(1012, "restarting")
        await trio.sleep(CLOSE_TIMEOUT_S + 1)
        join.reply.set("p1")
        lost = await quiz.next_item(ConnectionLost)
        assert isinstance(lost, ConnectionLost) and lost.participant_id == "p1"
        await client.wait_server_close(CLOSE_TIMEOUT_S * 2)


async def test_a_join_nobody_decided_yet_does_not_hold_up_the_shutdown(autojump_clock: trio.testing.MockClock) -> None:
    """The node stops while a join waits for a quiz that has not started deciding (a
    relayed join): the session gives it up at once (the quiz will skip it, or undo a
    late acceptance) instead of holding the listener for the join's 10 s."""
    quiz = ClaimingQuiz(claims=False)
    gateway = Gateway(Config(), OneQuizRouter(quiz))
    async with trio.open_nursery() as nursery:
        host, port = await nursery.start(gateway.serve)
        client = await RawClient.connect(f"{host}:{port}")
        try:
            await client.send_json("join", {"quizId": "q", "name": "Ann"}, 1)
            join = await quiz.next_item(JoinRequest)
            assert isinstance(join, JoinRequest)
            stopping = trio.current_time()
            nursery.cancel_scope.cancel()
        finally:
            await client.aclose()
    assert trio.current_time() - stopping < JOIN_TIMEOUT_S
    assert join.reply.state is SlotState.ABANDONED


async def test_a_read_full_of_small_frames_lets_other_tasks_run_between_batches() -> None:
    """16 KiB of small messages arrive in one read: the session handles them a batch
    at a time and lets the rest of the node run in between, so one flooding peer
    cannot hold the event loop for the whole read (hundreds of frames, milliseconds of
    work per read).  Once joined, the read poller does the reading: the same bound."""
    quiz = ClaimingQuiz()
    unlimited = attrs.evolve(Config(), limits=LimitsSection(messages_per_second=1e6, burst=1_000_000))
    async with serving(quiz, unlimited) as (_gateway, address):
        client = await RawClient.connect(address)
        try:
            await client.send_json("join", {"quizId": "q", "name": "Ann"}, 1)
            join = await quiz.next_item(JoinRequest)
            assert isinstance(join, JoinRequest)
            join.reply.set("p1")
            await client.send_json("get_leaderboard", {}, 0)
            await quiz.next_item(Command)
            frame = client.encode("get_leaderboard", {}, 0)
            count = RECEIVE_BYTES // len(frame)
            await client.stream.send_all(frame * count)
            # Between two turns of this task, how many of them did the session handle?
            steps: list[int] = []
            seen = len(quiz.items)
            with trio.fail_after(5):
                while len(quiz.items) < 2 + count:
                    await trio.lowlevel.checkpoint()
                    steps.append(len(quiz.items) - seen)
                    seen = len(quiz.items)
            assert count > 4 * BATCH_EVENTS
            # A turn of the scheduler runs the session at most once (twice between two
            # looks when the order of a turn changes): never the whole read at once.
            assert max(steps) <= 2 * BATCH_EVENTS, (count, max(steps))
        finally:
            await client.aclose()


async def joined(quiz: ClaimingQuiz, address: str) -> RawClient:
    client = await RawClient.connect(address)
    await client.send_json("join", {"quizId": "q", "name": "Ann"}, 1)
    join = await quiz.next_item(JoinRequest)
    assert isinstance(join, JoinRequest)
    join.reply.set("p1")
    return client


async def assert_read_as_p1(quiz: ClaimingQuiz, client: RawClient) -> None:
    """A message the joined client sends reaches the quiz as p1's command."""
    await client.send_json("get_leaderboard", {}, 2)
    command = await quiz.next_item(Command)
    assert isinstance(command, Command) and command.participant_id == "p1"


async def test_a_joined_connection_is_read_by_the_poller_until_it_closes() -> None:
    quiz = ClaimingQuiz()
    async with serving(quiz) as (gateway, address):
        client = await joined(quiz, address)
        try:
            await assert_read_as_p1(quiz, client)
            assert len(gateway.poller) == 1
        finally:
            await client.aclose()
        lost = await quiz.next_item(ConnectionLost)
        assert isinstance(lost, ConnectionLost) and lost.participant_id == "p1"
        with trio.fail_after(5):
            while gateway.sessions or len(gateway.poller):
                await trio.sleep(0.01)


async def test_an_idle_joined_connection_keeps_neither_its_join_nor_extra_frames() -> None:
    """What a waiting connection holds, it holds for as long as the player stays (and
    every collection of the old generation walks it): once joined and read by the
    poller, its task is parked three frames deep, and the join's message and payload
    are garbage."""
    quiz = ClaimingQuiz()
    async with serving(quiz) as (gateway, address):
        client = await joined(quiz, address)
        try:
            await assert_read_as_p1(quiz, client)
            (session,) = gateway.sessions
            task = session._reading
            assert task is not None  # parked while the poller reads
            frames = []
            coro = task.coro
            while coro is not None and hasattr(coro, "cr_code"):
                frames.append(coro.cr_code.co_qualname)
                coro = coro.cr_await
            assert frames == [
                "Gateway._handle_stream",
                "Session.run",
                "Session._read_polled",
                "wait_task_rescheduled",
            ], frames
            gc.collect()
            kept = [o for o in gc.get_objects() if isinstance(o, JoinPayload)]
            kept += [o for o in gc.get_objects() if isinstance(o, ClientMessage) and o.type == "join"]
            assert kept == []
        finally:
            await client.aclose()


async def test_a_connection_the_poller_cannot_take_is_read_by_its_own_task() -> None:
    """The kernel refuses the registration (say the epoll's watch limit): the session
    reads in its own task, as before the join, and nothing else notices."""
    quiz = ClaimingQuiz()
    async with serving(quiz) as (gateway, address):

        def refuse(reader: object) -> None:
            raise OSError(28, "No space left on device")

        gateway.poller.add = refuse  # type: ignore[method-assign]
        client = await joined(quiz, address)
        try:
            await assert_read_as_p1(quiz, client)
            assert len(gateway.poller) == 0
        finally:
            await client.aclose()
        lost = await quiz.next_item(ConnectionLost)
        assert isinstance(lost, ConnectionLost)


async def test_a_message_over_the_limit_closes_1009_and_the_socket_goes_at_once() -> None:
    """The protocol fails the connection (1009) and reads nothing more, so the session
    ends without waiting for the peer's close reply or the close timeout."""
    quiz = ClaimingQuiz()
    async with serving(quiz) as (gateway, address):
        client = await joined(quiz, address)
        try:
            await client.send_json("get_leaderboard", {}, 2)
            await quiz.next_item(Command)
            limit = gateway.config.websocket.max_message_bytes
            await client.send_json("get_leaderboard", {"pad": "x" * limit}, 3)
            await client.wait_server_close(CLOSE_TIMEOUT_S / 2)
            closes = [e for e in client.events if isinstance(e, CloseConnection)]
            assert [c.code for c in closes] == [1009]
        finally:
            await client.aclose()
