"""The body of each webhook: ``{type, timestamp, data}`` (protocol section 5).

``timestamp`` is the event's own time (ISO 8601, UTC, milliseconds), the same on every
retry; the attempt's time is in the signed ``webhook-timestamp`` header.  ``data`` of
``quiz.created`` and ``quiz.started`` is ``{quizId, definitionId, definitionVersion,
node}``; that of ``quiz.ended`` is the report of protocol section 4, shaped here from
:class:`quizd.store.queries.Report`.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from quizd.config.model import WebhookEvent
from quizd.store.queries import QuizRow, Report

JsonObject = dict[str, object]


def iso_time(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def body(event: WebhookEvent, event_at: int, data: JsonObject) -> bytes:
    """The exact bytes POSTed (and signed) on every attempt of one event."""
    return orjson.dumps({"type": event.value, "timestamp": iso_time(event_at), "data": data})


def quiz_data(quiz: QuizRow) -> JsonObject:
    """``data`` of ``quiz.created`` and ``quiz.started``."""
    return {
        "quizId": quiz.quiz_id,
        "definitionId": quiz.definition_id,
        "definitionVersion": quiz.definition_version,
        "node": quiz.node,
    }


def report_data(report: Report) -> JsonObject:
    """``data`` of ``quiz.ended``: the report of protocol section 4."""
    quiz = report.quiz
    questions = []
    for q in report.questions:
        closed = {k: v for k, v in q.closed.items() if k != "type"}
        questions.append(
            {
                **closed,
                "questionId": q.question_id,
                "kind": q.kind,
                "text": q.text,
                "answered": q.answered,
                "correctCount": q.correct_count,
                "avgElapsedMs": q.avg_elapsed_ms,
            }
        )
    players = [
        {
            "participantId": p.participant_id,
            "name": p.name,
            "rank": p.rank,
            "score": p.score,
            "correctCount": p.correct_count,
            "answers": [
                {
                    "questionId": a.question_id,
                    "answer": a.answer,
                    "correct": a.correct,
                    "points": a.points,
                    "elapsedMs": a.elapsed_ms,
                }
                for a in report.answers.get(p.participant_id, ())
            ],
        }
        for p in report.players
    ]
    return {
        "quizId": quiz.quiz_id,
        "definitionId": quiz.definition_id,
        "definitionVersion": quiz.definition_version,
        "title": quiz.title,
        "startedAt": quiz.started_at,
        "endedAt": quiz.ended_at,
        "questions": questions,
        "players": players,
    }
