"""The report of one quiz (protocol section 4) as JSON and as CSV, from the store's rows.

Pure functions of :class:`quizd.store.queries.Report`: the data API serves them, and
anything else that needs the report (a ``quiz.ended`` webhook's ``data``) builds the
same JSON here.  The CSV protects every cell a spreadsheet would run as a formula
(one starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a
leading ``'``), since player names are typed by anyone.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping

import orjson

from quizd.store.queries import AnswerRow, Report

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def report_json(report: Report) -> dict[str, object]:
    """``GET /api/quizzes/{id}/report``: the quiz, each closed question, each player."""
    quiz = report.quiz
    return {
        "quizId": quiz.quiz_id,
        "definitionId": quiz.definition_id,
        "definitionVersion": quiz.definition_version,
        "title": quiz.title,
        "startedAt": quiz.started_at,
        "endedAt": quiz.ended_at,
        "questions": [
            {
                **q.closed,
                "questionId": q.question_id,
                "kind": q.kind,
                "text": q.text,
                "answered": q.answered,
                "correctCount": q.correct_count,
                "avgElapsedMs": q.avg_elapsed_ms,
            }
            for q in report.questions
        ],
        "players": [
            {
                "participantId": p.participant_id,
                "name": p.name,
                "rank": p.rank,
                "score": p.score,
                "correctCount": p.correct_count,
                "answers": [_answer_json(a) for a in report.answers.get(p.participant_id, ())],
            }
            for p in report.players
        ],
    }


def _answer_json(answer: AnswerRow) -> dict[str, object]:
    return {
        "questionId": answer.question_id,
        "answer": dict(answer.answer),
        "correct": answer.correct,
        "points": answer.points,
        "elapsedMs": answer.elapsed_ms,
    }


def report_csv(report: Report) -> bytes:
    """``report.csv``: one row per player by rank, four columns per closed question."""
    out = io.StringIO()
    writer = csv.writer(out)
    header = ["rank", "name", "participant_id", "score", "correct_count"]
    for q in report.questions:
        n = q.question_index + 1
        header += [f"q{n}_answer", f"q{n}_correct", f"q{n}_points", f"q{n}_ms"]
    writer.writerow(header)
    for player in report.players:
        answers = {a.question_id: a for a in report.answers.get(player.participant_id, ())}
        row: list[object] = [player.rank, player.name, player.participant_id, player.score, player.correct_count]
        for q in report.questions:
            a = answers.get(q.question_id)
            if a is None:
                row += ["", "", "", ""]
            else:
                row += [_answer_cell(a.answer), _bool_cell(a.correct), a.points, a.elapsed_ms]
        writer.writerow([_safe_cell(str(cell)) for cell in row])
    return out.getvalue().encode("utf-8")


def _answer_cell(answer: Mapping[str, object]) -> str:
    """The answer itself (``{"choice": 1}`` -> ``1``; a list -> ``0;2``); JSON otherwise."""
    values = [value for key, value in answer.items() if key != "questionId"]
    if len(values) != 1:
        return orjson.dumps(dict(answer)).decode()
    value = values[0]
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return _bool_cell(value) if isinstance(value, bool) else str(value)


def _bool_cell(value: bool | None) -> str:
    return "" if value is None else ("true" if value else "false")


def _safe_cell(cell: str) -> str:
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell
