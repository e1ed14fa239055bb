"""The rules of each question kind (wire contract section 3), one class per kind.

``rules_for(question)`` picks a question's rules once; the game then asks them, without
knowing the kind, to check an answer (``key``: the normalised answer, or
``invalid_choice``), to judge it (``is_correct``, ``points``), to count it into the live
distribution (``count``) and to spell the kind's parts of ``question`` and
``question_closed``.  A normalised answer (a ``Key``) is what the safe-retry rule
compares and what the reveal counts: a choice, a set of choices, a normalised text or
a slider value as an exact number (an ``int`` when whole, else a ``Fraction``).

Slider numbers are compared exactly: a float from TOML or JSON is taken as the decimal
it was written as (``Fraction(Decimal(repr(x)))``), so ``0.1 + 0.2`` steps land on
``0.3`` and "on a step" never depends on binary rounding.  The slider counts in integers of
the scale's smallest decimal unit, which is the same exact arithmetic at a fraction of
the cost (``SliderRules``).
"""

from __future__ import annotations

import math
import unicodedata
from abc import ABC, abstractmethod
from collections import Counter
from decimal import Decimal
from fractions import Fraction
from typing import Any

from rapidfuzz.distance import DamerauLevenshtein

from quizd.game.definitions import Kind, Question, Slider
from quizd.protocol import errors as E
from quizd.protocol.errors import ProtocolError
from quizd.protocol.messages import Answer, Number

Payload = dict[str, Any]
#: A normalised answer: a choice, a set of choices, a normalised text or an exact value.
Key = int | frozenset[int] | str | Fraction

MAX_TEXT = 100  # code points of a typed answer
TYPO_MIN_LENGTH = 5  # code points an accepted answer needs before a typo is forgiven
TOP_TEXTS = 10  # the typed answers a reveal lists
HISTOGRAM_BINS = 10
#: Below this size every whole float is exactly the integer its shortest repr writes.
EXACT_FLOAT_INTEGERS = 2**53


def normalise_text(text: str) -> str:
    """A typed answer as it is compared: NFKC, casefolded, trimmed, every run of white
    space one space.  NFKC runs again after casefolding, whose output need not be
    NFKC, so that normalising twice changes nothing."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return " ".join(folded.split())


def exact(number: Number) -> Fraction:
    """A JSON/TOML number as the decimal it was written as."""
    if isinstance(number, int):
        return Fraction(number)
    return Fraction(Decimal(repr(number)))


def plain(number: Fraction) -> Number:
    """An exact number for JSON: an integer when it is one, else the nearest float."""
    return number.numerator if number.denominator == 1 else float(number)


def _invalid(message: str) -> ProtocolError:
    return ProtocolError(E.INVALID_CHOICE, message)


class KindRules(ABC):
    """One question's rules; subclasses fill in what their kind does differently."""

    kind: Kind
    scored = True

    def __init__(self, question: Question) -> None:
        self.question = question

    # ------------------------------------------------------------------ answers
    @abstractmethod
    def key(self, answer: Answer) -> Key:
        """The normalised answer, or ``invalid_choice`` if it does not fit the question."""
        raise NotImplementedError

    def same(self, first: Answer, second: Answer) -> bool:
        """The safe-retry rule: ``second`` repeats ``first`` (compared normalised)."""
        try:
            return self.key(first) == self.key(second)
        except ProtocolError:
            return False

    @abstractmethod
    def is_correct(self, key: Key) -> bool | None:
        """Whether the answer is right; None for an unscored kind (a poll)."""
        raise NotImplementedError

    def points(self, key: Key, speed: int) -> int:
        """The points before any streak bonus, ``speed`` being the time-scaled points of
        a correct answer: all of it when correct, none otherwise (``multiple`` differs)."""
        return speed if self.is_correct(key) else 0

    @abstractmethod
    def count(self, distribution: list[int], key: Key) -> None:
        """Count one answer into the question's live ``distribution`` (choice kinds; a
        typed or slider answer is counted by the reveal, from the answers given)."""

    # ------------------------------------------------------------------ payloads
    def question_fields(self) -> Payload:
        """What this kind adds to the ``question`` payload (``kind`` is always there)."""
        return {}

    @abstractmethod
    def closed_fields(self, distribution: list[int], keys: list[Key]) -> Payload:
        """This kind's part of ``question_closed``, from the live ``distribution`` and the
        normalised answers given."""
        raise NotImplementedError

    def _only(self, answer: Answer, field: str) -> None:
        """The answer sends ``field`` and no other answer field (a wrong shape otherwise).
        Counted from the attributes: this runs on every answer, and building the echo
        (a dict, a list) to read its keys cost more than the rest of a choice's check."""
        sent = (
            (answer.choice is not None)
            + (answer.choices is not None)
            + (answer.text is not None)
            + (answer.value is not None)
        )
        if sent != 1 or getattr(answer, field) is None:
            raise _invalid(f"a {self.kind} question takes '{field}' and no other answer field")

    def _choice(self, answer: Answer) -> int:
        """A ``choice`` and nothing else, within the question's choices."""
        self._only(answer, "choice")
        choice = answer.choice
        assert choice is not None
        if isinstance(choice, bool) or not 0 <= choice < len(self.question.choices):
            raise _invalid(f"choice must be between 0 and {len(self.question.choices) - 1}")
        return choice


