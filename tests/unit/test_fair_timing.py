"""Fair timing, proven on a real QuizActor in virtual time (MockClock, autojump).

The recording delivery hands the question frame to Ann (p1) at once and to Bob (p2)
300 ms later, as a long fan-out would.  Timeline, relative to T0 (the host's start):
question 0 opens at T0+1 (countdown 1 s), Ann's window runs [T0+1, T0+11], Bob's
[T0+1.3, T0+11.3]; the question closes at T0+11.3.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio

from quizd.actors.actor import DEFER_WINDOW_S, QuizActor
from quizd.game.handoffs import HandoffLog
from quizd.game.quiz import GameSettings, QuizGame
from quizd.game.scoring import time_points

from .actorkit import Endpoint, RecordingDelivery, answer, command, join, running, settle
from .quizkit import HOST_TOKEN, definition

LIMIT = 10.0
COUNTDOWN = 1.0
STAGGER = 0.3


class Quiz:
    """One actor with host, Ann (p1) and Bob (p2) joined and the quiz started at ``t0``."""

    def __init__(self, delivery: RecordingDelivery, **definition_kwargs: Any) -> None:
        now = trio.current_time()
        kwargs = {"questions": 2, "time_limit_ms": int(LIMIT * 1000), "countdown_ms": int(COUNTDOWN * 1000)}
        kwargs.update(definition_kwargs)
        self.game = QuizGame("fair", definition(**kwargs), GameSettings(), now, host_token=HOST_TOKEN)
        self.delivery = delivery
        self.actor = QuizActor(self.game, delivery)
        self.host = Endpoint("host")
        self.ann = Endpoint("ann")
        self.bob = Endpoint("bob")
        self.cat = Endpoint("cat")
        self.t0 = 0.0

    async def setup(self, *, cat: bool = False) -> None:
        assert await join(self.actor, "host", HOST_TOKEN, self.host) == "host"
        assert await join(self.actor, "player", "Ann", self.ann) == "p1"
        assert await join(self.actor, "player", "Bob", self.bob) == "p2"
        if cat:
            assert await join(self.actor, "player", "Cat", self.cat) == "p3"
        self.t0 = trio.current_time()
        command(self.actor, "host", self.host, "start", id="go")
        await settle()

    @property
    def opened(self) -> float:
        return self.t0 + COUNTDOWN

    async def at(self, offset: float) -> None:
        """Sleep until ``opened + offset`` (virtual time) and let the actor catch up."""
        await trio.sleep_until(self.opened + offset)
        await settle()


@asynccontextmanager
async def started_quiz(**delivery_kwargs: Any) -> AsyncIterator[tuple[Quiz, RecordingDelivery]]:
    """The usual stage: Bob's frames 300 ms late; host, Ann and Bob joined; quiz started."""
    delivery = RecordingDelivery({"p2": STAGGER}, **delivery_kwargs)
    quiz = Quiz(delivery)
    async with running(quiz.actor):
        await quiz.setup()
        yield quiz, delivery


async def test_question_is_broadcast_at_nominal_open(autojump_clock):
    async with started_quiz() as (quiz, delivery):
        await quiz.at(0.5)
        assert delivery.broadcast_times("question") == [pytest.approx(quiz.opened)]
        log = quiz.game.handoffs
        assert log.times["p1"] == pytest.approx(quiz.opened)
        assert log.times["p2"] == pytest.approx(quiz.opened + STAGGER)


async def test_same_reaction_time_earns_the_same_points(autojump_clock):
    async with started_quiz() as (quiz, delivery):
        await quiz.at(2.0)  # 2 s after Ann's hand-off
        answer(quiz.actor, "p1", quiz.ann, "q0", 0, id="a")
        await quiz.at(STAGGER + 2.0)  # 2 s after Bob's hand-off
        answer(quiz.actor, "p2", quiz.bob, "q0", 0, id="b")
        await settle()
        (ann,) = delivery.messages("p1", "answer_result")
        (bob,) = delivery.messages("p2", "answer_result")
        assert ann["re"] == "a" and bob["re"] == "b"
        assert ann["payload"]["points"] == bob["payload"]["points"] == time_points(1000, 10000, 2000)
        assert ann["payload"]["score"] == bob["payload"]["score"]


async def test_question_closes_at_latest_handoff_plus_limit(autojump_clock):
    async with started_quiz() as (quiz, delivery):
        await quiz.at(LIMIT + 0.1)  # past the nominal end, inside Bob's window
        assert delivery.broadcast_times("question_closed") == []
        assert quiz.game.phase == "question"
        await quiz.at(LIMIT + 1.0)
        assert delivery.broadcast_times("question_closed") == [pytest.approx(quiz.opened + STAGGER + LIMIT)]


