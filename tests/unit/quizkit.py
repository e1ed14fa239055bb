"""Small builders and effect filters shared by the unit tests (not a test module)."""

from __future__ import annotations

import itertools
from typing import Any

from quizd.game import effects as fx
from quizd.game.definitions import Question, QuizDefinition
from quizd.game.quiz import AutoStart, GameSettings, QuizGame

HOST_TOKEN = "host-token"
CHOICES = ("a", "b", "c", "d")


def definition(
    questions: int = 3,
    *,
    reveal: str = "on_answer",
    time_limit_ms: int = 20000,
    points: int = 1000,
    reveal_ms: int = 3000,
    countdown_ms: int = 3000,
    streak_bonus: int = 100,
    allow_late_join: bool = True,
    close_when_all_answered: bool = False,
) -> QuizDefinition:
    """Question ``i`` has choices a..d and answer ``i % 4``."""
    return QuizDefinition(
        id="test-quiz",
        title="Test quiz",
        questions=tuple(Question(f"Question {i}", CHOICES, i % 4, time_limit_ms, points) for i in range(questions)),
        reveal=reveal,  # type: ignore[arg-type]
        reveal_ms=reveal_ms,
        countdown_ms=countdown_ms,
        streak_bonus=streak_bonus,
        allow_late_join=allow_late_join,
        close_when_all_answered=close_when_all_answered,
    )


def make_game(
    now: float = 0.0,
    *,
    settings: GameSettings | None = None,
    auto_start: AutoStart | None = None,
    quiz_id: str = "quiz-1",
    **definition_kwargs: Any,
) -> QuizGame:
    counter = itertools.count(1)
    return QuizGame(
        quiz_id,
        definition(**definition_kwargs),
        settings or GameSettings(),
        now,
        host_token=HOST_TOKEN,
        auto_start=auto_start,
        token_factory=lambda: f"token-{next(counter)}",
    )


# ------------------------------------------------------------------ host commands
def start(game: QuizGame, now: float, reply_to: Any = None) -> list[fx.Effect]:
    return game.start("host", now, reply_to)


def next_(game: QuizGame, now: float, question_index: int | None = None, reply_to: Any = None) -> list[fx.Effect]:
    return game.next("host", now, question_index, reply_to)


def end(game: QuizGame, now: float, reply_to: Any = None) -> list[fx.Effect]:
    return game.end("host", now, reply_to)


def kick(game: QuizGame, pid: str, now: float, reply_to: Any = None) -> list[fx.Effect]:
    return game.kick("host", pid, now, reply_to)


# ------------------------------------------------------------------ effect filters
def replies(effects: list[fx.Effect], pid: str | None = None, type: str | None = None) -> list[fx.Reply]:
    return [
        e
        for e in effects
        if isinstance(e, fx.Reply) and (pid is None or e.participant_id == pid) and (type is None or e.type == type)
    ]


def reply(effects: list[fx.Effect], pid: str, type: str) -> fx.Reply:
    found = replies(effects, pid, type)
    assert len(found) == 1, f"expected one {type} reply to {pid}, got {effects!r}"
    return found[0]


def broadcasts(effects: list[fx.Effect], type: str | None = None) -> list[fx.Broadcast]:
    return [e for e in effects if isinstance(e, fx.Broadcast) and (type is None or e.type == type)]


def broadcast(effects: list[fx.Effect], type: str) -> fx.Broadcast:
    found = broadcasts(effects, type)
    assert len(found) == 1, f"expected one {type} broadcast, got {effects!r}"
    return found[0]


def closes(effects: list[fx.Effect]) -> dict[str, int]:
    return {e.participant_id: e.code for e in effects if isinstance(e, fx.Close)}


def kinds(effects: list[fx.Effect]) -> list[str]:
    """A readable trace: ``"B:question"``, ``"R:p1:answer_result"``, ``"C:p1:4004"``..."""
    out = []
    for e in effects:
        if isinstance(e, fx.Broadcast):
            out.append(f"B:{e.type}")
        elif isinstance(e, fx.Reply):
            out.append(f"R:{e.participant_id}:{e.type}")
        elif isinstance(e, fx.Close):
            out.append(f"C:{e.participant_id}:{e.code}")
        else:
            out.append(type(e).__name__)
    return out
