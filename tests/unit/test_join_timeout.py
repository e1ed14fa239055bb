"""A join the gateway gave up on is never accepted afterwards (no ghost player).

The gateway waits ``JOIN_TIMEOUT_S`` (10 s) for the actor's answer to a ``join`` and
then tells the client ``server_busy``.  When the actor accepted the join after that
(its inbox was backed up, or the cluster's commit was slow), the player stayed: bound
to a connection that never learnt it had joined, counted as connected forever, its
name taken.  Now the actor ``claim()``s a join when it decides, and the gateway's
timeout ``abandon()``s it only if nobody claimed it yet: an abandoned join is skipped,
a claimed one is waited for, and a claimed one is answered even if the actor stops.
"""

from __future__ import annotations

import pytest
import trio

from quizd.actors.actor import QuizActor
from quizd.actors.inbox import JoinRequest, ReplyAbandoned, SlotState
from quizd.actors.ports import QuizLost
from quizd.actors.supervisor import Supervisor
from quizd.game.quiz import GameSettings, QuizGame
from quizd.gateway.session import JOIN_TIMEOUT_S
from quizd.protocol import errors as E
from quizd.protocol.errors import ProtocolError

from .actorkit import Endpoint, RecordingDelivery, command, running
from .quizkit import HOST_TOKEN, definition


