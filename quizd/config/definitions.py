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
from collections.abc import Iterable, Mapping
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
from quizd.game.definitions import Kind, Question, QuizDefinition, Slider
from quizd.game.kinds import MAX_TEXT, exact, normalise_text, plain

MAX_QUESTIONS = 500
MIN_CHOICES, MAX_CHOICES = 2, 6
MAX_MULTIPLE_CHOICES = 8
MAX_ACCEPTED = 20
MAX_EXPLANATION = 500
#: The largest slider number: exact as a float, so a TOML value means what it says.
MAX_SLIDER = 1e12

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


def _choices_check(value: tuple[str, ...], most: int = MAX_CHOICES) -> str | None:
    if not MIN_CHOICES <= len(value) <= most:
        return f"must have {MIN_CHOICES} to {most} choices, got {len(value)}"
    empty = [i for i, choice in enumerate(value) if not choice.strip()]
    if empty:
        return f"choice [{empty[0]}] must not be empty"
    return None


def _multiple_choices_check(value: tuple[str, ...]) -> str | None:
    return _choices_check(value, MAX_MULTIPLE_CHOICES)


def _true_false_choices_check(value: tuple[str, ...]) -> str | None:
    if len(value) != 2:
        return f"must have 2 choices (true, false), got {len(value)}"
    return _choices_check(value)


def _answers_check(value: tuple[int, ...]) -> str | None:
    if not value:
        return "must name at least one correct choice"
    if len(set(value)) != len(value):
        return "must not name a choice twice"
    return None


def _accepted_check(value: tuple[str, ...]) -> str | None:
    if not 1 <= len(value) <= MAX_ACCEPTED:
        return f"must have 1 to {MAX_ACCEPTED} answers, got {len(value)}"
    for i, text in enumerate(value):
        if not normalise_text(text):
            return f"answer [{i}] must not be empty"
        if len(text) > MAX_TEXT:
            return f"answer [{i}] must have at most {MAX_TEXT} characters"
    return None


def _explanation_check(value: str) -> str | None:
    if len(value) > MAX_EXPLANATION:
        return f"must have at most {MAX_EXPLANATION} characters, got {len(value)}"
    return _non_empty(value)


def _slider_number(value: float) -> str | None:
    return None if abs(value) <= MAX_SLIDER else f"must be between {-MAX_SLIDER:g} and {MAX_SLIDER:g}"


def _positive(value: float) -> str | None:
    return _slider_number(value) or (None if value > 0 else f"must be greater than 0, got {value}")


def _not_negative(value: float) -> str | None:
    return _slider_number(value) or (None if value >= 0 else f"must be 0 or more, got {value}")


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
    "leaderboard": _Key(str, _game_default("leaderboard"), one_of("live", "reveal", "end")),
}

# ``None`` default = inherit the quiz-level value.
QUESTION_KEYS: dict[str, _Key] = {
    "text": _Key(str, check=_non_empty),
    "choices": _Key(tuple[str, ...], check=_choices_check),
    "answer": _Key(int),  # range depends on choices: see _parse_question
    "time_limit_ms": _Key(int, None, _TIME_LIMIT),
    "points": _Key(int, None, _POINTS),
    "kind": _Key(str, Kind.SINGLE.value, one_of(*(kind.value for kind in Kind))),
    "explanation": _Key(str, None, _explanation_check),
}

#: The keys of each question kind (wire contract section 3), replacing ``choices`` and
#: ``answer`` of ``QUESTION_KEYS`` (whose other keys every kind has).
_CHOICES = _Key(tuple[str, ...], check=_choices_check)
KIND_KEYS: dict[Kind, dict[str, _Key]] = {
    Kind.SINGLE: {"choices": _CHOICES, "answer": _Key(int)},
    Kind.TRUE_FALSE: {
        "choices": _Key(tuple[str, ...], ("True", "False"), _true_false_choices_check),
        "answer": _Key(bool),
    },
    Kind.MULTIPLE: {
        "choices": _Key(tuple[str, ...], check=_multiple_choices_check),
        "answers": _Key(tuple[int, ...], check=_answers_check),  # ranges: see _kind_problems
    },
    Kind.TYPE_ANSWER: {
        "accepted": _Key(tuple[str, ...], check=_accepted_check),
        "typo_tolerance": _Key(bool, False),
    },
    Kind.SLIDER: {
        "min": _Key(float, check=_slider_number),
        "max": _Key(float, check=_slider_number),
        "step": _Key(float, check=_positive),
        "answer": _Key(float, check=_slider_number),  # on a step in [min, max]: _kind_problems
        "tolerance": _Key(float, 0.0, _not_negative),
    },
    Kind.POLL: {"choices": _CHOICES},
}
_ALL_KIND_KEYS = tuple({key for keys in KIND_KEYS.values() for key in keys})


def _read_only(definitions: Mapping[str, QuizDefinition]) -> Mapping[str, QuizDefinition]:
    return types.MappingProxyType(dict(definitions))


def _problem_tuple(problems: Iterable[Problem]) -> tuple[Problem, ...]:
    return tuple(problems)


@attrs.frozen
class DefinitionSet:
    """The quizzes that loaded, by id, and the problems of those that did not."""

    definitions: Mapping[str, QuizDefinition] = attrs.field(converter=_read_only)
    problems: tuple[Problem, ...] = attrs.field(default=(), converter=_problem_tuple)


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
        leaderboard=quiz["leaderboard"],
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
    definition: ``parse_definition`` of it gives the same definition back, every
    question kind's keys and the explanation included (the editor edits this).
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
        "leaderboard": definition.leaderboard,
        "questions": [_question_document(q) for q in definition.questions],
    }


