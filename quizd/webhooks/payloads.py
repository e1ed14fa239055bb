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
from quizd.http.reports import report_json
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
    """``data`` of ``quiz.ended``: the report of protocol section 4, as the data API
    serves it (:func:`quizd.http.reports.report_json`), without each close's ``type``."""
    data = report_json(report)
    questions = data["questions"]
    assert isinstance(questions, list)
    data["questions"] = [{k: v for k, v in q.items() if k != "type"} for q in questions]
    return data
