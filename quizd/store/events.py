"""What actors record: frozen facts about a quiz, handed to the store's ``RecordPort``.

They carry plain values only (ids, epoch milliseconds, JSON-ready mappings), so the
game and the actors need nothing from the database side to build them.  Times are wall
clock epoch milliseconds, as in the data API.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

# A JSON object as the protocol sends it: the echo of an answer, a question_closed payload.
JsonObject = Mapping[str, object]


@attrs.frozen
class QuizCreated:
    quiz_id: str
    definition_id: str
    definition_version: int
    title: str
    node: str
    questions: int
    created_at: int


@attrs.frozen
class QuizStarted:
    quiz_id: str
    started_at: int


@attrs.frozen
class AnswerRecorded:
    """One accepted answer; ``correct`` is None for a poll."""

    quiz_id: str
    participant_id: str
    question_id: str
    question_index: int
    answer: JsonObject  # the echo object of protocol section 3, e.g. {"choice": 1}
    correct: bool | None
    points: int
    elapsed_ms: int
    arrived_at: int


@attrs.frozen
class QuestionClosed:
    quiz_id: str
    question_id: str
    question_index: int
    kind: str
    text: str
    payload: JsonObject  # the question_closed payload


@attrs.frozen
class PlayerResult:
    participant_id: str
    name: str
    score: int
    rank: int
    correct_count: int


@attrs.frozen
class QuizEnded:
    """The end of a quiz with its final results: never dropped by the writer."""

    quiz_id: str
    ended_at: int
    players: tuple[PlayerResult, ...]


StoreEvent = QuizCreated | QuizStarted | AnswerRecorded | QuestionClosed | QuizEnded
