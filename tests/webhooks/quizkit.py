"""A small quiz as store events, and outbox reads, for the webhook tests."""

from __future__ import annotations

from collections.abc import Sequence

import attrs
from sqlalchemy import Engine, select

from quizd.store import schema
from quizd.store.events import (
    AnswerRecorded,
    PlayerResult,
    QuestionClosed,
    QuizCreated,
    QuizEnded,
    QuizStarted,
    StoreEvent,
)

T0 = 1_700_000_000_000


def a_quiz(quiz: str, players: int = 2, t0: int = T0) -> list[StoreEvent]:
    """Created, started, one answer per player (p0 right, the rest wrong), closed, ended."""
    events: list[StoreEvent] = [
        QuizCreated(
            quiz_id=quiz,
            definition_id="capitals",
            definition_version=3,
            title="Capitals",
            node="node-a",
            questions=1,
            created_at=t0,
        ),
        QuizStarted(quiz_id=quiz, started_at=t0 + 1000),
    ]
    events += [
        AnswerRecorded(
            quiz_id=quiz,
            participant_id=f"p{i}",
            question_id="q0",
            question_index=0,
            answer={"choice": 1 if i == 0 else 2},
            correct=i == 0,
            points=900 if i == 0 else 0,
            elapsed_ms=1500 + i,
            arrived_at=t0 + 2500 + i,
        )
        for i in range(players)
    ]
    events.append(
        QuestionClosed(
            quiz_id=quiz,
            question_id="q0",
            question_index=0,
            kind="single",
            text="Capital of France?",
            payload={"type": "question_closed", "correct": 1},
        )
    )
    events.append(
        QuizEnded(
            quiz_id=quiz,
            ended_at=t0 + 60_000,
            players=tuple(
                PlayerResult(
                    participant_id=f"p{i}",
                    name=f"Player {i}",
                    score=900 if i == 0 else 0,
                    rank=i + 1,
                    correct_count=1 if i == 0 else 0,
                )
                for i in range(players)
            ),
        )
    )
    return events


@attrs.frozen
class Row:
    id: str
    url: str
    event_type: str
    payload: str
    attempts: int
    delivered_at: int | None
    claimed_by: str | None
    last_error: str | None


def outbox_rows(engine: Engine) -> Sequence[Row]:
    o = schema.webhook_outbox
    with engine.connect() as connection:
        rows = connection.execute(select(o).order_by(o.c.created_at, o.c.url)).all()
    return [Row(**{f.name: getattr(r, f.name) for f in attrs.fields(Row)}) for r in rows]
