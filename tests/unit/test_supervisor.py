"""The supervisor: a crashing quiz actor is restarted or given up, never taking others down.

Two quizzes run under one Supervisor in virtual time (MockClock, autojump): "calm"
plays normally while "shaky"'s game raises on a poisoned ``get_leaderboard`` (``id``
"boom").  Countdown 1 s, questions of 10 s, reveal 3 s.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio

from quizd.actors.actor import QuizActor
from quizd.actors.supervisor import AlreadyRunning, Supervisor
from quizd.game.quiz import GameSettings, QuizGame
from quizd.game.scoring import time_points
from quizd.ops import metrics
from quizd.protocol.errors import ProtocolError

from .actorkit import Endpoint, RecordingDelivery, answer, command, join, settle
from .quizkit import HOST_TOKEN, definition

LIMIT = 10.0
COUNTDOWN = 1.0
REVEAL = 3.0


def sample(name: str) -> float:
    return metrics.REGISTRY.get_sample_value(name) or 0.0


class Quiz:
    def __init__(self, quiz_id: str) -> None:
        self.game = QuizGame(
            quiz_id,
            definition(questions=2, time_limit_ms=10000, countdown_ms=1000, reveal_ms=3000),
            GameSettings(),
            trio.current_time(),
            host_token=HOST_TOKEN,
        )
        self.delivery = RecordingDelivery()
        self.actor = QuizActor(self.game, self.delivery)
        self.host, self.ann, self.bob = Endpoint("host"), Endpoint("ann"), Endpoint("bob")
        self.started_at: float | None = None

    async def join_all(self) -> None:
        await join(self.actor, "host", HOST_TOKEN, self.host)
        await join(self.actor, "player", "Ann", self.ann)
        await join(self.actor, "player", "Bob", self.bob)

    async def start(self) -> None:
        self.started_at = trio.current_time()
        command(self.actor, "host", self.host, "start")
        await settle()

    @property
    def opened(self) -> float:
        assert self.started_at is not None
        return self.started_at + COUNTDOWN

    def poison_leaderboard(self, monkeypatch: pytest.MonkeyPatch) -> None:
        real = self.game.get_leaderboard

        def get_leaderboard(pid: str, reply_to: Any = None) -> Any:
            if reply_to == "boom":
                raise RuntimeError("poisoned get_leaderboard")
            return real(pid, reply_to)

        monkeypatch.setattr(self.game, "get_leaderboard", get_leaderboard)

    def boom(self) -> None:
        command(self.actor, "p1", self.ann, "get_leaderboard", id="boom")


class World:
    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        self.calm = Quiz("calm")
        self.shaky = Quiz("shaky")


async def until(t: float) -> None:
    await trio.sleep_until(t)
    await settle()


async def with_world(body: Any, *, max_restarts: int = 2, restart_window_s: float = 60.0) -> None:
    exited: list[str] = []
    supervisor = Supervisor(
        max_restarts=max_restarts, restart_window_s=restart_window_s, on_exit=lambda a: exited.append(a.quiz_id)
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.run)
        world = World(supervisor)
        world.exited = exited  # type: ignore[attr-defined]
        await supervisor.spawn(world.calm.actor)
        await supervisor.spawn(world.shaky.actor)
        await world.calm.join_all()
        await world.shaky.join_all()
        await body(world)
        supervisor.cancel()


async def test_crashed_actor_is_restarted(autojump_clock, monkeypatch):
    crashes, restarts = sample("quizd_actor_crashes_total"), sample("quizd_actor_restarts_total")

    async def body(w: World) -> None:
        w.shaky.poison_leaderboard(monkeypatch)
        w.shaky.boom()
        await trio.sleep(1.0)
        assert sample("quizd_actor_crashes_total") == crashes + 1
        assert sample("quizd_actor_restarts_total") == restarts + 1
        assert w.supervisor.actors["shaky"] is w.shaky.actor
        assert not w.shaky.delivery.closed

    await with_world(body, max_restarts=2)


async def test_poisoned_item_sender_gets_internal_and_is_not_retried(autojump_clock, monkeypatch):
    crashes = sample("quizd_actor_crashes_total")

    async def body(w: World) -> None:
        w.shaky.poison_leaderboard(monkeypatch)
        w.shaky.boom()
        await trio.sleep(5.0)
        (err,) = w.shaky.delivery.messages("p1", "error")
        assert err["payload"]["code"] == "internal"
        assert err["re"] == "boom"
        assert sample("quizd_actor_crashes_total") == crashes + 1

    await with_world(body)


async def test_what_the_items_before_a_crash_said_still_goes_out(autojump_clock, monkeypatch):
    """A single node sends the effects of queued items in groups: a crash mid-group drops
    only the crashing item's own effects, not the answers already judged before it."""

    async def body(w: World) -> None:
        w.shaky.poison_leaderboard(monkeypatch)
        await w.shaky.start()
        await until(w.shaky.opened + 1)
        # Queued together, so one loop turn handles them as one group.
        answer(w.shaky.actor, "p1", w.shaky.ann, "q0", 1, id="a1")
        answer(w.shaky.actor, "p2", w.shaky.bob, "q0", 0, id="b1")
        w.shaky.boom()
        await trio.sleep(1.0)
        assert [m["re"] for m in w.shaky.delivery.messages("p1", "answer_result")] == ["a1"]
        assert [m["re"] for m in w.shaky.delivery.messages("p2", "answer_result")] == ["b1"]
        (err,) = w.shaky.delivery.messages("p1", "error")
        assert err["payload"]["code"] == "internal" and err["re"] == "boom"
        # And the first answer stands: another choice is refused as a double.
        answer(w.shaky.actor, "p1", w.shaky.ann, "q0", 0, id="a2")
        await settle()
        (again,) = [m for m in w.shaky.delivery.messages("p1", "error") if m["re"] == "a2"]
        assert again["payload"]["code"] == "already_answered"

    await with_world(body)


