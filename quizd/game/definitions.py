"""Quiz definitions: the validated, immutable form of one quiz file.

Parsing from a TOML document lives in ``quizd.config.definitions``; these classes are
what the game core plays.  A live quiz holds on to the ``QuizDefinition`` it started
with, so a SIGHUP reload never changes a quiz under its players.
"""

from __future__ import annotations

from typing import Literal

import attrs

Reveal = Literal["on_answer", "on_close"]


@attrs.frozen
class Question:
    text: str
    choices: tuple[str, ...]
    answer: int
    time_limit_ms: int
    points: int


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

    @property
    def question_count(self) -> int:
        return len(self.questions)
