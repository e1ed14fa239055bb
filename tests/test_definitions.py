"""Quiz definition parsing and directory loading."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from quizd.config import ConfigError, DefinitionSet, Problem, load_definitions, parse_definition
from quizd.game.definitions import Kind, Question, QuizDefinition

SAMPLES = Path(__file__).resolve().parent.parent / "config" / "quizzes"

GOOD = """
id = "vocab-101"
title = "Everyday English 1"

[[questions]]
text = "Pick the synonym of 'rapid'"
choices = ["slow", "quick", "late", "calm"]
answer = 1

[[questions]]
text = "Pick the antonym of 'hot'"
choices = ["cold", "warm"]
answer = 0
time_limit_ms = 15000
points = 500
"""


def doc(**overrides: Any) -> dict[str, Any]:
    """A valid document with top-level keys replaced (None removes a key)."""
    base = tomllib.loads(GOOD)
    for key, value in overrides.items():
        if value is None:
            base.pop(key, None)
        else:
            base[key] = value
    return base


def question(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"text": "Q?", "choices": ["a", "b", "c"], "answer": 0}
    for key, value in overrides.items():
        if value is None:
            base.pop(key, None)
        else:
            base[key] = value
    return base


def problems_of(document: dict[str, Any]) -> list[Problem]:
    with pytest.raises(ConfigError) as info:
        parse_definition(document, "quiz.toml")
    return info.value.problems


def one_problem(document: dict[str, Any]) -> Problem:
    problems = problems_of(document)
    assert len(problems) == 1, problems
    assert problems[0].file == "quiz.toml"
    return problems[0]


# ------------------------------------------------------------------ parse_definition


def test_defaults_and_inheritance() -> None:
    quiz = parse_definition(doc(), "quiz.toml")
    assert quiz == QuizDefinition(
        id="vocab-101",
        title="Everyday English 1",
        questions=(
            Question(
                text="Pick the synonym of 'rapid'",
                choices=("slow", "quick", "late", "calm"),
                answer=1,
                time_limit_ms=20000,
                points=1000,
            ),
            Question(
                text="Pick the antonym of 'hot'",
                choices=("cold", "warm"),
                answer=0,
                time_limit_ms=15000,
                points=500,
            ),
        ),
        reveal="on_answer",
        reveal_ms=3000,
        countdown_ms=3000,
        streak_bonus=100,
        allow_late_join=True,
        close_when_all_answered=False,
    )
    assert quiz.question_count == 2


def test_quiz_level_values_are_read_and_inherited() -> None:
    quiz = parse_definition(
        doc(
            reveal="on_close",
            time_limit_ms=9000,
            reveal_ms=0,
            countdown_ms=600000,
            points=0,
            streak_bonus=0,
            allow_late_join=False,
            close_when_all_answered=True,
        ),
        "quiz.toml",
    )
    assert quiz.reveal == "on_close"
    assert (quiz.reveal_ms, quiz.countdown_ms, quiz.streak_bonus) == (0, 600000, 0)
    assert quiz.allow_late_join is False
    assert quiz.close_when_all_answered is True
    assert (quiz.questions[0].time_limit_ms, quiz.questions[0].points) == (9000, 0)
    assert (quiz.questions[1].time_limit_ms, quiz.questions[1].points) == (15000, 500)


@pytest.mark.parametrize("key", ["id", "title"])
def test_required_quiz_keys(key: str) -> None:
    problem = one_problem(doc(**{key: None}))
    assert problem.location == key
    assert problem.message == "is required"


@pytest.mark.parametrize("bad", ["Vocab", "has space", "", "a" * 65, "under_score"])
def test_bad_id(bad: str) -> None:
    assert one_problem(doc(id=bad)).location == "id"


@pytest.mark.parametrize("good", ["a", "a" * 64, "vocab-101", "0-9"])
def test_good_id(good: str) -> None:
    assert parse_definition(doc(id=good), "q.toml").id == good


@pytest.mark.parametrize("bad", ["", "   "])
def test_empty_title(bad: str) -> None:
    problem = one_problem(doc(title=bad))
    assert (problem.location, problem.message) == ("title", "must not be empty")


@pytest.mark.parametrize(
    ("key", "bad", "good"),
    [
        ("reveal", "sometimes", "on_close"),
        ("time_limit_ms", 999, 1000),
        ("time_limit_ms", 600001, 600000),
        ("reveal_ms", -1, 0),
        ("reveal_ms", 600001, 600000),
        ("countdown_ms", -1, 0),
        ("countdown_ms", 600001, 600000),
        ("points", -1, 0),
        ("points", 100001, 100000),
        ("streak_bonus", -1, 0),
        ("streak_bonus", 100001, 100000),
    ],
)
def test_quiz_ranges(key: str, bad: Any, good: Any) -> None:
    problem = one_problem(doc(**{key: bad}))
    assert problem.location == key
    assert problem.message.startswith("must ")
    parse_definition(doc(**{key: good}), "q.toml")


@pytest.mark.parametrize(
    ("key", "bad", "expect"),
    [
        ("id", 3, "expected a string, got an integer"),
        ("title", ["x"], "expected a string, got an array"),
        ("time_limit_ms", "20000", "expected an integer, got a string"),
        ("time_limit_ms", 20000.0, "expected an integer, got a number"),
        ("allow_late_join", "yes", "expected true or false, got a string"),
        ("close_when_all_answered", 1, "expected true or false, got an integer"),
    ],
)
def test_quiz_types(key: str, bad: Any, expect: str) -> None:
    problem = one_problem(doc(**{key: bad}))
    assert (problem.location, problem.message) == (key, expect)


def test_unknown_quiz_key_suggests() -> None:
    problem = one_problem(doc(revael="on_close"))
    assert problem.location == "revael"
    assert problem.message == "unknown key; did you mean 'reveal'?"


def test_unknown_question_key_suggests() -> None:
    problem = one_problem(doc(questions=[question(answr=1)]))
    assert problem.location == "questions[0].answr"
    assert "did you mean 'answer'?" in problem.message


# ------------------------------------------------------------------ questions


def test_questions_required() -> None:
    assert one_problem(doc(questions=None)).location == "questions"
    assert one_problem(doc(questions=[])).location == "questions"


def test_questions_must_be_array_of_tables() -> None:
    assert "expected an array" in one_problem(doc(questions="q")).message
    problem = one_problem(doc(questions=[question(), 3]))
    assert problem.location == "questions[1]"
    assert "expected a table" in problem.message


def test_at_most_500_questions() -> None:
    parse_definition(doc(questions=[question()] * 500), "q.toml")
    problem = one_problem(doc(questions=[question()] * 501))
    assert problem.location == "questions"
    assert "500" in problem.message


@pytest.mark.parametrize("key", ["text", "choices", "answer"])
def test_required_question_keys(key: str) -> None:
    problems = problems_of(doc(questions=[question(), question(**{key: None})]))
    assert [(p.location, p.message) for p in problems] == [(f"questions[1].{key}", "is required")]


@pytest.mark.parametrize("bad", ["", "  "])
def test_question_text_not_empty(bad: str) -> None:
    assert one_problem(doc(questions=[question(text=bad)])).location == "questions[0].text"


def test_question_text_must_be_string() -> None:
    problem = one_problem(doc(questions=[question(text=1)]))
    assert (problem.location, problem.message) == (
        "questions[0].text",
        "expected a string, got an integer",
    )


@pytest.mark.parametrize("n", [2, 6])
def test_choice_count_ok(n: int) -> None:
    choices = [f"c{i}" for i in range(n)]
    quiz = parse_definition(doc(questions=[question(choices=choices, answer=n - 1)]), "q.toml")
    assert quiz.questions[0].choices == tuple(choices)


@pytest.mark.parametrize("n", [0, 1, 7])
def test_choice_count_bad(n: int) -> None:
    choices = [f"c{i}" for i in range(n)]
    problem = one_problem(doc(questions=[question(choices=choices)]))
    assert problem.location == "questions[0].choices"
    assert "2 to 6" in problem.message


def test_choices_not_empty_strings() -> None:
    problem = one_problem(doc(questions=[question(choices=["a", " ", "c"])]))
    assert problem.location == "questions[0].choices"
    assert "[1]" in problem.message


def test_choices_type_errors() -> None:
    problem = one_problem(doc(questions=[question(choices=["a", 2, "c"])]))
    assert problem.location == "questions[0].choices[1]"
    assert problem.message == "expected a string, got an integer"
    problem = one_problem(doc(questions=[question(choices="abc")]))
    assert problem.location == "questions[0].choices"
    assert problem.message == "expected an array, got a string"


@pytest.mark.parametrize("bad", [-1, 3, 100])
def test_answer_must_index_choices(bad: int) -> None:
    problem = one_problem(doc(questions=[question(answer=bad)]))
    assert problem.location == "questions[0].answer"
    assert "0 to 2" in problem.message


@pytest.mark.parametrize("bad", [True, "1", 1.0])
def test_answer_must_be_integer(bad: Any) -> None:
    problem = one_problem(doc(questions=[question(answer=bad)]))
    assert problem.location == "questions[0].answer"
    assert problem.message.startswith("expected an integer")


def test_answer_not_checked_against_broken_choices() -> None:
    problems = problems_of(doc(questions=[question(choices=["only"], answer=5)]))
    assert [p.location for p in problems] == ["questions[0].choices"]


@pytest.mark.parametrize(
    ("key", "bad", "good"),
    [
        ("time_limit_ms", 999, 1000),
        ("time_limit_ms", 600001, 600000),
        ("points", -1, 0),
        ("points", 100001, 100000),
    ],
)
def test_question_override_ranges(key: str, bad: int, good: int) -> None:
    problem = one_problem(doc(questions=[question(**{key: bad})]))
    assert problem.location == f"questions[0].{key}"
    quiz = parse_definition(doc(questions=[question(**{key: good})]), "q.toml")
    assert getattr(quiz.questions[0], key) == good


def test_every_problem_reported_at_once() -> None:
    problems = problems_of(
        doc(
            id="Bad Id",
            title="",
            reveal="never",
            colour="red",
            questions=[
                question(),
                question(text="", choices=["a"], answer="x"),
                question(answer=9, points=-5),
            ],
        )
    )
    assert {p.location for p in problems} == {
        "id",
        "title",
        "reveal",
        "colour",
        "questions[1].text",
        "questions[1].choices",
        "questions[1].answer",
        "questions[2].answer",
        "questions[2].points",
    }
    assert str(ConfigError(problems)).count("\n") == len(problems) - 1


def test_problem_str() -> None:
    problem = one_problem(doc(questions=[question(answer=7)]))
    assert str(problem).startswith("quiz.toml: questions[0].answer: must be an index")


# ------------------------------------------------------------------ load_definitions


def write_quiz(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def quiz_text(quiz_id: str, title: str = "T") -> str:
    return f"""
