"""What a ``quizd-load`` player answers: the ``answer`` payload for every question kind.

The server never sends a question's correct answer before it closes, so the load
generator is told them: ``--answer-key`` (the correct choice of each ``single``
question, as before question kinds) or ``--answers FILE``, a JSON file with the correct
*answer echo* of each question index (protocol section 16.1: ``{"choice": 1}``,
``{"choices": [0, 2]}``, ``{"text": "Canberra"}``, ``{"value": 1969}``; ``null`` for a
poll or a question whose answer is not known).  ``scripts/bench`` writes that file next
to the quiz definitions it generates.

``pick_answer`` reads a ``question`` frame's ``kind`` and fields and builds the answer
fields: right with the configured share when the answer is known, wrong otherwise (a
wrong answer is always one the server judges wrong *and* accepts: in range, on a step,
a non-empty set); without a usable key it guesses.  It is a pure function of the frame,
the key, the share and the player's ``random.Random``, so it is unit-testable and the
worker stays a loop of sockets.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from random import Random

import attrs

#: A JSON number as the wire carries it.
Number = int | float
#: One answer echo: exactly one of ``choice``, ``choices``, ``text`` or ``value``.
Echo = Mapping[str, object]
#: The correct echo of each question index (absent or ``None``: not known, or a poll).
AnswerKey = Mapping[int, Echo | None]


class Kind(StrEnum):
    """The question kinds of protocol section 16.1 (their wire spellings)."""

    SINGLE = "single"
    TRUE_FALSE = "true_false"
    MULTIPLE = "multiple"
    TYPE_ANSWER = "type_answer"
    SLIDER = "slider"
    POLL = "poll"


#: The answer field each kind takes.
FIELD: dict[Kind, str] = {
    Kind.SINGLE: "choice",
    Kind.TRUE_FALSE: "choice",
    Kind.POLL: "choice",
    Kind.MULTIPLE: "choices",
    Kind.TYPE_ANSWER: "text",
    Kind.SLIDER: "value",
}
#: A question frame without ``kind`` is a v1 (single-choice) question.
DEFAULT_KIND = Kind.SINGLE
#: A typed answer's longest length when the frame does not say (protocol 16.1).
MAX_TEXT = 100


@attrs.frozen
class Picked:
    """The answer a player sends: its kind, its answer fields and what it aimed at.

    ``aimed`` is True for an answer meant to be right, False for one meant to be wrong
    and None for a guess (no usable key) or a poll vote (never right or wrong).
    """

    kind: Kind
    fields: dict[str, object]
    aimed: bool | None


class AnswersError(ValueError):
    """An answers file or key that cannot be used (a wrong shape, with its place)."""


# ---------------------------------------------------------------------- the key
def _check_echo(where: str, echo: object) -> Echo | None:
    """One echo of an answers file, checked: one answer field of the right JSON type."""
    if echo is None:
        return None
    if not isinstance(echo, dict) or len(echo) != 1:
        raise AnswersError(f"{where}: an answer echo is an object with one of choice, choices, text, value")
    ((field, value),) = echo.items()
    ok = {
        "choice": isinstance(value, int) and not isinstance(value, bool) and value >= 0,
        "choices": isinstance(value, list)
        and bool(value)
        and all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in value),
        "text": isinstance(value, str) and bool(value.strip()),
        "value": isinstance(value, (int, float)) and not isinstance(value, bool),
    }.get(field)
    if not ok:
        raise AnswersError(f"{where}: {field!r} with {value!r} is not an answer echo")
    return {field: value}


def parse_answers(data: object) -> dict[int, Echo | None]:
    """An answers document: a list (position = question index) or an object keyed by index."""
    if isinstance(data, list):
        items = list(enumerate(data))
    elif isinstance(data, dict):
        items = []
        for key, echo in data.items():
            if not (isinstance(key, str) and key.isdigit()):
                raise AnswersError(f"key {key!r}: a question index (0, 1, ...)")
            items.append((int(key), echo))
    else:
        raise AnswersError("an answers file is a JSON list or an object keyed by question index")
    return {index: _check_echo(f"question {index}", echo) for index, echo in items}


def load_answers(path: Path) -> dict[int, Echo | None]:
    """``--answers FILE``, read and checked."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise AnswersError(f"{path}: {exc}") from None
    try:
        return parse_answers(data)
    except AnswersError as exc:
        raise AnswersError(f"{path}: {exc}") from None


