"""What a quiz actor hands to the store: its game's effects turned into store events.

The game is sans-IO and knows nothing of a database; what happened is already in the
effects it returns (an ``answer_result`` reply, the ``question_closed`` and
``quiz_starting`` broadcasts, ``ResultsReady``) and in its state (an answer's arrival
time and elapsed ms, the final standings).  ``QuizRecorder`` reads both after the
actor carried the effects out (in a cluster: after they were committed, so only the
owner records, and only what is durable) and hands each fact to the ``RecordPort``,
which buffers it and returns at once: never awaited, never on the answer path.

Every event is idempotent in the store (insert-or-ignore by key, updates that set the
same values), so :meth:`QuizRecorder.history` may replay what a game already holds
when an actor starts: after a takeover the new owner writes again what the old one
acknowledged but may not have flushed, and nothing is written twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from quizd.actors.ports import RecordPort
from quizd.game import effects as fx
from quizd.game.phase import Phase
from quizd.game.quiz import QuizGame
from quizd.store.events import (
    AnswerRecorded,
    PlayerResult,
    QuestionClosed,
    QuizCreated,
    QuizEnded,
    QuizStarted,
    StoreEvent,
)


class QuizRecorder:
    """Turns one node's quiz effects into store events for ``port``."""

    def __init__(self, port: RecordPort, node: str) -> None:
        self.port = port
        self.node = node

    def history(self, game: QuizGame, now_ms: int) -> None:
        """Everything ``game`` already holds: at creation just ``QuizCreated``; after a
        takeover or a restart also its start, scored answers, closes and end."""
        for event in self._history(game, now_ms):
            self.port.record(event)

    def effects(self, game: QuizGame, effects: Iterable[fx.Effect], now_ms: int) -> None:
        """What one actor turn did, once its effects were carried out."""
        for effect in effects:
            event = self._event(game, effect, now_ms)
            if event is not None:
                self.port.record(event)

    # ------------------------------------------------------------------ events
    def _history(self, game: QuizGame, now_ms: int) -> Iterator[StoreEvent]:
        yield self._created(game)
        if game.phase != Phase.LOBBY:
            yield QuizStarted(game.quiz_id, game.starts_at_ms if game.starts_at_ms is not None else now_ms)
        for pid, participant in game.participants.items():
            for question_id, record in participant.answers.items():
                if record.result is not None:
                    answer = self._answer(game, pid, question_id)
                    if answer is not None:
                        yield answer
        for closed in game.closed_questions:
            event = self._closed(game, closed)
            if event is not None:
                yield event
        if game.phase == Phase.ENDED:
            yield self._ended(game, now_ms)

    def _event(self, game: QuizGame, effect: fx.Effect, now_ms: int) -> StoreEvent | None:
        if isinstance(effect, fx.Reply) and effect.type == "answer_result":
            return self._answer(game, effect.participant_id, str(effect.payload["questionId"]))
        if isinstance(effect, fx.Broadcast) and effect.type == "question_closed":
            return self._closed(game, effect.payload)
        if isinstance(effect, fx.Broadcast) and effect.type == "quiz_starting":
            return QuizStarted(game.quiz_id, game.starts_at_ms if game.starts_at_ms is not None else now_ms)
        if isinstance(effect, fx.ResultsReady):
            return self._ended(game, now_ms)
        return None

    def _created(self, game: QuizGame) -> QuizCreated:
        definition = game.definition
        return QuizCreated(
            quiz_id=game.quiz_id,
            definition_id=definition.id,
            definition_version=definition.version,
            title=definition.title,
            node=self.node,
            questions=definition.question_count,
            created_at=game.wall_ms(game.created_at),
        )

    def _answer(self, game: QuizGame, pid: str, question_id: str) -> AnswerRecorded | None:
        """A scored answer (in ``on_close`` scored at the close): the points are known."""
        participant = game.participants.get(pid)
        record = participant.answers.get(question_id) if participant is not None else None
        if record is None or record.result is None:
            return None
        return AnswerRecorded(
            quiz_id=game.quiz_id,
            participant_id=pid,
            question_id=question_id,
            question_index=_index(question_id),
            answer=record.echo(),
            correct=None if record.result["correct"] is None else bool(record.result["correct"]),
            points=int(record.result["points"]),
            elapsed_ms=record.elapsed_ms,
            arrived_at=game.wall_ms(record.received_at),
        )

    def _closed(self, game: QuizGame, payload: Mapping[str, object]) -> QuestionClosed | None:
        question_id = str(payload["questionId"])
        index = _index(question_id)
        if not 0 <= index < game.definition.question_count:
            return None
        reveal = {key: value for key, value in payload.items() if key != "text"}
        return QuestionClosed(
            quiz_id=game.quiz_id,
            question_id=question_id,
            question_index=index,
            kind=str(game.definition.questions[index].kind),
            text=game.definition.questions[index].text,
            payload=reveal,
        )

    def _ended(self, game: QuizGame, now_ms: int) -> QuizEnded:
        players = []
        for entry in game.leaderboard.iter_entries():
            pid = str(entry["participantId"])
            participant = game.participants.get(pid)
            correct = 0
            if participant is not None:
                correct = sum(1 for a in participant.answers.values() if a.result is not None and a.result["correct"])
            players.append(
                PlayerResult(
                    participant_id=pid,
                    name=str(entry["name"]),
                    score=_int(entry["score"]),
                    rank=_int(entry["rank"]),
                    correct_count=correct,
                )
            )
        # The end is when the linger began: the same on every node that replays it.
        ended_at = now_ms if game.deadline is None else game.wall_ms(game.deadline - game.settings.linger_s)
        return QuizEnded(quiz_id=game.quiz_id, ended_at=ended_at, players=tuple(players))


def _index(question_id: str) -> int:
    """``"q3"`` -> 3: the game names its questions by index (``QuizGame.question_id``)."""
    try:
        return int(question_id.removeprefix("q"))
    except ValueError:
        return -1


def _int(value: object) -> int:
    assert isinstance(value, int)
    return value
