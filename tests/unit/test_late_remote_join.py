"""A relayed join accepted after its gateway gave up is undone, not kept as a ghost.

In a cluster the gateway's join timeout cannot be atomic with the owner's decision:
the owner's ``JoinAccepted`` may reach the gateway after the session answered
``server_busy``, or after its connection closed.  The gateway then claims nothing and
tells the owner ``JoinUndone``; the owner's actor unbinds that connection and removes
a new player (its name is free again) or disconnects a resumed one (issue 12).
"""

from __future__ import annotations

from typing import Any

import pytest
import trio

from quizd.actors.actor import QuizActor
from quizd.actors.inbox import JoinRequest, ReplyAbandoned, SlotState, UndoJoin
from quizd.cluster.gateway_side import GatewaySide, RemoteQuizHandle
from quizd.cluster.messages import JoinAccepted, JoinUndone, RelayMessage, RemoteJoin
from quizd.game.quiz import GameSettings, QuizGame
from quizd.protocol import errors as E
from quizd.protocol.errors import ProtocolError

from .actorkit import Endpoint, RecordingDelivery, join, running, settle
from .quizkit import HOST_TOKEN, definition


# ---------------------------------------------------------------------- the gateway
class FakeTransport:
    """The relay transport as the gateway side uses it: posts are recorded."""

    node_id = "gw"

    def __init__(self) -> None:
        self.posted: list[tuple[str, RelayMessage]] = []

    def post(self, node: str, message: RelayMessage) -> bool:
        self.posted.append((node, message))
        return True

    def of(self, cls: type[RelayMessage]) -> list[Any]:
        return [m for _node, m in self.posted if isinstance(m, cls)]


class FakeOut:
    closed = False


class FakeGateway:
    def __init__(self) -> None:
        self._ids = iter(range(100, 200))

    def new_conn_id(self) -> int:
        return next(self._ids)


class FakeSession:
    """What the gateway side reads of a ``Session``."""

    def __init__(self, conn_id: int) -> None:
        self.conn_id = conn_id
        self.gateway = FakeGateway()
        self.out = FakeOut()
        self.quiz_id: str | None = None


def relayed_join(
    kind: str = "player", value: str = "Ann", conn: int = 7
) -> tuple[GatewaySide, FakeTransport, RemoteQuizHandle, FakeSession, JoinRequest]:
    transport = FakeTransport()
    side = GatewaySide(transport)  # type: ignore[arg-type]
    handle = RemoteQuizHandle("q", "owner", side)
    session = FakeSession(conn)
    request = JoinRequest(kind, value, 1, session, 0.0)
    handle.post(request)
    return side, transport, handle, session, request


async def test_an_accept_in_time_binds_the_session() -> None:
    side, transport, _handle, session, request = relayed_join()
    side.handle(JoinAccepted(7, "q", "p1"))
    assert await request.reply.wait_or_abandon(1.0) == "p1"
    assert side.conns[7] is session and side.remote_sessions["q"][7] is session
    assert transport.of(JoinUndone) == []


@pytest.mark.parametrize(("kind", "new_player"), [("player", True), ("resume", False), ("host", False)])
async def test_an_accept_after_the_session_gave_up_is_undone(kind: str, new_player: bool) -> None:
    side, transport, _handle, _session, request = relayed_join(kind)
    with pytest.raises(ReplyAbandoned):
        await request.reply.wait_or_abandon(0.01)  # the session answered server_busy
    side.handle(JoinAccepted(7, "q", "p1"))
    assert transport.of(JoinUndone) == [JoinUndone("q", "p1", "gw", 7, new_player)]
    assert [node for node, m in transport.posted if isinstance(m, JoinUndone)] == ["owner"]
    assert side.conns == {} and "q" not in side.remote_sessions and side.pending_joins == {}


async def test_an_accept_for_a_connection_that_closed_meanwhile_is_undone() -> None:
    side, transport, _handle, session, request = relayed_join()
    session.out.closed = True
    side.handle(JoinAccepted(7, "q", "p1"))
    assert transport.of(JoinUndone) == [JoinUndone("q", "p1", "gw", 7, True)]
    assert side.conns == {}
    # The session still waiting on it is answered, not left waiting.
    with pytest.raises(ProtocolError) as err:
        await request.reply.wait()
    assert err.value.code == E.SERVER_BUSY


async def test_a_retried_join_is_never_bound_by_the_late_answer_to_the_first() -> None:
    side, transport, handle, session, first = relayed_join(value="Ann")
    with pytest.raises(ReplyAbandoned):
        await first.reply.wait_or_abandon(0.01)
    retry = JoinRequest("player", "Bob", 2, session, 0.0)
    handle.post(retry)
    assert session.conn_id != 7  # a fresh relay id for the second attempt
    second_conn = session.conn_id
    assert [m.conn for m in transport.of(RemoteJoin)] == [7, second_conn]

    side.handle(JoinAccepted(7, "q", "p-ann"))  # late: the first attempt's answer
    assert transport.of(JoinUndone) == [JoinUndone("q", "p-ann", "gw", 7, True)]
    assert retry.reply.state is SlotState.PENDING and side.conns == {}

    side.handle(JoinAccepted(second_conn, "q", "p-bob"))
    assert await retry.reply.wait() == "p-bob"
    assert side.conns == {second_conn: session}


# ---------------------------------------------------------------------- the owner's actor
def make_actor() -> tuple[QuizActor, RecordingDelivery]:
    game = QuizGame(
        "q", definition(close_when_all_answered=True), GameSettings(), trio.current_time(), host_token=HOST_TOKEN
    )
    delivery = RecordingDelivery()
    return QuizActor(game, delivery), delivery


async def test_undoing_a_new_player_frees_its_name(autojump_clock: Any) -> None:
    actor, delivery = make_actor()
    host, ghost, again = Endpoint("host"), Endpoint("ghost"), Endpoint("again")
    async with running(actor):
        await join(actor, "host", HOST_TOKEN, host)
        pid = await join(actor, "player", "Ghost", ghost)
        actor.post(UndoJoin(pid, ghost, new_player=True))
        await settle()
        assert pid not in actor.game.participants and not delivery.is_current(pid, ghost)
        assert actor.game.player_count == 0 and actor.game.connected_count == 0
        assert [m["type"] for m in delivery.messages("host", "player_left")] == ["player_left"]
        # The name is free: a new player takes it.
        assert await join(actor, "player", "Ghost", again) != pid


async def test_undoing_a_resume_disconnects_and_keeps_the_player(autojump_clock: Any) -> None:
    actor, delivery = make_actor()
    first, late = Endpoint("first"), Endpoint("late")
    async with running(actor):
        pid = await join(actor, "player", "Ann", first)
        token = actor.game.participants[pid].token
        assert await join(actor, "resume", token, late) == pid
        actor.post(UndoJoin(pid, late, new_player=False))
        await settle()
        assert pid in actor.game.participants and not actor.game.participants[pid].connected
        assert not delivery.is_current(pid, late)


async def test_an_undo_for_a_connection_no_longer_bound_changes_nothing(autojump_clock: Any) -> None:
    actor, delivery = make_actor()
    ghost, resumed = Endpoint("ghost"), Endpoint("resumed")
    async with running(actor):
        pid = await join(actor, "player", "Ann", ghost)
        token = actor.game.participants[pid].token
        assert await join(actor, "resume", token, resumed) == pid  # replaced meanwhile
        actor.post(UndoJoin(pid, ghost, new_player=True))
        await settle()
        assert pid in actor.game.participants and actor.game.participants[pid].connected
        assert delivery.is_current(pid, resumed)