def key_from_choices(choices: list[int]) -> dict[int, Echo | None]:
    """``--answer-key 0,2,1``: the correct choice of each (single-choice) question."""
    return {index: {"choice": choice} for index, choice in enumerate(choices)}


# ---------------------------------------------------------------------- the answer
def kind_of(question: Mapping[str, object]) -> Kind:
    """The frame's kind; an unknown spelling is played as a single choice (as v1 clients do)."""
    try:
        return Kind(str(question.get("kind", DEFAULT_KIND)))
    except ValueError:
        return DEFAULT_KIND


def pick_answer(question: Mapping[str, object], right: Echo | None, share: float, rng: Random) -> Picked:
    """The answer fields for one ``question`` frame: right with probability ``share``.

    ``right`` is the question's correct echo; one whose field is not the kind's (a key
    written for another quiz) counts as unknown, and the player guesses.
    """
    kind = kind_of(question)
    field = FIELD[kind]
    if right is None or field not in right or kind is Kind.POLL:
        return Picked(kind, {field: _guess(kind, question, rng)}, None)
    answer = right[field]
    if kind in (Kind.SINGLE, Kind.TRUE_FALSE):
        return _pick_choice(kind, question, answer, share, rng)
    if rng.random() < share:
        return Picked(kind, {field: answer}, True)
    return Picked(kind, {field: _wrong(kind, question, answer, rng)}, False)


def _pick_choice(kind: Kind, question: Mapping[str, object], answer: object, share: float, rng: Random) -> Picked:
    """A single or true/false choice; draws from ``rng`` exactly as quizd-load always has
    (one draw for right or wrong, one for the wrong choice), so a seed plays as before."""
    n = len(_list(question, "choices"))
    assert isinstance(answer, int)
    if rng.random() < share or n < 2:
        return Picked(kind, {"choice": answer}, True)
    choice = rng.randrange(n - 1)
    if choice >= answer:
        choice += 1
    return Picked(kind, {"choice": choice}, False)


def _wrong(kind: Kind, question: Mapping[str, object], answer: object, rng: Random) -> object:
    """A wrong answer the server still accepts."""
    if kind is Kind.MULTIPLE:
        assert isinstance(answer, list)
        n = len(_list(question, "choices"))
        picked = set(answer)
        flip = rng.randrange(n)
        picked ^= {flip}
        if not picked:  # the only right choice was dropped: pick another one instead
            other = rng.randrange(n - 1)
            picked = {other + 1 if other >= flip else other}
        return sorted(picked)
    if kind is Kind.TYPE_ANSWER:
        limit = _int(question, "maxLength", MAX_TEXT)
        return ("not " + str(answer))[:limit]
    if kind is Kind.SLIDER:
        assert isinstance(answer, (int, float))
        low, high = _dec(question["min"]), _dec(question["max"])
        exact = _dec(answer)
        return _plain(high if exact - low < high - exact else low)  # the far end of the scale
    raise AssertionError(kind)


def _guess(kind: Kind, question: Mapping[str, object], rng: Random) -> object:
    """An answer without a key (or a poll vote): any valid one."""
    if kind is Kind.MULTIPLE:
        n = len(_list(question, "choices"))
        return sorted(rng.sample(range(n), rng.randint(1, n)))
    if kind is Kind.TYPE_ANSWER:
        return f"guess {rng.randrange(1000)}"
    if kind is Kind.SLIDER:
        low, high, step = _dec(question["min"]), _dec(question["max"]), _dec(question["step"])
        steps = int((high - low) / step)
        return _plain(low + step * rng.randint(0, steps))
    return rng.randrange(len(_list(question, "choices")))


def _list(question: Mapping[str, object], key: str) -> list[object]:
    value = question.get(key)
    return value if isinstance(value, list) else []


def _int(question: Mapping[str, object], key: str, default: int) -> int:
    value = question.get(key)
    return value if isinstance(value, int) else default


def _dec(number: object) -> Decimal:
    """A JSON number as the decimal it was written as (``0.1`` is one tenth)."""
    assert isinstance(number, (int, float))
    return Decimal(number) if isinstance(number, int) else Decimal(repr(number))


def _plain(number: Decimal) -> Number:
    """A decimal for JSON: an integer when it is whole, else the float that prints as it."""
    return int(number) if number == number.to_integral_value() else float(number)
