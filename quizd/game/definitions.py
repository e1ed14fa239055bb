"""Quiz definitions: the validated, immutable form of one quiz file.

Parsing from a TOML document lives in ``quizd.config.definitions``; these classes are
what the game core plays.  A live quiz holds on to the ``QuizDefinition`` it started
with, so a SIGHUP reload never changes a quiz under its players.

A question's ``kind`` (wire contract section 3) says which of the kind-specific fields
it uses: ``answer`` (``single``, ``true_false``: the correct index), ``answers``
(``multiple``), ``accepted``/``typo_tolerance`` (``type_answer``) or ``slider``; the
rules that read them live in ``quizd.game.kinds``.
"""

from __future__ import annotations

import enum
from typing import Literal

import attrs

Reveal = Literal["on_answer", "on_close"]
#: When leaderboards go out: ``live`` (throttled, v1), ``reveal`` (at each reveal and the
#: end only) or ``end`` (only in ``quiz_ended``).
LeaderboardMode = Literal["live", "reveal", "end"]


class Kind(enum.StrEnum):
    """A question's kind, as the definition key and the wire spell it."""

    SINGLE = "single"
    TRUE_FALSE = "true_false"
    MULTIPLE = "multiple"
    TYPE_ANSWER = "type_answer"
    SLIDER = "slider"
    POLL = "poll"


@attrs.frozen
class Slider:
    """A slider's scale and answer.  Numbers are kept as the TOML floats; the rules
    compare them exactly (as the decimals they were written as), never as binary floats."""

    min: float
    max: float
    step: float
    answer: float
    tolerance: float = 0.0


@attrs.frozen
class Question:
    text: str
    choices: tuple[str, ...]
    #: The correct choice of a ``single`` or ``true_false`` (0 = true); None for other kinds.
    answer: int | None
    time_limit_ms: int
    points: int
    kind: Kind = Kind.SINGLE
    answers: tuple[int, ...] = ()  # multiple: the correct choices, sorted
    accepted: tuple[str, ...] = ()  # type_answer: as written in the definition
    typo_tolerance: bool = False
    slider: Slider | None = None
    #: Shown at the reveal (``question_closed.explanation``), at most 500 code points.
    explanation: str | None = None


@attrs.frozen
class QuizDefinition:
    id: str
    title: str
    questions: tuple[Question, ...]
    reveal: Reveal = "on_answer"
    reveal_ms: int = 3000
    countdown_ms: int = 3000
    streak_bonus: int = 100
    allow_late_join: bool = True
    close_when_all_answered: bool = False
    # Which version of its definition this is: always 1 for a file, counted up by each
    # change made over the data API; a quiz records the version it ran.
    version: int = 1
    leaderboard: LeaderboardMode = "live"

    @property
    def question_count(self) -> int:
        return len(self.questions)
