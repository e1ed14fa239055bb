"""Scoring, exactly as operations.md "Scoring" states."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quizd.game.scoring import score_answer, streak_points, time_points


def reference(points: int, limit: int, elapsed: int) -> int:
    e = min(max(elapsed, 0), limit)
    return (points * (2 * limit - e) + limit) // (2 * limit)


def test_full_points_at_zero_elapsed():
    assert time_points(1000, 20000, 0) == 1000


def test_half_points_at_the_limit():
    assert time_points(1000, 20000, 20000) == 500


def test_formula_exact_value_mid_window():
    # 1000 * (40000 - 5000) / 40000 = 875
    assert time_points(1000, 20000, 5000) == 875


def test_rounding_half_up():
    # 1 * (2*2 - 1) / 4 = 0.75 -> 1; 3 * (2*4-1)/8 = 21/8 = 2.625 -> 3
    assert time_points(1, 2, 1) == 1
    assert time_points(3, 4, 1) == 3
    # exact .5 cases round up: 1 * (2*1 - 1) / 2 = 0.5 -> 1
    assert time_points(1, 1, 1) == 1
    # 5 * (2*2 - 2) / 4 = 2.5 -> 3
    assert time_points(5, 2, 2) == 3
    # 3 * (2*2 - 2) / 4 = 1.5 -> 2
    assert time_points(3, 2, 2) == 2


def test_rounding_below_half_rounds_down():
    # 2 * (2*5 - 4) / 10 = 1.2 -> 1
    assert time_points(2, 5, 4) == 1


def test_negative_elapsed_is_clamped_to_zero():
    assert time_points(1000, 20000, -500) == 1000


def test_elapsed_beyond_limit_is_clamped_to_limit():
    assert time_points(1000, 20000, 25000) == 500


@pytest.mark.parametrize(
    ("streak", "bonus"),
    [(0, 0), (1, 0), (2, 100), (3, 200), (6, 500), (7, 500), (50, 500)],
)
def test_streak_bonus_is_min_streak_minus_one_and_five(streak, bonus):
    assert streak_points(100, streak) == bonus


def test_correct_answer_adds_time_points_and_streak_bonus():
    points, streak = score_answer(
        correct=True, points=1000, time_limit_ms=20000, elapsed_ms=5000, streak_bonus=100, previous_streak=2
    )
    assert (points, streak) == (875 + 200, 3)


def test_first_correct_answer_has_no_bonus():
    points, streak = score_answer(
        correct=True, points=1000, time_limit_ms=20000, elapsed_ms=0, streak_bonus=100, previous_streak=0
    )
    assert (points, streak) == (1000, 1)


def test_wrong_answer_scores_zero_and_resets_streak():
    assert score_answer(
        correct=False, points=1000, time_limit_ms=20000, elapsed_ms=0, streak_bonus=100, previous_streak=4
    ) == (0, 0)


def test_bonus_caps_at_five_steps():
    points, streak = score_answer(
        correct=True, points=1000, time_limit_ms=20000, elapsed_ms=0, streak_bonus=100, previous_streak=9
    )
    assert (points, streak) == (1500, 10)


limits = st.integers(min_value=1, max_value=120_000)
pts = st.integers(min_value=0, max_value=100_000)


@given(pts, limits, st.integers(min_value=-(10**6), max_value=10**6))
def test_matches_the_contract_formula(points, limit, elapsed):
    assert time_points(points, limit, elapsed) == reference(points, limit, elapsed)


@given(pts, limits, st.data())
def test_is_rounded_half_up_of_the_real_value(points, limit, data):
    e = data.draw(st.integers(min_value=0, max_value=limit))
    exact = Fraction(points) * (1 - Fraction(e, limit) / 2)
    got = time_points(points, limit, e)
    assert got - Fraction(1, 2) <= exact < got + Fraction(1, 2)


@given(pts, limits, st.data())
def test_monotone_non_increasing_in_elapsed(points, limit, data):
    a = data.draw(st.integers(min_value=-1000, max_value=limit + 1000))
    b = data.draw(st.integers(min_value=a, max_value=limit + 2000))
    assert time_points(points, limit, a) >= time_points(points, limit, b)


@given(pts, limits, st.data())
def test_between_half_and_full_points_inside_window(points, limit, data):
    e = data.draw(st.integers(min_value=0, max_value=limit))
    got = time_points(points, limit, e)
    assert points / 2 <= got <= points
