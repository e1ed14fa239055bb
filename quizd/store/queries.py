"""What the data API reads (protocol section 4): history pages, a quiz, its results, its report.

Plain functions on a SQLAlchemy ``Connection`` returning frozen rows, so that they run
in a worker thread (:meth:`quizd.store.engine.Database.run` with :func:`read`) and the
HTTP layer only shapes JSON.  History is paged by a keyset cursor on
``(ended_at, quiz_id)`` (the index ``ix_quizzes_ended_at_quiz_id``), so a page costs
the same however deep it is, and quizzes that end meanwhile never shift a page.
"""

from __future__ import annotations

import base64
import binascii
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import TypeVar

import attrs
import orjson
from sqlalchemy import Connection, Engine, and_, func, or_, select

from quizd.store import schema

T = TypeVar("T")


class BadCursor(ValueError):
    """A history cursor this store did not hand out."""


@attrs.frozen
class QuizRow:
    quiz_id: str
    definition_id: str
    definition_version: int
    title: str
    node: str
    created_at: int
    started_at: int | None
    ended_at: int | None
    players: int
    questions: int


@attrs.frozen
class HistoryPage:
    items: tuple[QuizRow, ...]
    next_cursor: str | None  # None on the last page


@attrs.frozen
class PlayerRow:
    participant_id: str
    name: str
    score: int
    rank: int
    correct_count: int


@attrs.frozen
class AnswerRow:
    participant_id: str
    question_id: str
    question_index: int
    answer: Mapping[str, object]  # the echo object, e.g. {"choice": 1}
    correct: bool | None
    points: int
    elapsed_ms: int


@attrs.frozen
class QuestionRow:
    question_id: str
    question_index: int
    kind: str
    text: str
    closed: Mapping[str, object]  # the question_closed payload
    answered: int
    correct_count: int
    avg_elapsed_ms: int | None


@attrs.frozen
class Report:
    quiz: QuizRow
    questions: tuple[QuestionRow, ...]  # in question order
    players: tuple[PlayerRow, ...]  # by rank
    answers: Mapping[str, tuple[AnswerRow, ...]]  # by participant id, in question order


def read(engine: Engine, query: Callable[..., T], *args: object) -> T:
    """Run ``query(connection, *args)`` on a fresh connection (call it in a worker thread)."""
    with engine.connect() as connection:
        return query(connection, *args)


def encode_cursor(ended_at: int, quiz_id: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([ended_at, quiz_id])).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        value = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise BadCursor(cursor) from None
    if not isinstance(value, list) or len(value) != 2 or type(value[0]) is not int or not isinstance(value[1], str):
        raise BadCursor(cursor)
    return value[0], value[1]


def _quiz(row: object) -> QuizRow:
    return QuizRow(**{f.name: getattr(row, f.name) for f in attrs.fields(QuizRow)})


def history_page(connection: Connection, definition_id: str | None, limit: int, cursor: str | None) -> HistoryPage:
    """Ended quizzes, newest first, ``limit`` a page, after ``cursor`` (``BadCursor``)."""
    q = schema.quizzes
    query = select(q).where(q.c.ended_at.is_not(None))
    if definition_id is not None:
        query = query.where(q.c.definition_id == definition_id)
    if cursor is not None:
        ended_at, quiz_id = decode_cursor(cursor)
        query = query.where(or_(q.c.ended_at < ended_at, and_(q.c.ended_at == ended_at, q.c.quiz_id < quiz_id)))
    rows = connection.execute(query.order_by(q.c.ended_at.desc(), q.c.quiz_id.desc()).limit(limit + 1)).all()
    items = tuple(_quiz(row) for row in rows[:limit])
    more = len(rows) > limit
    last = items[-1] if items else None
    next_cursor = encode_cursor(last.ended_at, last.quiz_id) if more and last and last.ended_at is not None else None
    return HistoryPage(items=items, next_cursor=next_cursor)


def quiz(connection: Connection, quiz_id: str) -> QuizRow | None:
    row = connection.execute(select(schema.quizzes).where(schema.quizzes.c.quiz_id == quiz_id)).first()
    return _quiz(row) if row is not None else None


def final_results(connection: Connection, quiz_id: str) -> tuple[PlayerRow, ...]:
    """The final standings of an ended quiz, by rank (empty before its end)."""
    p = schema.players
    rows = connection.execute(select(p).where(p.c.quiz_id == quiz_id).order_by(p.c.rank, p.c.participant_id))
    return tuple(
        PlayerRow(
            participant_id=r.participant_id, name=r.name, score=r.score, rank=r.rank, correct_count=r.correct_count
        )
        for r in rows
    )


def report(connection: Connection, quiz_id: str) -> Report | None:
    """Everything the report of protocol section 4 shows, or None for an unknown quiz."""
    found = quiz(connection, quiz_id)
    if found is None:
        return None
    a, qr = schema.answers, schema.question_results
    stats = {
        row.question_id: row
        for row in connection.execute(
            select(
                a.c.question_id,
                func.count().label("answered"),
                func.count().filter(a.c.correct.is_(True)).label("correct"),
                func.avg(a.c.elapsed_ms).label("avg_ms"),
            )
            .where(a.c.quiz_id == quiz_id)
            .group_by(a.c.question_id)
        )
    }
    questions = []
    for row in connection.execute(select(qr).where(qr.c.quiz_id == quiz_id).order_by(qr.c.question_index)):
        stat = stats.get(row.question_id)
        questions.append(
            QuestionRow(
                question_id=row.question_id,
                question_index=row.question_index,
                kind=row.kind,
                text=row.text,
                closed=orjson.loads(row.closed),
                answered=stat.answered if stat else 0,
                correct_count=stat.correct if stat else 0,
                avg_elapsed_ms=round(stat.avg_ms) if stat and stat.avg_ms is not None else None,
            )
        )
    by_player: dict[str, list[AnswerRow]] = defaultdict(list)
    for row in connection.execute(
        select(a).where(a.c.quiz_id == quiz_id).order_by(a.c.participant_id, a.c.question_index)
    ):
        by_player[row.participant_id].append(
            AnswerRow(
                participant_id=row.participant_id,
                question_id=row.question_id,
                question_index=row.question_index,
                answer=orjson.loads(row.answer),
                correct=row.correct,
                points=row.points,
                elapsed_ms=row.elapsed_ms,
            )
        )
    return Report(
        quiz=found,
        questions=tuple(questions),
        players=final_results(connection, quiz_id),
        answers={pid: tuple(rows) for pid, rows in by_player.items()},
    )