class SingleRules(KindRules):
    kind = Kind.SINGLE

    def key(self, answer: Answer) -> Key:
        return self._choice(answer)

    def is_correct(self, key: Key) -> bool | None:
        return key == self.question.answer

    def count(self, distribution: list[int], key: Key) -> None:
        assert isinstance(key, int)
        distribution[key] += 1

    def closed_fields(self, distribution: list[int], keys: list[Key]) -> Payload:
        return {"correctChoice": self.question.answer, "distribution": list(distribution)}


class TrueFalseRules(SingleRules):
    kind = Kind.TRUE_FALSE


class PollRules(SingleRules):
    kind = Kind.POLL
    scored = False

    def is_correct(self, key: Key) -> bool | None:
        return None

    def points(self, key: Key, speed: int) -> int:
        return 0

    def question_fields(self) -> Payload:
        return {"scored": False}

    def closed_fields(self, distribution: list[int], keys: list[Key]) -> Payload:
        return {"correctChoice": None, "distribution": list(distribution)}


class MultipleRules(KindRules):
    """Several correct choices; partial credit ``speed * max(0, hits - misses) //
    len(answers)``, and only the exact set is correct."""

    kind = Kind.MULTIPLE

    def __init__(self, question: Question) -> None:
        super().__init__(question)
        self.correct = frozenset(question.answers)

    def key(self, answer: Answer) -> Key:
        self._only(answer, "choices")
        picked = answer.choices
        assert picked is not None
        if not picked:
            raise _invalid("pick at least one choice")
        chosen = frozenset(picked)
        if len(chosen) != len(picked):
            raise _invalid("each choice may be picked once")
        if min(chosen) < 0 or max(chosen) >= len(self.question.choices):
            raise _invalid(f"every choice must be between 0 and {len(self.question.choices) - 1}")
        return chosen

    def is_correct(self, key: Key) -> bool | None:
        return key == self.correct

    def points(self, key: Key, speed: int) -> int:
        assert isinstance(key, frozenset)
        hits = len(key & self.correct)
        misses = len(key) - hits
        return speed * max(0, hits - misses) // len(self.correct)

    def count(self, distribution: list[int], key: Key) -> None:
        assert isinstance(key, frozenset)
        for choice in key:
            distribution[choice] += 1

    def question_fields(self) -> Payload:
        return {"pick": "many"}

    def closed_fields(self, distribution: list[int], keys: list[Key]) -> Payload:
        return {"correctChoices": sorted(self.correct), "distribution": list(distribution)}


class TypeAnswerRules(KindRules):
    """A typed answer, right when its normalised text is an accepted one (or, with
    ``typo_tolerance``, one edit away from an accepted one of five code points or more)."""

    kind = Kind.TYPE_ANSWER

    def __init__(self, question: Question) -> None:
        super().__init__(question)
        self.accepted = frozenset(normalise_text(text) for text in question.accepted)
        self.fuzzy = (
            tuple(text for text in self.accepted if len(text) >= TYPO_MIN_LENGTH) if question.typo_tolerance else ()
        )

    def key(self, answer: Answer) -> Key:
        self._only(answer, "text")
        text = answer.text
        assert text is not None
        if not 1 <= len(text) <= MAX_TEXT:
            raise _invalid(f"text must have 1 to {MAX_TEXT} characters")
        normal = normalise_text(text)
        if not normal:
            raise _invalid("text must not be blank")
        return normal

    def is_correct(self, key: Key) -> bool | None:
        assert isinstance(key, str)
        if key in self.accepted:
            return True
        return any(DamerauLevenshtein.distance(key, text, score_cutoff=1) <= 1 for text in self.fuzzy)

    def count(self, distribution: list[int], key: Key) -> None:
        return None  # no live distribution: ``closed_fields`` counts the answers given

    def question_fields(self) -> Payload:
        return {"maxLength": MAX_TEXT}

    def closed_fields(self, distribution: list[int], keys: list[Key]) -> Payload:
        texts = Counter(key for key in keys if isinstance(key, str))
        top = sorted(texts.items(), key=lambda item: (-item[1], item[0]))[:TOP_TEXTS]
        correct = sum(count for text, count in texts.items() if self.is_correct(text))
        return {
            "accepted": list(self.question.accepted),
            "answers": [{"text": text, "count": count} for text, count in top],
            "correctCount": correct,
        }


