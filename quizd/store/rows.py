"""Store events as row writes: one transaction per batch, safe to repeat.

A batch whose commit was lost (the database went away after committing, before saying
so) is written again, so every write is idempotent: inserts are insert-or-ignore on the
primary key (``on_conflict_do_nothing`` of the SQLite and PostgreSQL dialects), and the
updates set the same values again.

Within a batch the writes go by kind in the order a quiz lives (created, started,
answers, closes, ended), which is the order of any one quiz's events, so grouping keeps
each quiz's facts consistent while answers go in as one multi-row statement.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, Table, update
from sqlalchemy.dialects import postgresql, sqlite

from quizd.store import schema
from quizd.store.events import AnswerRecorded, QuestionClosed, QuizCreated, QuizEnded, QuizStarted, StoreEvent


def _json(value: object) -> str:
    return orjson.dumps(value).decode()


def insert_ignore(connection: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows``, skipping those whose primary key is already there."""
    if not rows:
        return
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    connection.execute(dialect.insert(table).on_conflict_do_nothing(), list(rows))


def write_batch(connection: Connection, events: Iterable[StoreEvent]) -> None:
    """Write ``events`` on ``connection`` (the caller owns the transaction)."""
    created: list[dict[str, Any]] = []
    started: list[QuizStarted] = []
    answers: list[dict[str, Any]] = []
    closed: list[dict[str, Any]] = []
    ended: list[QuizEnded] = []
    for event in events:
        if isinstance(event, AnswerRecorded):
            answers.append(
                {
                    "quiz_id": event.quiz_id,
                    "participant_id": event.participant_id,
                    "question_id": event.question_id,
                    "question_index": event.question_index,
                    "answer": _json(event.answer),
                    "correct": event.correct,
                    "points": event.points,
                    "elapsed_ms": event.elapsed_ms,
                    "arrived_at": event.arrived_at,
                }
            )
        elif isinstance(event, QuizCreated):
            created.append(
                {
                    "quiz_id": event.quiz_id,
                    "definition_id": event.definition_id,
                    "definition_version": event.definition_version,
                    "title": event.title,
                    "node": event.node,
                    "created_at": event.created_at,
                    "players": 0,
                    "questions": event.questions,
                }
            )
        elif isinstance(event, QuizStarted):
            started.append(event)
        elif isinstance(event, QuestionClosed):
            closed.append(
                {
                    "quiz_id": event.quiz_id,
                    "question_id": event.question_id,
                    "question_index": event.question_index,
                    "kind": event.kind,
                    "text": event.text,
                    "closed": _json(event.payload),
                }
            )
        else:
            ended.append(event)
    insert_ignore(connection, schema.quizzes, created)
    quizzes = schema.quizzes
    for s in started:
        connection.execute(update(quizzes).where(quizzes.c.quiz_id == s.quiz_id).values(started_at=s.started_at))
    insert_ignore(connection, schema.answers, answers)
    insert_ignore(connection, schema.question_results, closed)
    for e in ended:
        connection.execute(
            update(quizzes).where(quizzes.c.quiz_id == e.quiz_id).values(ended_at=e.ended_at, players=len(e.players))
        )
        insert_ignore(
            connection,
            schema.players,
            [
                {
                    "quiz_id": e.quiz_id,
                    "participant_id": p.participant_id,
                    "name": p.name,
                    "score": p.score,
                    "rank": p.rank,
                    "correct_count": p.correct_count,
                }
                for p in e.players
            ],
        )
