"""The data API's reads on both dialects: history pages by cursor, results, the report."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from quizd.store.events import PlayerResult, QuestionClosed, QuizCreated, QuizEnded, StoreEvent
from quizd.store.migrate import upgrade
from quizd.store.queries import BadCursor, final_results, history_page, read, report
from quizd.store.rows import write_batch

from .test_writer import a_quiz, answer


def ended(quiz_id: str, definition: str, ended_at: int) -> list[StoreEvent]:
    return [
        QuizCreated(
            quiz_id=quiz_id,
            definition_id=definition,
            definition_version=1,
            title=definition,
            node="n1",
            questions=0,
            created_at=ended_at - 1000,
        ),
        QuizEnded(quiz_id=quiz_id, ended_at=ended_at, players=()),
    ]


def test_history_is_paged_newest_first_by_cursor(engine: Engine) -> None:
    upgrade(engine)
    events: list[StoreEvent] = []
    for i in range(7):  # two quizzes end at the same instant: the quiz id breaks the tie
        events += ended(f"z{i}", "capitals" if i % 2 else "rivers", 1000 + min(i, 5))
    events.append(
        QuizCreated(
            quiz_id="live",
            definition_id="capitals",
            definition_version=1,
            title="x",
            node="n1",
            questions=0,
            created_at=5,
        )
    )
    with engine.begin() as connection:
        write_batch(connection, events)
    seen: list[str] = []
    cursor = None
    while True:
        page = read(engine, history_page, None, 3, cursor)
        seen += [item.quiz_id for item in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == ["z6", "z5", "z4", "z3", "z2", "z1", "z0"]
    only = read(engine, history_page, "capitals", 50, None)
    assert [item.quiz_id for item in only.items] == ["z5", "z3", "z1"] and only.next_cursor is None
    with pytest.raises(BadCursor):
        read(engine, history_page, None, 3, "not-a-cursor")


def test_results_and_report(engine: Engine) -> None:
    upgrade(engine)
    events = a_quiz("quiz1", 3)
    events.insert(-1, answer("quiz1", "p0", q=1, choice=0))
    events.insert(
        -1,
        QuestionClosed(
            quiz_id="quiz1",
            question_id="q1",
            question_index=1,
            kind="poll",
            text="Best?",
            payload={"correctChoice": None, "distribution": [1, 0]},
        ),
    )
    events[-1] = QuizEnded(
        quiz_id="quiz1",
        ended_at=9,
        players=(
            PlayerResult(participant_id="p2", name="P2", score=500, rank=2, correct_count=1),
            PlayerResult(participant_id="p0", name="P0", score=900, rank=1, correct_count=1),
        ),
    )
    with engine.begin() as connection:
        write_batch(connection, events)  # type: ignore[arg-type]
    assert [p.participant_id for p in read(engine, final_results, "quiz1")] == ["p0", "p2"]
    got = read(engine, report, "quiz1")
    assert got is not None
    assert [(q.question_id, q.answered, q.correct_count, q.avg_elapsed_ms) for q in got.questions] == [
        ("q0", 3, 3, 1200),
        ("q1", 1, 0, 1200),
    ]
    assert got.questions[1].closed == {"correctChoice": None, "distribution": [1, 0]}
    assert [(r.question_id, r.answer, r.correct) for r in got.answers["p0"]] == [
        ("q0", {"choice": 1}, True),
        ("q1", {"choice": 0}, False),
    ]
    assert read(engine, report, "nope") is None
