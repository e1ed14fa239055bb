"""Parse quiz definition files into ``QuizDefinition`` values.

A quiz file is written by a person, often one who is not the operator, so every
problem in it is reported at once with the key path (``questions[2].answer``), and a
broken file never takes the other quizzes down with it: ``load_definitions`` skips
it and reports why.

Everything here is plain synchronous file I/O; the node calls ``load_definitions``
from a worker thread (at start and on SIGHUP).
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import orjson

from quizd.config.loader import (
    Check,
    ConfigError,
    Problem,
    between,
    matches,
    one_of,
    parse_toml,
    read_toml,
    structure_value,
    unknown_key_problems,
)
from quizd.convert import describe
from quizd.game.definitions import Question, QuizDefinition

MAX_QUESTIONS = 500
MIN_CHOICES, MAX_CHOICES = 2, 6

_REQUIRED = object()
# The "file" of the problems of a definition sent over the data API.
BODY = "body"


@attrs.frozen
class _Key:
    """How one key of a quiz file is typed, defaulted and checked."""

    type: Any
    default: Any = _REQUIRED
    check: Check | None = None


def _non_empty(value: str) -> str | None:
    return None if value.strip() else "must not be empty"


def _choices_check(value: tuple[str, ...]) -> str | None:
    if not MIN_CHOICES <= len(value) <= MAX_CHOICES:
        return f"must have {MIN_CHOICES} to {MAX_CHOICES} choices, got {len(value)}"
    empty = [i for i, choice in enumerate(value) if not choice.strip()]
    if empty:
        return f"choice [{empty[0]}] must not be empty"
    return None


def _game_default(name: str) -> Any:
    """The default the game's ``QuizDefinition`` declares for one of its fields.

    The data class is the one place these defaults are written; the file format
    takes them from it rather than repeating the numbers.
    """
    return attrs.fields_dict(QuizDefinition)[name].default


_TIME_LIMIT = between(1000, 600_000)
_POINTS = between(0, 100_000)

# The one table of quiz-level keys: type, default and range.  ``time_limit_ms`` and
# ``points`` are per question in the game (``Question`` has no defaults); a quiz file
# sets them for all its questions, and these are their defaults.
QUIZ_KEYS: dict[str, _Key] = {
    "id": _Key(str, check=matches(r"[a-z0-9-]{1,64}", "1 to 64 of a-z 0-9 -")),
    "title": _Key(str, check=_non_empty),
    "reveal": _Key(str, _game_default("reveal"), one_of("on_answer", "on_close")),
    "time_limit_ms": _Key(int, 20_000, _TIME_LIMIT),
    "reveal_ms": _Key(int, _game_default("reveal_ms"), between(0, 600_000)),
    "countdown_ms": _Key(int, _game_default("countdown_ms"), between(0, 600_000)),
    "points": _Key(int, 1000, _POINTS),
    "streak_bonus": _Key(int, _game_default("streak_bonus"), between(0, 100_000)),
    "allow_late_join": _Key(bool, _game_default("allow_late_join")),
    "close_when_all_answered": _Key(bool, _game_default("close_when_all_answered")),
}

# ``None`` default = inherit the quiz-level value.
QUESTION_KEYS: dict[str, _Key] = {
    "text": _Key(str, check=_non_empty),
    "choices": _Key(tuple[str, ...], check=_choices_check),
    "answer": _Key(int),  # range depends on choices: see _parse_question
    "time_limit_ms": _Key(int, None, _TIME_LIMIT),
    "points": _Key(int, None, _POINTS),
}


@attrs.frozen
class DefinitionSet:
    """The quizzes that loaded, by id, and the problems of those that did not."""

    definitions: Mapping[str, QuizDefinition] = attrs.field(
        converter=lambda d: types.MappingProxyType(dict(d))
    )
    problems: tuple[Problem, ...] = attrs.field(default=(), converter=tuple)


def parse_definition(doc: Mapping[str, Any], source: str) -> QuizDefinition:
    """Build a ``QuizDefinition`` from a parsed TOML document or raise ``ConfigError``.

    ``source`` is the file name used in problems.  Questions inherit ``time_limit_ms``
    and ``points`` from the quiz unless they override them.
    """
    problems: list[Problem] = []
    quiz = _parse_table(doc, QUIZ_KEYS, source, "", problems, extra_known=("questions",))
    questions = _parse_questions(doc.get("questions"), quiz, source, problems)
    if problems:
        raise ConfigError(problems)
    return QuizDefinition(
        id=quiz["id"],
        title=quiz["title"],
        questions=questions,
        reveal=quiz["reveal"],
        reveal_ms=quiz["reveal_ms"],
        countdown_ms=quiz["countdown_ms"],
        streak_bonus=quiz["streak_bonus"],
        allow_late_join=quiz["allow_late_join"],
        close_when_all_answered=quiz["close_when_all_answered"],
    )


def parse_definition_body(data: bytes, toml: bool) -> QuizDefinition:
    """A definition sent over the data API: TOML, or JSON with the same keys.

    The same checks as a file (``parse_definition``), so a definition is valid over the
    API exactly when it would be valid as a file; every problem is raised at once in a
    ``ConfigError`` whose problems carry the key path (``questions[2].answer``) as their
    ``location`` and ``"body"`` as their file.
    """
    if toml:
        doc, problems = parse_toml(data, BODY)
        if doc is None:
            raise ConfigError(problems)
    else:
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise ConfigError([Problem(BODY, "", f"not JSON: {exc}")]) from None
        if not isinstance(doc, dict):
            raise ConfigError([Problem(BODY, "", f"expected an object, got {describe(doc)}")])
    return parse_definition(doc, BODY)


def definition_document(definition: QuizDefinition) -> dict[str, Any]:
    """A definition as the keys of a definition file (every default filled in).

    What ``GET /api/definitions/{id}`` shows and what the store keeps of an API
    definition: ``parse_definition`` of it gives the same definition back.
    """
    return {
        "id": definition.id,
        "title": definition.title,
        "reveal": definition.reveal,
        "reveal_ms": definition.reveal_ms,
        "countdown_ms": definition.countdown_ms,
        "streak_bonus": definition.streak_bonus,
        "allow_late_join": definition.allow_late_join,
        "close_when_all_answered": definition.close_when_all_answered,
        "questions": [
            {"text": q.text, "choices": list(q.choices), "answer": q.answer,
             "time_limit_ms": q.time_limit_ms, "points": q.points}
            for q in definition.questions
        ],
    }


def _parse_table(
    raw: Mapping[str, Any],
    spec: Mapping[str, _Key],
    source: str,
    prefix: str,
    problems: list[Problem],
    extra_known: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Type-check, default and range-check every key of one table.

    Returns the values (defaults where a key was missing or bad).  A key that is
    missing-and-required or failed its type check is left out of the result, so
    callers test ``key in result`` before cross-key checks.
    """
    locate: Callable[[str], str] = lambda key: f"{prefix}{key}"
    problems.extend(unknown_key_problems(raw, [*spec, *extra_known], source, locate))
    out: dict[str, Any] = {}
    for key, rule in spec.items():
        if key not in raw:
            if rule.default is _REQUIRED:
                problems.append(Problem(source, locate(key), "is required"))
            else:
                out[key] = rule.default
            continue
        value, errors = structure_value(raw[key], rule.type)
        if errors:
            problems.extend(Problem(source, locate(key) + sub, msg) for sub, msg in errors)
            continue
        message = rule.check(value) if rule.check else None
        if message:
            problems.append(Problem(source, locate(key), message))
            continue
        out[key] = value
    return out


