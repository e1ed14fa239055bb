"""Quiz files with question kinds, explanations and leaderboard modes (wire contract v2
section 3): what loads, and every problem at once with its path."""

from __future__ import annotations

from typing import Any

import pytest

from quizd.config import ConfigError, parse_definition
from quizd.game.definitions import Kind, Slider


def quiz(*questions: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"id": "k", "title": "Kinds", **top, "questions": list(questions)}


def problems_of(document: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        parse_definition(document, "quiz.toml")
    return {p.location: p.message for p in info.value.problems}


GOOD = [
    {"text": "single", "choices": ["a", "b"], "answer": 1},
    {"kind": "true_false", "text": "tf", "answer": False, "explanation": "Because."},
    {"kind": "true_false", "text": "tf2", "answer": True, "choices": ["Yes", "No"]},
    {"kind": "multiple", "text": "m", "choices": list("abcdefgh"), "answers": [7, 0, 3]},
    {"kind": "type_answer", "text": "t", "accepted": ["Canberra", "CBR"], "typo_tolerance": True},
    {"kind": "slider", "text": "s", "min": 0, "max": 1, "step": 0.1, "answer": 0.3},
    {"kind": "poll", "text": "p", "choices": ["x", "y", "z"]},
]


def test_every_kind_loads() -> None:
    definition = parse_definition(quiz(*GOOD, leaderboard="end"), "quiz.toml")
    assert definition.leaderboard == "end"
    single, tf, tf2, multiple, typed, slider, poll = definition.questions
    assert (single.kind, single.answer, single.explanation) == (Kind.SINGLE, 1, None)
    assert (tf.kind, tf.choices, tf.answer, tf.explanation) == (Kind.TRUE_FALSE, ("True", "False"), 1, "Because.")
    assert (tf2.choices, tf2.answer) == (("Yes", "No"), 0)
    assert (multiple.kind, multiple.answers, multiple.answer) == (Kind.MULTIPLE, (0, 3, 7), None)
    assert (typed.accepted, typed.typo_tolerance, typed.choices) == (("Canberra", "CBR"), True, ())
    assert slider.slider == Slider(0.0, 1.0, 0.1, 0.3, 0.0)
    assert (poll.kind, poll.answer, poll.choices) == (Kind.POLL, None, ("x", "y", "z"))


def test_the_default_leaderboard_is_live() -> None:
    assert parse_definition(quiz(GOOD[0]), "quiz.toml").leaderboard == "live"


def test_every_problem_of_every_kind_at_once() -> None:
    problems = problems_of(
        quiz(
            {"kind": "quiz", "text": "x", "answer": 0},
            {"kind": "true_false", "text": "tf", "answer": 0, "choices": ["a", "b", "c"]},
            {"kind": "multiple", "text": "m", "choices": list("abcdefghi"), "answers": []},
            {"kind": "multiple", "text": "m", "choices": ["a", "b"], "answers": [0, 0]},
            {"kind": "multiple", "text": "m", "choices": ["a", "b"], "answers": [2]},
            {"kind": "type_answer", "text": "t", "accepted": []},
            {"kind": "type_answer", "text": "t", "accepted": ["ok", "  ", "x" * 101], "choices": ["a", "b"]},
            {"kind": "type_answer", "text": "t", "accepted": [f"a{i}" for i in range(21)]},
            {"kind": "slider", "text": "s", "min": 0, "max": 10, "step": 0, "answer": 3, "tolerance": -1},
            {"kind": "slider", "text": "s", "min": 0, "max": 10, "step": 0.5, "answer": 3.25},
            {"kind": "slider", "text": "s", "min": 0, "max": 10, "step": 1, "answer": 11},
            {"kind": "slider", "text": "s", "min": 5, "max": 5, "step": 1, "answer": 5},
            {"kind": "slider", "text": "s", "min": "0", "max": 10, "step": 1},
            {"kind": "poll", "text": "p", "choices": ["a"], "answer": 0},
            {"text": "e", "choices": ["a", "b"], "answer": 0, "explanation": "x" * 501},
            leaderboard="sometimes",
        )
    )
    assert set(problems) == {
        "leaderboard",
        "questions[0].kind",
        "questions[1].answer",
        "questions[1].choices",
        "questions[2].choices",
        "questions[2].answers",
        "questions[3].answers",
        "questions[4].answers",
        "questions[5].accepted",
        "questions[6].accepted",
        "questions[6].choices",
        "questions[7].accepted",
        "questions[8].step",
        "questions[8].tolerance",
        "questions[9].answer",
        "questions[10].answer",
        "questions[11].max",
        "questions[12].min",
        "questions[12].answer",
        "questions[13].choices",
        "questions[13].answer",
        "questions[14].explanation",
    }
    assert "did you mean" in problems["questions[6].choices"] or "unknown key" in problems["questions[6].choices"]
    assert "on a step" in problems["questions[9].answer"]
    assert "between" in problems["questions[10].answer"]
    assert "unknown key" in problems["questions[13].answer"]
    assert problems["questions[5].accepted"].startswith("must have 1 to 20")
    assert "answer [1]" in problems["questions[6].accepted"]
