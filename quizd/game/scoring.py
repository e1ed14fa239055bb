"""Points for one answer, exactly as docs/operations.md "Scoring" states.

Integer arithmetic only, so every node (and every replay after a crash or takeover)
computes the same score for the same answer.
"""

from __future__ import annotations

MAX_STREAK_STEPS = 5


def time_points(points: int, time_limit_ms: int, elapsed_ms: int) -> int:
    """``points * (1 - e/L/2)`` rounded half up: full points at 0 ms, half at the limit."""
    limit = time_limit_ms
    elapsed = min(max(elapsed_ms, 0), limit)
    return (points * (2 * limit - elapsed) + limit) // (2 * limit)


def streak_points(streak_bonus: int, streak: int) -> int:
    """Bonus for the ``streak``-th correct answer in a row (the first earns none)."""
    return streak_bonus * min(max(streak - 1, 0), MAX_STREAK_STEPS)


def score_answer(
    *,
    correct: bool,
    points: int,
    time_limit_ms: int,
    elapsed_ms: int,
    streak_bonus: int,
    previous_streak: int,
) -> tuple[int, int]:
    """Return ``(points awarded, new streak)`` for one right-or-wrong answer (``single``)."""
    base = time_points(points, time_limit_ms, elapsed_ms) if correct else 0
    return award(correct, base, streak_bonus, previous_streak)


def award(correct: bool | None, base: int, streak_bonus: int, previous_streak: int) -> tuple[int, int]:
    """Return ``(points awarded, new streak)`` for one judged answer of any kind.

    ``base`` is what the kind gives before any bonus (``time_points`` when correct; a
    ``multiple``'s partial credit when not); only a correct answer extends the streak and
    earns its bonus, a wrong one ends it, and an unscored one (``correct`` None: a poll)
    scores nothing and leaves it as it was.
    """
    if correct is None:
        return 0, previous_streak
    if not correct:
        return base, 0
    streak = previous_streak + 1
    return base + streak_points(streak_bonus, streak), streak