class SliderRules(KindRules):
    """A number on a scale: in [min, max], on a step, right within ``tolerance``.

    Every number of the scale (min, max, step, answer, tolerance) is a whole number of
    ``1 / unit``, ``unit`` being the least common denominator of their exact values, and
    so is every value on a step.  The checks, the verdict and the reveal count in those
    units, in integers: the same exact results as with fractions, without a ``Fraction``
    operation per answer (each costs microseconds, and they made a slider answer cost
    the core about twice a single choice's)."""

    kind = Kind.SLIDER

    def __init__(self, question: Question) -> None:
        super().__init__(question)
        assert question.slider is not None
        spec: Slider = question.slider
        self.low, self.high = exact(spec.min), exact(spec.max)
        self.step, self.answer = exact(spec.step), exact(spec.answer)
        self.tolerance = exact(spec.tolerance)
        scale = (self.low, self.high, self.step, self.answer, self.tolerance)
        self.unit = math.lcm(*(number.denominator for number in scale))
        self.low_units, self.high_units, self.step_units, self.answer_units, self.tolerance_units = (
            number.numerator * (self.unit // number.denominator) for number in scale
        )

    def units(self, number: int | Fraction) -> int | None:
        """``number`` in whole units, or None if it is not a whole number of them (then
        it is on no step)."""
        if isinstance(number, int):
            return number * self.unit
        whole, rest = divmod(self.unit, number.denominator)
        return None if rest else number.numerator * whole

    def key(self, answer: Answer) -> Key:
        self._only(answer, "value")
        value = answer.value
        assert value is not None
        number = exact_number(value)
        units = self.units(number)
        # A value between two units is on no step, but still refused first for its range.
        inside = self.low <= number <= self.high if units is None else self.low_units <= units <= self.high_units
        if not inside:
            raise _invalid(f"value must be between {plain(self.low)} and {plain(self.high)}")
        if units is None or (units - self.low_units) % self.step_units:
            raise _invalid(f"value must be on a step of {plain(self.step)} from {plain(self.low)}")
        return number

    def _key_units(self, key: Key) -> int:
        """A key's value in units (every key is on a step, so a whole number of them)."""
        assert isinstance(key, (int, Fraction))
        units = self.units(key)
        assert units is not None
        return units

    def is_correct(self, key: Key) -> bool | None:
        return abs(self._key_units(key) - self.answer_units) <= self.tolerance_units

    def count(self, distribution: list[int], key: Key) -> None:
        return None  # no live distribution: ``closed_fields`` counts the answers given

    def question_fields(self) -> Payload:
        return {"min": plain(self.low), "max": plain(self.high), "step": plain(self.step)}

    def histogram(self, units: list[int]) -> list[int]:
        """10 equal bins over [min, max] of values in units; bin i holds [min + i*w,
        min + (i+1)*w), the last one also ``max``: bin ``floor((v - min) / w)`` with
        ``w = (max - min) / 10``, in integers."""
        bins = [0] * HISTOGRAM_BINS
        span = self.high_units - self.low_units
        for value in units:
            bins[min((value - self.low_units) * HISTOGRAM_BINS // span, HISTOGRAM_BINS - 1)] += 1
        return bins

    def closed_fields(self, distribution: list[int], keys: list[Key]) -> Payload:
        units = sorted(self._key_units(key) for key in keys)
        return {
            "correctValue": plain(self.answer),
            "tolerance": plain(self.tolerance),
            "histogram": self.histogram(units),
            "median": None if not units else plain(median(units) / self.unit),
        }


def exact_number(number: Number) -> int | Fraction:
    """A JSON number as the exact value it was written as: an ``int`` when it is whole
    (as a slider's values usually are; integers are much cheaper than fractions to
    compare and count), else a ``Fraction`` (``exact``)."""
    if isinstance(number, int):
        return number
    if number.is_integer() and abs(number) < EXACT_FLOAT_INTEGERS:
        return int(number)  # a whole float this small is the integer its digits spell
    return exact(number)


def median(values: list[int]) -> Fraction:
    """The middle of sorted ``values``; the mean of the two middle ones for an even count."""
    middle = len(values) // 2
    if len(values) % 2:
        return Fraction(values[middle])
    return Fraction(values[middle - 1] + values[middle], 2)


_RULES: dict[Kind, type[KindRules]] = {
    Kind.SINGLE: SingleRules,
    Kind.TRUE_FALSE: TrueFalseRules,
    Kind.MULTIPLE: MultipleRules,
    Kind.TYPE_ANSWER: TypeAnswerRules,
    Kind.SLIDER: SliderRules,
    Kind.POLL: PollRules,
}


def rules_for(question: Question) -> KindRules:
    """The rules of ``question``'s kind, bound to it."""
    return _RULES[question.kind](question)