async def test_stagger_lets_the_later_player_answer_after_nominal_end(autojump_clock):
    async with started_quiz() as (quiz, delivery):
        await quiz.at(LIMIT + 0.1)
        answer(quiz.actor, "p1", quiz.ann, "q0", 0, id="late-ann")
        answer(quiz.actor, "p2", quiz.bob, "q0", 0, id="bob")
        await settle()
        (err,) = delivery.messages("p1", "error")
        assert err["payload"]["code"] == "question_closed" and err["re"] == "late-ann"
        (bob,) = delivery.messages("p2", "answer_result")
        assert bob["payload"]["points"] == time_points(1000, 10000, round((LIMIT + 0.1 - STAGGER) * 1000))


async def test_close_waits_for_handoffs_that_happen_after_the_broadcast(autojump_clock):
    async with trio.open_nursery() as background:
        async with started_quiz(background=background) as (quiz, delivery):
            await quiz.at(LIMIT + 0.1)
            assert quiz.game.phase == "question"
            await quiz.at(LIMIT + 1.0)
            assert delivery.broadcast_times("question_closed") == [pytest.approx(quiz.opened + STAGGER + LIMIT)]
        background.cancel_scope.cancel()


async def test_reconnecting_never_restarts_the_clock(autojump_clock):
    async with started_quiz() as (quiz, delivery):
        token = delivery.messages("p1", "joined")[0]["payload"]["resumeToken"]
        await quiz.at(5.0)
        ann2 = Endpoint("ann-2")
        assert await join(quiz.actor, "resume", token, ann2) == "p1"
        # The new connection gets the question frame again: a second hand-off.
        quiz.game.handoffs.handed("p1", trio.current_time())
        assert quiz.game.handoffs.window_start("p1") == pytest.approx(quiz.opened)
        joined = delivery.messages("p1", "joined")[-1]["payload"]
        assert joined["question"]["endsAt"] == joined["question"]["startedAt"] + 10000
        await quiz.at(LIMIT + 0.1)
        answer(quiz.actor, "p1", ann2, "q0", 0, id="too-late")
        await settle()
        (err,) = delivery.messages("p1", "error")
        assert err["payload"]["code"] == "question_closed"
        await quiz.at(LIMIT + 1.0)
        assert delivery.broadcast_times("question_closed") == [pytest.approx(quiz.opened + STAGGER + LIMIT)]


async def test_reconnect_keeps_elapsed_from_first_handoff(autojump_clock):
    async with started_quiz() as (quiz, delivery):
        token = delivery.messages("p1", "joined")[0]["payload"]["resumeToken"]
        await quiz.at(5.0)
        ann2 = Endpoint("ann-2")
        await join(quiz.actor, "resume", token, ann2)
        quiz.game.handoffs.handed("p1", trio.current_time())
        await quiz.at(6.0)
        answer(quiz.actor, "p1", ann2, "q0", 0)
        await settle()
        (result,) = delivery.messages("p1", "answer_result")
        assert result["payload"]["points"] == time_points(1000, 10000, 6000)


async def test_late_joiner_is_timed_from_nominal_start(autojump_clock):
    async with started_quiz() as (quiz, delivery):
        await quiz.at(5.0)
        cat = Endpoint("cat")
        assert await join(quiz.actor, "player", "Cat", cat) == "p3"
        q = delivery.messages("p3", "joined")[0]["payload"]["question"]
        assert q["endsAt"] - q["serverTime"] == pytest.approx(5000, abs=1)
        await quiz.at(7.0)
        answer(quiz.actor, "p3", cat, "q0", 0)
        await settle()
        (result,) = delivery.messages("p3", "answer_result")
        assert result["payload"]["points"] == time_points(1000, 10000, 7000)


async def test_late_joiner_window_ends_at_nominal_end(autojump_clock):
    async with started_quiz() as (quiz, delivery):
        await quiz.at(5.0)
        cat = Endpoint("cat")
        await join(quiz.actor, "player", "Cat", cat)
        await quiz.at(LIMIT + 0.1)  # nominal end passed; the question is still open for Bob
        assert quiz.game.phase == "question"
        answer(quiz.actor, "p3", cat, "q0", 0, id="c")
        await settle()
        (err,) = delivery.messages("p3", "error")
        assert (err["payload"]["code"], err["re"]) == ("question_closed", "c")