async def test_crashing_join_is_answered_with_internal(autojump_clock, monkeypatch):
    async def body(w: World) -> None:
        real = w.shaky.game.join_player

        def join_player(name: str, now: float, re: Any = None) -> Any:
            if name == "Crash":
                raise RuntimeError("poisoned join")
            return real(name, now, re)

        monkeypatch.setattr(w.shaky.game, "join_player", join_player)
        with pytest.raises(ProtocolError) as info:
            await join(w.shaky.actor, "player", "Crash", Endpoint("crash"))
        assert info.value.code == "internal"
        assert await join(w.shaky.actor, "player", "Dee", Endpoint("dee")) == "p3"

    await with_world(body)


async def test_restarted_actor_keeps_players_and_scores(autojump_clock, monkeypatch):
    async def body(w: World) -> None:
        shaky = w.shaky
        shaky.poison_leaderboard(monkeypatch)
        await shaky.start()
        await until(shaky.opened + 2.0)
        answer(shaky.actor, "p1", shaky.ann, "q0", 0)
        await settle()
        shaky.boom()
        await trio.sleep(0.5)
        command(shaky.actor, "p2", shaky.bob, "get_leaderboard", id="ok")
        await settle()
        (lb,) = shaky.delivery.messages("p2", "leaderboard")
        assert lb["re"] == "ok"
        assert [(e["participantId"], e["score"]) for e in lb["payload"]["top"]] == [
            ("p1", time_points(1000, 10000, 2000)),
            ("p2", 0),
        ]
        assert lb["payload"]["you"] == {"rank": 2, "score": 0}
        assert shaky.game.player_count == 2

    await with_world(body)


async def test_restarted_actor_keeps_its_timers(autojump_clock, monkeypatch):
    async def body(w: World) -> None:
        shaky = w.shaky
        shaky.poison_leaderboard(monkeypatch)
        await shaky.start()
        await until(shaky.opened + 2.0)
        shaky.boom()
        await until(shaky.opened + LIMIT + 0.5)
        assert shaky.delivery.broadcast_times("question_closed") == [pytest.approx(shaky.opened + LIMIT)]
        await until(shaky.opened + LIMIT + REVEAL + 0.5)
        assert len(shaky.delivery.broadcast_times("question")) == 2

    await with_world(body)


async def test_other_quiz_keeps_playing_while_one_crashes(autojump_clock, monkeypatch):
    async def body(w: World) -> None:
        calm, shaky = w.calm, w.shaky
        shaky.poison_leaderboard(monkeypatch)
        await calm.start()
        for _ in range(3):
            shaky.boom()  # with max_restarts=2 this also gives shaky up
        await until(calm.opened + 2.0)
        answer(calm.actor, "p1", calm.ann, "q0", 0)
        await until(calm.opened + LIMIT + REVEAL + 0.5)
        assert calm.delivery.broadcast_times("question") == [
            pytest.approx(calm.opened),
            pytest.approx(calm.opened + LIMIT + REVEAL),
        ]
        assert calm.delivery.broadcast_times("question_closed") == [pytest.approx(calm.opened + LIMIT)]
        (result,) = calm.delivery.messages("p1", "answer_result")
        assert result["payload"]["correct"] is True
        assert calm.delivery.closed == []
        assert w.supervisor.actors["calm"] is calm.actor

    await with_world(body, max_restarts=2)