def _parse_questions(
    raw: Any, quiz: Mapping[str, Any], source: str, problems: list[Problem]
) -> tuple[Question, ...]:
    """Check the ``[[questions]]`` array as a whole, then each question."""
    if raw is None or raw == []:
        problems.append(Problem(source, "questions", "at least one [[questions]] table is required"))
        return ()
    if not isinstance(raw, list):
        problems.append(
            Problem(source, "questions", f"expected an array of tables, got {describe(raw)}")
        )
        return ()
    if len(raw) > MAX_QUESTIONS:
        problems.append(
            Problem(source, "questions", f"at most {MAX_QUESTIONS} questions, got {len(raw)}")
        )
    questions = []
    for index, item in enumerate(raw):
        question = _parse_question(item, f"questions[{index}]", quiz, source, problems)
        if question is not None:
            questions.append(question)
    return tuple(questions)


def _parse_question(
    raw: Any, location: str, quiz: Mapping[str, Any], source: str, problems: list[Problem]
) -> Question | None:
    if not isinstance(raw, dict):
        problems.append(Problem(source, location, f"expected a table, got {describe(raw)}"))
        return None
    before = len(problems)
    q = _parse_table(raw, QUESTION_KEYS, source, f"{location}.", problems)
    if "answer" in q and "choices" in q and not 0 <= q["answer"] < len(q["choices"]):
        problems.append(
            Problem(
                source,
                f"{location}.answer",
                f"must be an index into choices (0 to {len(q['choices']) - 1}), got {q['answer']}",
            )
        )
    if len(problems) > before:
        return None
    return Question(
        text=q["text"],
        choices=q["choices"],
        answer=q["answer"],
        time_limit_ms=_inherited(q, quiz, "time_limit_ms"),
        points=_inherited(q, quiz, "points"),
    )


def _inherited(question: Mapping[str, Any], quiz: Mapping[str, Any], key: str) -> int:
    """The question's own value, else the quiz's, else the table's default.

    The quiz may lack the key only when its value was bad; that problem is already
    reported and the definition will not load, but the question is still checked.
    """
    own = question[key]
    if own is not None:
        return int(own)
    return int(quiz.get(key, QUIZ_KEYS[key].default))


def load_definitions(directory: Path) -> DefinitionSet:
    """Load every ``*.toml`` in ``directory`` (sorted by name), skipping broken ones.

    A file that cannot be read or parsed, or whose id was already taken by an earlier
    file, is reported in ``problems`` and skipped; the others still load.  Hidden
    files (editor lock and swap files such as ``.#quiz.toml``) are ignored.
    """
    directory = Path(directory)
    if not directory.is_dir():
        reason = "does not exist" if not directory.exists() else "is not a directory"
        return DefinitionSet({}, (Problem(str(directory), "", f"definitions directory {reason}"),))

    definitions: dict[str, QuizDefinition] = {}
    origin: dict[str, Path] = {}
    problems: list[Problem] = []
    try:
        paths = sorted(directory.glob("*.toml"), key=lambda p: p.name)
    except OSError as exc:  # an unreadable directory: report it, never raise into a reload
        reason = exc.strerror or str(exc)
        return DefinitionSet({}, (Problem(str(directory), "", f"cannot list definitions directory: {reason}"),))
    for path in paths:
        if path.name.startswith("."):
            continue
        doc, read_problems = read_toml(path)
        if doc is None:
            problems.extend(read_problems)
            continue
        try:
            definition = parse_definition(doc, str(path))
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        if definition.id in definitions:
            problems.append(
                Problem(
                    str(path),
                    "id",
                    f"quiz id {definition.id!r} is already defined in "
                    f"{origin[definition.id].name}; this file is skipped",
                )
            )
            continue
        definitions[definition.id] = definition
        origin[definition.id] = path
    return DefinitionSet(definitions, tuple(problems))