def _question_document(q: Question) -> dict[str, Any]:
    """One question as a definition file's table: the keys every kind has, its kind's
    own keys (``KIND_KEYS``) and the explanation when it has one.  A ``single`` question
    has no ``kind`` key, as in a v1 file, so its table keeps the v1 shape."""
    doc: dict[str, Any] = {"text": q.text}
    if q.kind != Kind.SINGLE:
        doc["kind"] = q.kind.value
    if q.kind in (Kind.SINGLE, Kind.POLL, Kind.MULTIPLE, Kind.TRUE_FALSE):
        doc["choices"] = list(q.choices)
    if q.kind == Kind.SINGLE:
        doc["answer"] = q.answer
    elif q.kind == Kind.TRUE_FALSE:
        doc["answer"] = q.answer == 0  # choice 0 is true
    elif q.kind == Kind.MULTIPLE:
        doc["answers"] = list(q.answers)
    elif q.kind == Kind.TYPE_ANSWER:
        doc["accepted"] = list(q.accepted)
        doc["typo_tolerance"] = q.typo_tolerance
    elif q.kind == Kind.SLIDER and q.slider is not None:
        numbers = {
            "min": q.slider.min,
            "max": q.slider.max,
            "step": q.slider.step,
            "answer": q.slider.answer,
            "tolerance": q.slider.tolerance,
        }
        doc.update({key: plain(exact(value)) for key, value in numbers.items()})
    doc.update({"time_limit_ms": q.time_limit_ms, "points": q.points})
    if q.explanation is not None:
        doc["explanation"] = q.explanation
    return doc


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

    def locate(key: str) -> str:
        return f"{prefix}{key}"

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


def _parse_questions(raw: Any, quiz: Mapping[str, Any], source: str, problems: list[Problem]) -> tuple[Question, ...]:
    """Check the ``[[questions]]`` array as a whole, then each question."""
    if raw is None or raw == []:
        problems.append(Problem(source, "questions", "at least one [[questions]] table is required"))
        return ()
    if not isinstance(raw, list):
        problems.append(Problem(source, "questions", f"expected an array of tables, got {describe(raw)}"))
        return ()
    if len(raw) > MAX_QUESTIONS:
        problems.append(Problem(source, "questions", f"at most {MAX_QUESTIONS} questions, got {len(raw)}"))
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
    kind = _question_kind(raw)
    common = {key: rule for key, rule in QUESTION_KEYS.items() if key not in ("choices", "answer")}
    if kind is None:  # a bad kind: check what every kind has, and report the kind
        spec = common
        q = _parse_table(raw, spec, source, f"{location}.", problems, extra_known=_ALL_KIND_KEYS)
    else:
        spec = {"text": common["text"], **KIND_KEYS[kind], **common}
        q = _parse_table(raw, spec, source, f"{location}.", problems)
        problems.extend(Problem(source, f"{location}.{key}", msg) for key, msg in _kind_problems(kind, q))
    if len(problems) > before or kind is None:
        return None
    return Question(
        text=q["text"],
        choices=q.get("choices", ()),
        answer=_correct_choice(kind, q),
        time_limit_ms=_inherited(q, quiz, "time_limit_ms"),
        points=_inherited(q, quiz, "points"),
        kind=kind,
        answers=tuple(sorted(q.get("answers", ()))),
        accepted=q.get("accepted", ()),
        typo_tolerance=q.get("typo_tolerance", False),
        slider=Slider(q["min"], q["max"], q["step"], q["answer"], q["tolerance"]) if kind == Kind.SLIDER else None,
        explanation=q["explanation"],
    )


def _question_kind(raw: Mapping[str, Any]) -> Kind | None:
    """The question's kind (``single`` when the key is missing); None when it is not one
    (the table check reports it)."""
    value = raw.get("kind", Kind.SINGLE.value)
    return Kind(value) if value in {kind.value for kind in Kind} else None


def _correct_choice(kind: Kind, q: Mapping[str, Any]) -> int | None:
    """The correct index of a ``single`` or ``true_false`` (true is choice 0)."""
    if kind == Kind.SINGLE:
        return int(q["answer"])
    if kind == Kind.TRUE_FALSE:
        return 0 if q["answer"] else 1
    return None


def _kind_problems(kind: Kind, q: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The checks across keys of one kind, for the keys that passed their own: (key, message)."""
    out: list[tuple[str, str]] = []
    choices = q.get("choices")
    if kind == Kind.SINGLE and "answer" in q and choices is not None and not 0 <= q["answer"] < len(choices):
        out.append(("answer", f"must be an index into choices (0 to {len(choices) - 1}), got {q['answer']}"))
    if kind == Kind.MULTIPLE and "answers" in q and choices is not None:
        bad = [a for a in q["answers"] if not 0 <= a < len(choices)]
        if bad:
            out.append(("answers", f"must be indexes into choices (0 to {len(choices) - 1}), got {bad[0]}"))
    if kind == Kind.SLIDER and all(key in q for key in ("min", "max", "step")):
        low, high, step = exact(q["min"]), exact(q["max"]), exact(q["step"])
        if low >= high:
            out.append(("max", f"must be greater than min ({plain(low)}), got {plain(high)}"))
        elif "answer" in q:
            answer = exact(q["answer"])
            if not low <= answer <= high:
                out.append(("answer", f"must be between min and max ({plain(low)} to {plain(high)})"))
            elif ((answer - low) / step).denominator != 1:
                out.append(("answer", f"must be on a step of {plain(step)} from min ({plain(low)})"))
    return out


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
