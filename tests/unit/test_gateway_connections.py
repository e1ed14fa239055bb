"""The node's WebSocket listener (quizd.gateway.server + session) on real loopback
sockets, in process, with a stand-in quiz whose answers the test decides.

The quiz handle only records what the gateway posts and claims joins like an actor
that has started deciding; the test answers them when it wants, so the waits of the
session (the join, the close) are played out in virtual time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio
import trio.testing

from quizd.actors.inbox import Command, ConnectionLost, InboxItem, JoinRequest
from quizd.config.model import Config
from quizd.gateway.server import Gateway
from quizd.gateway.session import CLOSE_TIMEOUT_S, JOIN_TIMEOUT_S
from tests.e2e.clientkit import RawClient


class ClaimingQuiz:
    """A quiz handle that claims every join (the actor is deciding) and answers none."""

    quiz_id = "q"

    def __init__(self) -> None:
        self.items: list[InboxItem] = []

    def post(self, item: InboxItem) -> None:
        if isinstance(item, JoinRequest):
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
async def serving(quiz: ClaimingQuiz) -> AsyncIterator[tuple[Gateway, str]]:
    """A real ``Gateway`` listening on a loopback port, in this test's event loop."""
    gateway = Gateway(Config(), OneQuizRouter(quiz))
    async with trio.open_nursery() as nursery:
        host, port = await nursery.start(gateway.serve)
        yield gateway, f"{host}:{port}"
        nursery.cancel_scope.cancel()


async def test_a_claimed_join_is_waited_for_however_long_it_takes(autojump_clock: trio.testing.MockClock) -> None:
    """The actor claimed the join and its answer comes after the gateway's join timeout
    and the close's bound together (a cluster commit through a Redis blip): the session
    takes it and becomes that participant, and the listener keeps serving."""
    quiz = ClaimingQuiz()
    async with serving(quiz) as (gateway, address):
        client = await RawClient.connect(address)
        try:
            await client.send_json("join", {"quizId": "q", "name": "Ann"}, 1)
            join = await quiz.next_item(JoinRequest)
            assert isinstance(join, JoinRequest)
            await trio.sleep(JOIN_TIMEOUT_S + CLOSE_TIMEOUT_S + 1)
            join.reply.set("p1")
            await client.send_json("get_leaderboard", {}, 2)
            command = await quiz.next_item(Command)
            assert isinstance(command, Command) and command.participant_id == "p1"
            assert [s.participant_id for s in gateway.sessions] == ["p1"]
        finally:
            await client.aclose()


async def test_a_join_answered_while_its_connection_closes_is_told_lost(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A close under way (the node drains) waits for the join the actor is deciding, so
    the quiz hears that the participant it just accepted is gone again."""
    quiz = ClaimingQuiz()
    async with serving(quiz) as (gateway, address):
        client = await RawClient.connect(address)
        try:
            await client.send_json("join", {"quizId": "q", "name": "Ann"}, 1)
            join = await quiz.next_item(JoinRequest)
            assert isinstance(join, JoinRequest)
            gateway.close_all(1012, "restarting")
            await trio.sleep(CLOSE_TIMEOUT_S + 1)
            join.reply.set("p1")
            lost = await quiz.next_item(ConnectionLost)
            assert isinstance(lost, ConnectionLost) and lost.participant_id == "p1"
            await client.wait_server_close(CLOSE_TIMEOUT_S * 2)
        finally:
            await client.aclose()