async def test_actor_that_keeps_crashing_is_given_up(autojump_clock, monkeypatch):
    crashes, restarts = sample("quizd_actor_crashes_total"), sample("quizd_actor_restarts_total")

    async def body(w: World) -> None:
        w.shaky.poison_leaderboard(monkeypatch)
        for _ in range(3):
            w.shaky.boom()
        await trio.sleep(5.0)
        assert sample("quizd_actor_crashes_total") == crashes + 3
        assert sample("quizd_actor_restarts_total") == restarts + 2
        assert sorted((pid, code) for _t, pid, code in w.shaky.delivery.closed) == [
            ("host", 1011),
            ("p1", 1011),
            ("p2", 1011),
        ]
        assert "shaky" not in w.supervisor.actors
        assert w.exited == ["shaky"]  # type: ignore[attr-defined]
        with pytest.raises(ProtocolError) as info:
            w.shaky.actor.post(object())  # type: ignore[arg-type]
        assert info.value.code == "quiz_ended"
        # the calm quiz is untouched
        assert "calm" in w.supervisor.actors
        assert w.calm.delivery.closed == []
        await w.calm.start()
        await until(w.calm.opened + 0.5)
        assert len(w.calm.delivery.broadcast_times("question")) == 1

    await with_world(body, max_restarts=2)


async def test_max_restarts_allows_exactly_that_many(autojump_clock, monkeypatch):
    async def body(w: World) -> None:
        w.shaky.poison_leaderboard(monkeypatch)
        for _ in range(2):
            w.shaky.boom()
        await trio.sleep(5.0)
        assert w.supervisor.actors.get("shaky") is w.shaky.actor
        assert w.shaky.delivery.closed == []

    await with_world(body, max_restarts=2)


async def test_crashes_outside_the_window_do_not_add_up(autojump_clock, monkeypatch):
    async def body(w: World) -> None:
        w.shaky.poison_leaderboard(monkeypatch)
        for _ in range(3):
            w.shaky.boom()
            await trio.sleep(20.0)  # longer than restart_window_s
        assert w.supervisor.actors.get("shaky") is w.shaky.actor
        assert w.shaky.delivery.closed == []
        assert len(w.shaky.delivery.messages("p1", "error")) == 3

    await with_world(body, max_restarts=1, restart_window_s=10.0)


async def test_given_up_actor_answers_joins_still_queued(autojump_clock, monkeypatch):
    # Found as a bug: a given-up actor left queued joins waiting until the gateway's timeout.
    from quizd.actors.inbox import JoinRequest

    async def body(w: World) -> None:
        w.shaky.poison_leaderboard(monkeypatch)
        for _ in range(3):
            w.shaky.boom()
        req = JoinRequest("player", "Dee", None, Endpoint("dee"), trio.current_time())
        w.shaky.actor.post(req)
        await trio.sleep(5.0)
        assert "shaky" not in w.supervisor.actors
        with trio.move_on_after(1.0):
            with pytest.raises(ProtocolError) as info:
                await req.reply.wait()
            assert info.value.code in ("internal", "quiz_ended")
            return
        pytest.fail("the queued join was never answered")

    await with_world(body, max_restarts=2)


async def test_a_second_copy_of_a_running_quiz_is_refused(autojump_clock, monkeypatch):
    """After a failed hand-over the manager may try to start a quiz it still runs: the
    supervisor refuses, the running copy keeps its players, and nothing exits."""

    async def body(w: World) -> None:
        copy = Quiz("calm")
        with pytest.raises(AlreadyRunning):
            await w.supervisor.spawn(copy.actor)
        await settle()
        assert w.supervisor.actors["calm"] is w.calm.actor
        assert w.exited == []  # type: ignore[attr-defined]
        await join(w.calm.actor, "player", "Cat", Endpoint("cat"))
        assert "Cat" in {p.name for p in w.calm.game.participants.values()}

    await with_world(body)
