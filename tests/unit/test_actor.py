"""QuizActor: carries out the game's effects through its Delivery port, in virtual time."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import trio

from quizd.actors.actor import QuizActor
from quizd.actors.inbox import ConnectionLost, EndNow
from quizd.game.quiz import GameSettings
from quizd.protocol.errors import ProtocolError

from .actorkit import Endpoint, RecordingDelivery, answer, command, join, running, settle
from .quizkit import HOST_TOKEN, make_game


class Sink:
    def __init__(self) -> None:
        self.written: list[tuple[str, dict[str, Any]]] = []

    async def write(self, quiz_id: str, results: dict[str, Any]) -> None:
        self.written.append((quiz_id, results))


def new_actor(**kw: Any) -> tuple[QuizActor, RecordingDelivery, Sink]:
    settings = kw.pop("settings", GameSettings(linger_s=60))
    game = make_game(trio.current_time(), settings=settings, countdown_ms=1000, time_limit_ms=10000, **kw)
    delivery = RecordingDelivery()
    sink = Sink()
    return QuizActor(game, delivery, sink), delivery, sink


async def test_join_reply_goes_to_the_new_connection_with_re(autojump_clock):
    actor, delivery, _ = new_actor()
    async with running(actor):
        assert await join(actor, "player", "Ann", Endpoint("ann"), reply_to="j") == "p1"
        (joined,) = delivery.messages("p1", "joined")
        assert joined["re"] == "j"
        assert joined["payload"]["participantId"] == "p1"


async def test_refused_join_raises_protocol_error(autojump_clock):
    actor, _, _ = new_actor()
    async with running(actor):
        await join(actor, "player", "Ann", Endpoint("a"))
        with pytest.raises(ProtocolError) as info:
            await join(actor, "player", "ann", Endpoint("b"))
        assert info.value.code == "name_taken"


async def test_refused_command_gets_error_with_re(autojump_clock):
    actor, delivery, _ = new_actor()
    async with running(actor):
        ann = Endpoint("ann")
        await join(actor, "player", "Ann", ann)
        answer(actor, "p1", ann, "q0", 0, id=42)
        await settle()
        (err,) = delivery.messages("p1", "error")
        assert err["re"] == 42
        assert err["payload"]["code"] == "question_closed"


async def test_player_host_command_is_not_host(autojump_clock):
    actor, delivery, _ = new_actor()
    async with running(actor):
        ann = Endpoint("ann")
        await join(actor, "player", "Ann", ann)
        command(actor, "p1", ann, "start", id="s")
        await settle()
        (err,) = delivery.messages("p1", "error")
        assert (err["payload"]["code"], err["re"]) == ("not_host", "s")
        assert actor.game.phase == "lobby"


async def test_replaced_connection_is_ignored(autojump_clock):
    actor, delivery, _ = new_actor()
    async with running(actor):
        old = Endpoint("old")
        await join(actor, "player", "Ann", old)
        token = delivery.messages("p1", "joined")[0]["payload"]["resumeToken"]
        new = Endpoint("new")
        await join(actor, "resume", token, new)
        assert delivery.replaced == [old]
        command(actor, "p1", old, "get_leaderboard", id="old")
        command(actor, "p1", new, "get_leaderboard", id="new")
        await settle()
        assert [m["re"] for m in delivery.messages("p1", "leaderboard")] == ["new"]


async def test_connection_lost_of_current_endpoint_disconnects(autojump_clock):
    actor, _, _ = new_actor()
    async with running(actor):
        ann = Endpoint("ann")
        await join(actor, "player", "Ann", ann)
        actor.post(ConnectionLost("p1", ann))
        await settle()
        assert actor.game.participants["p1"].connected is False
        assert actor.game.player_count == 1


async def test_connection_lost_of_replaced_endpoint_is_ignored(autojump_clock):
    actor, delivery, _ = new_actor()
    async with running(actor):
        old, new = Endpoint("old"), Endpoint("new")
        await join(actor, "player", "Ann", old)
        token = delivery.messages("p1", "joined")[0]["payload"]["resumeToken"]
        await join(actor, "resume", token, new)
        actor.post(ConnectionLost("p1", old))
        await settle()
        assert actor.game.participants["p1"].connected is True


async def test_end_now_ends_writes_results_and_replies(autojump_clock):
    actor, delivery, sink = new_actor()
    async with running(actor):
        await join(actor, "host", HOST_TOKEN, Endpoint("host"))
        await join(actor, "player", "Ann", Endpoint("ann"))
        req = EndNow("drain")
        actor.post(req)
        assert await req.reply.wait() is None
        assert actor.game.phase == "ended"
        assert delivery.messages("p1", "quiz_ended")
        assert sorted((p, c) for _t, p, c in delivery.closed) == [("host", 4004), ("p1", 4004)]
        assert [q for q, _ in sink.written] == ["quiz-1"]


async def test_actor_finishes_after_linger_and_refuses_posts(autojump_clock):
    actor, _, _ = new_actor(settings=GameSettings(linger_s=60))
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run)
        await join(actor, "host", HOST_TOKEN, Endpoint("host"))
        ended_at = trio.current_time() + 5.0
        await trio.sleep_until(ended_at)
        req = EndNow("test")
        actor.post(req)
        await req.reply.wait()
        await trio.sleep(59.0)
        assert not actor.finished
        await trio.sleep(2.0)
        assert actor.finished
        with pytest.raises(ProtocolError) as info:
            actor.post(EndNow("again"))
        assert info.value.code == "quiz_ended"
    # run() returned by itself: the nursery closed without a cancel


async def test_whole_quiz_plays_through_in_virtual_time(autojump_clock):
    actor, delivery, sink = new_actor(questions=2, settings=GameSettings(linger_s=10))
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run)
        host, ann = Endpoint("host"), Endpoint("ann")
        await join(actor, "host", HOST_TOKEN, host)
        await join(actor, "player", "Ann", ann)
        command(actor, "host", host, "start", id="go")
        await settle()
        (state,) = delivery.messages("host", "host_state")
        assert state["re"] == "go"
        for index in range(2):
            while len(delivery.broadcasts_of("question")) <= index:
                await trio.sleep(0.1)
            answer(actor, "p1", ann, f"q{index}", index % 4)
        await trio.sleep(1000)
    assert actor.finished
    order = [m["type"] for m in (m for _t, m in delivery.broadcasts)]
    assert order.count("question") == 2 and order.count("question_closed") == 2
    assert [m["payload"]["streak"] for m in delivery.messages("p1", "answer_result")] == [1, 2]
    assert delivery.messages("p1", "quiz_ended")[0]["payload"]["you"]["rank"] == 1
    assert len(sink.written) == 1


async def test_ended_actor_does_not_busy_loop(autojump_clock, monkeypatch):
    # Found as a bug: after an end with an unsent leaderboard change the deadline stayed
    # in the past, so the actor spun until linger.
    actor, _, _ = new_actor(settings=GameSettings(linger_s=60))
    game = actor.game
    real_tick = game.tick
    calls: Counter[float] = Counter()

    def tick(now: float) -> Any:
        calls[now] += 1
        if calls[now] > 100:
            raise AssertionError(f"the actor ticked {calls[now]} times at t={now}: busy loop")
        return real_tick(now)

    monkeypatch.setattr(game, "tick", tick)
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run)
        host = Endpoint("host")
        await join(actor, "host", HOST_TOKEN, host)
        await join(actor, "player", "Ann", Endpoint("ann"))
        command(actor, "host", host, "end")  # before the joined player was broadcast
        await trio.sleep(120.0)
        assert actor.finished