class SlowCommit:
    """The cluster's CommitPort, each write taking ``delay`` seconds; ``lose`` makes
    the next write find the lease gone."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.lose = False
        self.commits = 0

    async def commit(self, game: QuizGame, events: int) -> None:
        await trio.sleep(self.delay)
        self.commits += 1
        if self.lose:
            raise QuizLost(game.quiz_id)


def make_actor(store: SlowCommit) -> tuple[QuizActor, RecordingDelivery]:
    game = QuizGame(
        "q", definition(close_when_all_answered=True), GameSettings(), trio.current_time(), host_token=HOST_TOKEN
    )
    delivery = RecordingDelivery()
    return QuizActor(game, delivery, store=store), delivery


def gateway_join(actor: QuizActor, name: str, endpoint: Endpoint) -> JoinRequest:
    request = JoinRequest("player", name, 1, endpoint, trio.current_time())
    actor.post(request)
    return request


async def test_a_join_claimed_before_the_timeout_is_waited_for_through_a_slow_commit(autojump_clock):
    store = SlowCommit(JOIN_TIMEOUT_S + 5)
    actor, delivery = make_actor(store)
    ann = Endpoint("ann")
    async with running(actor):
        posted = trio.current_time()
        request = gateway_join(actor, "Ann", ann)
        pid = await request.reply.wait_or_abandon(JOIN_TIMEOUT_S)
        # The answer came after the gateway's 10 s, and the gateway still took it.
        assert trio.current_time() - posted == pytest.approx(JOIN_TIMEOUT_S + 5)
        assert delivery.is_current(pid, ann)
        assert [m["type"] for m in delivery.messages(pid)] == ["joined"]


async def test_a_join_the_gateway_gave_up_on_is_skipped_by_the_actor(autojump_clock):
    """The inbox is backed up behind a slow commit: the gateway's 10 s pass before the
    actor reaches the join, so the client hears server_busy and the quiz never hears of it."""
    store = SlowCommit(JOIN_TIMEOUT_S + 5)
    actor, delivery = make_actor(store)
    early, ann = Endpoint("early"), Endpoint("ann")
    async with running(actor):
        first = gateway_join(actor, "Early", early)
        await trio.sleep(0.1)  # the actor is inside the first join's commit
        late = gateway_join(actor, "Ann", ann)
        with pytest.raises(ReplyAbandoned):
            await late.reply.wait_or_abandon(JOIN_TIMEOUT_S)
        await first.reply.wait()
        await trio.sleep(3 * store.delay)  # the actor has long handled everything queued
        game = actor.game
        assert late.reply.state is SlotState.ABANDONED
        assert [p.name for p in game.participants.values() if not p.is_host] == ["Early"]
        assert game.connected_count == 1
        assert not any(e is ann for e in delivery.endpoints.values())
        # The name is free: the client's retry gets it.
        retry = gateway_join(actor, "Ann", ann)
        assert await retry.reply.wait_or_abandon(JOIN_TIMEOUT_S + 10) == "p2"


async def test_a_claimed_join_is_answered_when_the_quiz_is_lost_during_its_commit(autojump_clock):
    """Cluster: the commit finds the lease gone.  The gateway was told to wait (claimed),
    so it must hear back, server_busy, not wait forever."""
    store = SlowCommit(JOIN_TIMEOUT_S + 5)
    store.lose = True
    actor, _delivery = make_actor(store)
    supervisor = Supervisor()
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.run)
        await supervisor.spawn(actor)
        request = gateway_join(actor, "Ann", Endpoint("ann"))
        with trio.fail_after(JOIN_TIMEOUT_S * 3):
            with pytest.raises(ProtocolError) as err:
                await request.reply.wait_or_abandon(JOIN_TIMEOUT_S)
        assert err.value.code == E.SERVER_BUSY
        nursery.cancel_scope.cancel()


def test_claim_and_abandon_exclude_each_other():
    from quizd.actors.inbox import ReplySlot

    claimed: ReplySlot[str] = ReplySlot()
    assert claimed.claim() and claimed.claim()
    assert not claimed.abandon()
    abandoned: ReplySlot[str] = ReplySlot()
    assert abandoned.abandon() and abandoned.abandon()
    assert not abandoned.claim()
    done: ReplySlot[str] = ReplySlot()
    done.set("p1")
    assert done.claim() and not done.abandon() and done.state is SlotState.DONE


async def test_a_claimed_join_is_answered_and_undone_when_its_turn_crashes(autojump_clock, monkeypatch):
    """Cluster group commit: a join and, in the same turn, an item that crashes the
    actor.  The turn's effects are dropped with the crash, so the join is never told:
    its waiter gets ``internal`` (not a wait forever) and the quiz does not keep the
    player connected to a connection that does not know it joined."""
    store = SlowCommit(0.5)
    actor, delivery = make_actor(store)
    host, ann = Endpoint("host"), Endpoint("ann")
    real = actor.game.get_leaderboard

    def get_leaderboard(pid: str, reply_to: object = None) -> object:
        if reply_to == "boom":
            raise RuntimeError("poisoned get_leaderboard")
        return real(pid, reply_to)

    monkeypatch.setattr(actor.game, "get_leaderboard", get_leaderboard)
    supervisor = Supervisor()
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.run)
        await supervisor.spawn(actor)
        host_join = JoinRequest("host", HOST_TOKEN, 1, host, trio.current_time())
        actor.post(host_join)
        assert await host_join.reply.wait() == "host"
        request = gateway_join(actor, "Ann", ann)  # handled first in the turn...
        command(actor, "host", host, "get_leaderboard", id="boom")  # ...then this crashes it
        with trio.fail_after(JOIN_TIMEOUT_S):
            with pytest.raises(ProtocolError) as err:
                await request.reply.wait_or_abandon(JOIN_TIMEOUT_S)
        assert err.value.code == E.INTERNAL
        game = actor.game
        assert game.connected_count == 0
        assert not delivery.is_current("p1", ann)
        nursery.cancel_scope.cancel()


async def test_a_claimed_join_is_answered_when_telling_it_crashes(autojump_clock):
    """The crash comes while the turn's effects go out (after the commit): the join's
    answer would have followed them, so it is failed instead of never coming."""

    class FailingDelivery(RecordingDelivery):
        def send(self, participant_id: str, msg_type: str, body: bytes) -> None:
            if msg_type == "joined" and participant_id != "host":
                raise RuntimeError("the socket layer broke")
            super().send(participant_id, msg_type, body)

    game = QuizGame("q", definition(), GameSettings(), trio.current_time(), host_token=HOST_TOKEN)
    delivery = FailingDelivery()
    actor = QuizActor(game, delivery, store=SlowCommit(0.5))
    supervisor = Supervisor()
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.run)
        await supervisor.spawn(actor)
        ann = Endpoint("ann")
        request = gateway_join(actor, "Ann", ann)
        with trio.fail_after(JOIN_TIMEOUT_S):
            with pytest.raises(ProtocolError) as err:
                await request.reply.wait_or_abandon(JOIN_TIMEOUT_S)
        assert err.value.code == E.INTERNAL
        await trio.sleep(1)  # the restarted actor flushed the undo
        assert game.connected_count == 0
        assert not delivery.is_current("p1", ann)
        nursery.cancel_scope.cancel()