async def test_late_joiner_never_extends_the_question(autojump_clock):
    async with started_quiz() as (quiz, delivery):
        await quiz.at(9.0)
        await join(quiz.actor, "player", "Cat", Endpoint("cat"))
        await quiz.at(LIMIT + 1.0)
        assert delivery.broadcast_times("question_closed") == [pytest.approx(quiz.opened + STAGGER + LIMIT)]


async def test_answer_is_judged_by_arrival_not_by_when_the_actor_gets_to_it(autojump_clock):
    async with started_quiz() as (quiz, delivery):
        await quiz.at(2.0)
        answer(quiz.actor, "p1", quiz.ann, "q0", 0)  # stamped now...
        await trio.sleep(1.0)  # ...handled whenever the actor runs
        (result,) = delivery.messages("p1", "answer_result")
        assert result["payload"]["points"] == time_points(1000, 10000, 2000)


# ---------------------------------------------------------------- the log itself
def test_handoff_first_write_wins():
    log = HandoffLog("q0", 100.0, 10.0)
    log.handed("p1", 100.2)
    log.handed("p1", 105.0)
    assert log.window_start("p1") == 100.2
    assert log.close_at(10.0) == pytest.approx(110.2)


def test_handoff_close_is_latest_fair_handoff_plus_limit():
    log = HandoffLog("q0", 100.0, 10.0)
    log.handed("p1", 100.0)
    log.handed("p2", 100.3)
    log.handed("p3", 100.1)
    assert log.close_at(10.0) == pytest.approx(110.3)


def test_handoff_past_nominal_end_never_extends_the_question():
    log = HandoffLog("q0", 100.0, 10.0)
    log.handed("p1", 111.0)  # the frame sat in a queue past the nominal close
    assert log.window_start("p1") == 100.0
    assert log.close_at(10.0) == pytest.approx(110.0)


def test_unhanded_participant_starts_at_nominal_start():
    log = HandoffLog("q0", 100.0, 10.0)
    assert log.window_start("nobody") == 100.0


def test_handed_many_first_write_wins():
    log = HandoffLog("q0", 100.0, 10.0)
    log.handed_many(["p1", "p2"], 100.1)
    log.handed_many(["p2", "p3"], 100.2)
    assert (log.window_start("p2"), log.window_start("p3")) == (100.1, 100.2)


def test_handed_many_repeat_never_moves_the_close():
    # Found as a bug: handed_many moved ``latest`` even when every id was already handed.
    log = HandoffLog("q0", 100.0, 10.0)
    log.handed_many(["p1"], 100.1)
    log.handed_many(["p1"], 105.0)  # a reconnect's second hand-off
    assert log.close_at(10.0) == pytest.approx(110.1)


async def test_answer_arriving_during_a_slow_fanout_before_the_close_counts(autojump_clock):
    # A throttled leaderboard fan-out starts about 0.1 s before the close and takes 0.2 s; an
    # answer that arrives meanwhile, inside its window, must be judged by its arrival.
    def delay(msg_type: str, now: float) -> float:
        return 0.2 if msg_type == "leaderboard" and now >= slow_from else 0.0

    delivery = RecordingDelivery(broadcast_delay=delay)
    slow_from = float("inf")
    quiz = Quiz(delivery)
    async with running(quiz.actor):
        await quiz.setup(cat=True)
        await quiz.at(LIMIT - 0.6)
        answer(quiz.actor, "p1", quiz.ann, "q0", 0)  # leaderboard flushed now
        await quiz.at(LIMIT - 0.5)
        answer(quiz.actor, "p2", quiz.bob, "q0", 0)  # next flush due at LIMIT - 0.1
        slow_from = quiz.opened + LIMIT - 0.2
        await quiz.at(LIMIT - 0.05)  # during the slow fan-out
        # A leaderboard waits a window before its fan-out (the actor's DEFER_WINDOW_S).
        assert delivery.broadcast_times("leaderboard")[-1] == pytest.approx(quiz.opened + LIMIT - 0.1 + DEFER_WINDOW_S)
        cat_answer_at = trio.current_time()
        # Cat joined before the question opened; she answers inside her window.
        answer(quiz.actor, "p3", quiz.cat, "q0", 0, id="cat")
        await quiz.at(LIMIT + 1.0)
        assert not delivery.messages("p3", "error"), delivery.messages("p3", "error")
        (result,) = delivery.messages("p3", "answer_result")
        assert result["payload"]["points"] == time_points(1000, 10000, round((cat_answer_at - quiz.opened) * 1000))