id = "{quiz_id}"
title = "{title}"
[[questions]]
text = "Q"
choices = ["a", "b"]
answer = 0
"""


def test_load_samples() -> None:
    result = load_definitions(SAMPLES)
    assert result.problems == ()
    assert set(result.definitions) == {"vocab-101", "phrasal-verbs", "kinds"}
    vocab = result.definitions["vocab-101"]
    assert vocab.title == "Everyday English 1"
    assert vocab.reveal == "on_answer"
    assert vocab.question_count == 5
    assert all(len(q.choices) == 4 for q in vocab.questions)
    phrasal = result.definitions["phrasal-verbs"]
    assert phrasal.reveal == "on_close"
    assert phrasal.question_count == 5
    kinds = result.definitions["kinds"]
    assert {q.kind for q in kinds.questions} == set(Kind)
    assert kinds.leaderboard == "reveal"


def test_broken_file_is_skipped_others_load(tmp_path: Path) -> None:
    write_quiz(tmp_path, "a.toml", quiz_text("alpha"))
    broken = write_quiz(tmp_path, "b.toml", 'id = "beta"\ntitle = \n')
    invalid = write_quiz(tmp_path, "c.toml", quiz_text("gamma").replace("answer = 0", "answer = 4"))
    write_quiz(tmp_path, "d.toml", quiz_text("delta"))
    write_quiz(tmp_path, "notes.txt", "not a quiz")
    result = load_definitions(tmp_path)
    assert set(result.definitions) == {"alpha", "delta"}
    assert [(p.file, p.location) for p in result.problems] == [
        (str(broken), "line 2"),
        (str(invalid), "questions[0].answer"),
    ]


def test_duplicate_id_second_file_skipped(tmp_path: Path) -> None:
    write_quiz(tmp_path, "1-first.toml", quiz_text("same", "First"))
    second = write_quiz(tmp_path, "2-second.toml", quiz_text("same", "Second"))
    result = load_definitions(tmp_path)
    assert result.definitions["same"].title == "First"
    (problem,) = result.problems
    assert (problem.file, problem.location) == (str(second), "id")
    assert "1-first.toml" in problem.message


def test_missing_directory_is_one_problem(tmp_path: Path) -> None:
    result = load_definitions(tmp_path / "missing")
    assert result.definitions == {}
    (problem,) = result.problems
    assert problem.file == str(tmp_path / "missing")
    assert "does not exist" in problem.message


def test_directory_that_is_a_file(tmp_path: Path) -> None:
    path = write_quiz(tmp_path, "x", "")
    (problem,) = load_definitions(path).problems
    assert "not a directory" in problem.message


def test_empty_directory(tmp_path: Path) -> None:
    assert load_definitions(tmp_path) == DefinitionSet({}, ())


def test_unreadable_entry_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "dir.toml").mkdir()
    write_quiz(tmp_path, "ok.toml", quiz_text("ok"))
    result = load_definitions(tmp_path)
    assert set(result.definitions) == {"ok"}
    (problem,) = result.problems
    assert problem.file == str(tmp_path / "dir.toml")


def test_non_utf8_file_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "latin.toml").write_bytes(b'id = "caf\xe9"\n')
    (problem,) = load_definitions(tmp_path).problems
    assert "UTF-8" in problem.message


def test_hidden_files_are_ignored(tmp_path: Path) -> None:
    write_quiz(tmp_path, ".#draft.toml", "garbage = = =")
    write_quiz(tmp_path, "ok.toml", quiz_text("ok"))
    result = load_definitions(tmp_path)
    assert result.problems == ()
    assert set(result.definitions) == {"ok"}


def test_definitions_mapping_is_read_only(tmp_path: Path) -> None:
    write_quiz(tmp_path, "ok.toml", quiz_text("ok"))
    result = load_definitions(tmp_path)
    with pytest.raises(TypeError):
        result.definitions["x"] = result.definitions["ok"]  # type: ignore[index]
