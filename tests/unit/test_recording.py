"""A quiz actor records what happened through its ``RecordPort``: created, started, every
scored answer (in ``on_close`` at the close, with the points), every close, the end
with every player's final standing; and an actor started on a restored game replays it all."""

from __future__ import annotations

from typing import Any

import trio

from quizd.actors.actor import QuizActor
from quizd.actors.recording import QuizRecorder
from quizd.game.quiz import GameSettings
from quizd.store.events import (
    AnswerRecorded,
    QuestionClosed,
    QuizCreated,
    QuizEnded,
    QuizStarted,
    StoreEvent,
)

from .actorkit import (
    Endpoint,
    RecordingDelivery,
    answer,
    command,
    join,
    next_question,
    running,
    settle,
)
from .quizkit import HOST_TOKEN, make_game


class Recorded:
    """A RecordPort that keeps what it is handed, in order (the batch writer's contract:
    ``record`` returns at once)."""

    def __init__(self) -> None:
        self.events: list[StoreEvent] = []

    def record(self, event: StoreEvent) -> None:
        self.events.append(event)

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


def new_actor(reveal: str) -> tuple[QuizActor, Recorded]:
    game = make_game(
        trio.current_time(),
        settings=GameSettings(linger_s=60),
        countdown_ms=1000,
        time_limit_ms=10000,
        questions=2,
        reveal=reveal,
        reveal_ms=1000,
    )
    port = Recorded()
    return QuizActor(game, RecordingDelivery(), recorder=QuizRecorder(port, "node-a")), port


async def play(actor: QuizActor) -> None:
    """Ann answers right, Bob wrong, on both questions; the host moves on each time."""
    host, ann, bob = Endpoint("host"), Endpoint("ann"), Endpoint("bob")
    await join(actor, "host", HOST_TOKEN, host)
    await join(actor, "player", "Ann", ann)
    await join(actor, "player", "Bob", bob)
    command(actor, "host", host, "start")
    await trio.sleep(1.1)  # the countdown
    for index in range(2):
        answer(actor, "p1", ann, f"q{index}", index % 4)
        await trio.sleep(0.5)
        answer(actor, "p2", bob, f"q{index}", (index + 1) % 4)
        await settle()
        next_question(actor, host, index)  # closes the question
        await trio.sleep(1.1)  # the reveal
    await settle()


async def test_a_whole_quiz_is_recorded_in_order(autojump_clock):
    actor, port = new_actor("on_answer")
    async with running(actor):
        await play(actor)
        (created,) = port.of(QuizCreated)
        assert (
            created.quiz_id,
            created.definition_id,
            created.definition_version,
            created.node,
            created.questions,
            created.title,
        ) == ("quiz-1", "test-quiz", 1, "node-a", 2, "Test quiz")
        (started,) = port.of(QuizStarted)
        assert started.started_at >= created.created_at
        answers = port.of(AnswerRecorded)
        assert [(a.participant_id, a.question_id, a.question_index, a.answer, a.correct) for a in answers] == [
            ("p1", "q0", 0, {"choice": 0}, True),
            ("p2", "q0", 0, {"choice": 1}, False),
            ("p1", "q1", 1, {"choice": 1}, True),
            ("p2", "q1", 1, {"choice": 2}, False),
        ]
        assert answers[0].points > 0 and answers[1].points == 0
        assert answers[1].elapsed_ms > answers[0].elapsed_ms and answers[0].arrived_at >= started.started_at
        closed = port.of(QuestionClosed)
        assert [(c.question_id, c.question_index, c.kind, c.text) for c in closed] == [
            ("q0", 0, "single", "Question 0"),
            ("q1", 1, "single", "Question 1"),
        ]
        assert closed[0].payload == {"questionId": "q0", "correctChoice": 0, "distribution": [1, 1, 0, 0]}
        (ended,) = port.of(QuizEnded)
        assert [(p.participant_id, p.name, p.rank, p.correct_count) for p in ended.players] == [
            ("p1", "Ann", 1, 2),
            ("p2", "Bob", 2, 0),
        ]
        assert ended.players[0].score == sum(a.points for a in answers if a.participant_id == "p1")
        assert ended.ended_at >= answers[-1].arrived_at
        kinds = [type(e).__name__ for e in port.events]
        assert kinds.index("QuizEnded") == len(kinds) - 1


async def test_on_close_answers_are_recorded_at_the_close_with_their_points(autojump_clock):
    actor, port = new_actor("on_close")
    async with running(actor):
        host, ann = Endpoint("host"), Endpoint("ann")
        await join(actor, "host", HOST_TOKEN, host)
        await join(actor, "player", "Ann", ann)
        command(actor, "host", host, "start")
        await trio.sleep(1.1)
        answer(actor, "p1", ann, "q0", 0)
        await settle()
        assert port.of(AnswerRecorded) == []  # accepted, not yet scored
        next_question(actor, host, 0)
        await settle()
        (recorded,) = port.of(AnswerRecorded)
        assert recorded.correct is True and recorded.points > 0
        assert [type(e).__name__ for e in port.events][-2:] == ["QuestionClosed", "AnswerRecorded"]


async def test_an_actor_started_on_a_game_with_history_replays_it(autojump_clock):
    actor, port = new_actor("on_answer")
    async with running(actor):
        await play(actor)
    again = Recorded()
    replay = QuizActor(actor.game, RecordingDelivery(), recorder=QuizRecorder(again, "node-b"))
    replay.finished = False
    async with running(replay):
        await settle()

    # The same facts (the store writes them idempotently), the end at the same time.
    def by_key(a: AnswerRecorded) -> tuple[str, str]:
        return a.participant_id, a.question_id

    assert sorted(again.of(AnswerRecorded), key=by_key) == sorted(port.of(AnswerRecorded), key=by_key)
    assert again.of(QuestionClosed) == port.of(QuestionClosed)
    assert again.of(QuizEnded) == port.of(QuizEnded)
    assert again.of(QuizStarted) == port.of(QuizStarted)
    assert again.of(QuizCreated)[0].created_at == port.of(QuizCreated)[0].created_at
