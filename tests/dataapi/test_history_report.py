"""History, report and report.csv on a real node reading a real SQLite file.

The node's own recording of events is the storewire work; here the database is filled
with the store's row writes (``write_batch``, what the batch writer commits) before the
node answers, so each test knows exactly what was played."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from quizd.store.events import (
    AnswerRecorded,
    PlayerResult,
    QuestionClosed,
    QuizCreated,
    QuizEnded,
    QuizStarted,
    StoreEvent,
)
from tests.dataapi.datakit import api, seed

pytestmark = pytest.mark.e2e

T0 = 1_750_000_000_000


def created(
    quiz_id: str, definition_id: str = "made", version: int = 1, at: int = T0, questions: int = 2
) -> QuizCreated:
    return QuizCreated(
        quiz_id=quiz_id,
        definition_id=definition_id,
        definition_version=version,
        title=f"Title of {definition_id}",
        node="test-node-0",
        questions=questions,
        created_at=at,
    )


def closed(quiz_id: str, index: int, correct: int, distribution: list[int]) -> QuestionClosed:
    return QuestionClosed(
        quiz_id=quiz_id,
        question_id=f"q{index}",
        question_index=index,
        kind="single",
        text=f"Question {index}?",
        payload={"questionId": f"q{index}", "correctChoice": correct, "distribution": distribution},
    )


def answer(quiz_id: str, who: str, index: int, choice: int, correct: bool, points: int, ms: int) -> AnswerRecorded:
    return AnswerRecorded(
        quiz_id=quiz_id,
        participant_id=who,
        question_id=f"q{index}",
        question_index=index,
        answer={"choice": choice},
        correct=correct,
        points=points,
        elapsed_ms=ms,
        arrived_at=T0 + 10_000 + index * 30_000 + ms,
    )


def played(quiz_id: str, names: dict[str, str]) -> list[StoreEvent]:
    """A two-question quiz: p1 right then wrong, p2 wrong then right, every other player
    never answers; ranks by score."""
    events: list[StoreEvent] = [
        created(quiz_id, version=2),
        QuizStarted(quiz_id=quiz_id, started_at=T0 + 5000),
        answer(quiz_id, "p1", 0, 0, True, 900, 1200),
        answer(quiz_id, "p2", 0, 1, False, 0, 3000),
        closed(quiz_id, 0, 0, [1, 1, 0]),
        answer(quiz_id, "p1", 1, 0, False, 0, 2000),
        answer(quiz_id, "p2", 1, 2, True, 700, 4000),
        closed(quiz_id, 1, 2, [1, 0, 1]),
    ]
    scores = {"p1": 900, "p2": 700}
    results = [
        PlayerResult(
            participant_id=pid, name=name, score=scores.get(pid, 0), rank=0, correct_count=1 if pid in scores else 0
        )
        for pid, name in names.items()
    ]
    results.sort(key=lambda r: -r.score)
    ranked = tuple(
        PlayerResult(
            participant_id=r.participant_id,
            name=r.name,
            score=r.score,
            rank=1 + sum(1 for o in results if o.score > r.score),
            correct_count=r.correct_count,
        )
        for r in results
    )
    events.append(QuizEnded(quiz_id=quiz_id, ended_at=T0 + 90_000, players=ranked))
    return events


def start(node_factory: Any, tmp_path: Path) -> tuple[Any, str]:
    url = f"sqlite:///{tmp_path / 'data.db'}"
    return node_factory(storage={"url": url}), url


async def test_report_of_a_played_quiz(node_factory, tmp_path):
    node, url = start(node_factory, tmp_path)
    seed(url, played("played", {"p1": "Ann", "p2": "Bob", "p3": "Cat"}))

    status, _, report = await api(node, "GET", "/api/quizzes/played/report")
    assert status == 200, report
    assert {k: report[k] for k in ("quizId", "definitionId", "definitionVersion", "title", "startedAt", "endedAt")} == {
        "quizId": "played",
        "definitionId": "made",
        "definitionVersion": 2,
        "title": "Title of made",
        "startedAt": T0 + 5000,
        "endedAt": T0 + 90_000,
    }
    assert report["questions"] == [
        {
            "questionId": "q0",
            "kind": "single",
            "text": "Question 0?",
            "answered": 2,
            "correctCount": 1,
            "avgElapsedMs": 2100,
            "correctChoice": 0,
            "distribution": [1, 1, 0],
        },
        {
            "questionId": "q1",
            "kind": "single",
            "text": "Question 1?",
            "answered": 2,
            "correctCount": 1,
            "avgElapsedMs": 3000,
            "correctChoice": 2,
            "distribution": [1, 0, 1],
        },
    ]
    players = report["players"]
    assert [(p["rank"], p["name"], p["score"], p["correctCount"]) for p in players] == [
        (1, "Ann", 900, 1),
        (2, "Bob", 700, 1),
        (3, "Cat", 0, 0),
    ]
    assert players[0]["answers"] == [
        {"questionId": "q0", "answer": {"choice": 0}, "correct": True, "points": 900, "elapsedMs": 1200},
        {"questionId": "q1", "answer": {"choice": 0}, "correct": False, "points": 0, "elapsedMs": 2000},
    ]
    assert [a["correct"] for a in players[1]["answers"]] == [False, True]
    assert players[2]["answers"] == []  # answered nothing

    status, headers, body = await api(node, "GET", "/api/quizzes/played/report.csv")
    assert status == 200 and headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(body.decode("utf-8"))))
    assert rows == [
        [
            "rank",
            "name",
            "participant_id",
            "score",
            "correct_count",
            "q1_answer",
            "q1_correct",
            "q1_points",
            "q1_ms",
            "q2_answer",
            "q2_correct",
            "q2_points",
            "q2_ms",
        ],
        ["1", "Ann", "p1", "900", "1", "0", "true", "900", "1200", "0", "false", "0", "2000"],
        ["2", "Bob", "p2", "700", "1", "1", "false", "0", "3000", "2", "true", "700", "4000"],
        ["3", "Cat", "p3", "0", "0", "", "", "", "", "", "", "", ""],
    ]


async def test_csv_protects_formula_names(node_factory, tmp_path):
    node, url = start(node_factory, tmp_path)
    names = {
        "p1": "=cmd|' /C calc'!A0",
        "p2": "+1",
        "p3": "-1",
        "p4": "@x",
        "p5": "\tTab",
        "p6": "\rCR",
        "p7": 'Plain, "quoted"',
    }
    seed(url, played("evil", names))
    status, _, body = await api(node, "GET", "/api/quizzes/evil/report.csv")
    assert status == 200
    rows = list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))
    by_id = {row[2]: row[1] for row in rows[1:]}
    assert by_id == {
        "p1": "'=cmd|' /C calc'!A0",
        "p2": "'+1",
        "p3": "'-1",
        "p4": "'@x",
        "p5": "'\tTab",
        "p6": "'\rCR",
        "p7": 'Plain, "quoted"',
    }
    # Every cell of the file: none starts with what a spreadsheet would run.
    assert not [cell for row in rows for cell in row if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]


async def test_report_not_ready_unknown_and_live(node_factory, tmp_path):
    node, url = start(node_factory, tmp_path)
    seed(
        url,
        [
            created("fresh"),
            QuizStarted(quiz_id="fresh", started_at=T0 + 1),
            created("live"),
            QuizStarted(quiz_id="live", started_at=T0 + 1),
            answer("live", "p1", 0, 1, True, 800, 900),
            closed("live", 0, 1, [0, 1, 0]),
        ],
    )
    for path in ("/api/quizzes/fresh/report", "/api/quizzes/fresh/report.csv"):
        status, _, body = await api(node, "GET", path)
        assert status == 404 and body["error"]["code"] == "results_not_ready", body
    for path in ("/api/quizzes/nope/report", "/api/quizzes/nope/report.csv"):
        status, _, body = await api(node, "GET", path)
        assert status == 404 and body["error"]["code"] == "quiz_not_found", body
    # A live quiz: its closed questions are there; its players once it ends.
    status, _, report = await api(node, "GET", "/api/quizzes/live/report")
    assert status == 200 and report["endedAt"] is None
    assert [(q["questionId"], q["answered"], q["correctCount"]) for q in report["questions"]] == [("q0", 1, 1)]


async def test_history_pages_newest_first(node_factory, tmp_path):
    node, url = start(node_factory, tmp_path)
    events: list[StoreEvent] = []
    for i in range(7):
        quiz_id = f"h{i}"
        definition_id = "even" if i % 2 == 0 else "odd"
        events += [
            created(quiz_id, definition_id, version=1 + i // 4, at=T0 + i * 1000),
            QuizStarted(quiz_id=quiz_id, started_at=T0 + i * 1000 + 10),
        ]
        ended_at = T0 + 100_000 + (i // 2) * 1000  # pairs end together: the cursor breaks ties by id
        events.append(
            QuizEnded(
                quiz_id=quiz_id,
                ended_at=ended_at,
                players=(PlayerResult(participant_id="p", name="P", score=1, rank=1, correct_count=1),),
            )
        )
    events.append(created("running"))  # not ended: never in the history
    seed(url, events)

    seen: list[dict[str, Any]] = []
    cursor = None
    pages = 0
    while True:
        query = "/api/history?limit=3" + (f"&cursor={cursor}" if cursor else "")
        status, _, page = await api(node, "GET", query)
        assert status == 200, page
        seen += page["items"]
        pages += 1
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert pages == 3
    assert [item["quizId"] for item in seen] == ["h6", "h5", "h4", "h3", "h2", "h1", "h0"]
    assert seen[0] == {
        "quizId": "h6",
        "definitionId": "even",
        "definitionVersion": 2,
        "title": "Title of even",
        "createdAt": T0 + 6000,
        "startedAt": T0 + 6010,
        "endedAt": T0 + 103_000,
        "players": 1,
        "questions": 2,
    }

    status, _, page = await api(node, "GET", "/api/history?definitionId=odd&limit=2")
    assert [i["quizId"] for i in page["items"]] == ["h5", "h3"] and page["nextCursor"]
    status, _, page = await api(node, "GET", f"/api/history?definitionId=odd&limit=2&cursor={page['nextCursor']}")
    assert [i["quizId"] for i in page["items"]] == ["h1"] and page["nextCursor"] is None
    status, _, page = await api(node, "GET", "/api/history")
    assert len(page["items"]) == 7 and page["nextCursor"] is None

    for bad in ("limit=0", "limit=201", "limit=abc", "limit=-1", "cursor=nonsense", "cursor=WzEsMl0"):
        status, _, body = await api(node, "GET", f"/api/history?{bad}")
        assert status == 422 and body["error"]["code"] == "invalid_query", (bad, body)
