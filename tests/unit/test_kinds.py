"""Question kinds in the game core: each kind's rules (quizd.game.kinds) and a quiz
that asks one question of each kind, with properties (Hypothesis) for the scoring
invariants, the safe-retry rule and the reveal shapes."""

from __future__ import annotations

import itertools
from collections import Counter
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quizd.game import effects as fx
from quizd.game.definitions import Kind, Question, QuizDefinition, Slider
from quizd.game.kinds import HISTOGRAM_BINS, MultipleRules, SliderRules, TypeAnswerRules, normalise_text, rules_for
from quizd.game.quiz import GameSettings, QuizGame
from quizd.game.scoring import award, streak_points
from quizd.protocol import errors as E
from quizd.protocol.errors import ProtocolError
from quizd.protocol.messages import Answer

from .quizkit import HOST_TOKEN, broadcast, broadcasts, reply

LIMIT_MS = 20_000
POINTS = 1000
BONUS = 100

SINGLE = Question("Red planet?", ("Venus", "Mars", "Jupiter"), 1, LIMIT_MS, POINTS, explanation="Rust.")
TRUE_FALSE = Question("Sun is a star?", ("True", "False"), 0, LIMIT_MS, POINTS, Kind.TRUE_FALSE)
MULTIPLE = Question("Primes?", ("2", "9", "11", "15", "17"), None, LIMIT_MS, POINTS, Kind.MULTIPLE, answers=(0, 2, 4))
TYPED = Question(
    "Capital of Australia?",
    (),
    None,
    LIMIT_MS,
    POINTS,
    Kind.TYPE_ANSWER,
    accepted=("Canberra", "CBR"),
    typo_tolerance=True,
)
SLIDER = Question("Moon landing?", (), None, LIMIT_MS, POINTS, Kind.SLIDER, slider=Slider(1950, 2000, 1, 1969, 1))
FINE_SLIDER = Question("pH of water?", (), None, LIMIT_MS, POINTS, Kind.SLIDER, slider=Slider(0.0, 1.0, 0.1, 0.3, 0.0))
POLL = Question("Favourite?", ("a", "b", "c"), None, LIMIT_MS, POINTS, Kind.POLL)
ALL = (SINGLE, TRUE_FALSE, MULTIPLE, TYPED, SLIDER, POLL)


def game_of(
    *questions: Question,
    reveal: str = "on_answer",
    leaderboard: str = "live",
    players: tuple[str, ...] = ("Ann", "Bob", "Cai", "Dan"),
) -> QuizGame:
    """Questions open one after the other; players joined, question 0 open at t=4."""
    definition = QuizDefinition(
        "kinds",
        "Kinds",
        questions,
        reveal=reveal,
        streak_bonus=BONUS,  # type: ignore[arg-type]
        leaderboard=leaderboard,
    )  # type: ignore[arg-type]
    counter = itertools.count(1)
    game = QuizGame(
        "quiz", definition, GameSettings(), 0.0, host_token=HOST_TOKEN, token_factory=lambda: f"token-{next(counter)}"
    )
    for name in players:
        game.join_player(name, 0.0)
    game.start("host", 1.0)
    game.tick(4.0)
    return game


def refused(code: str, fn: Any, *args: Any) -> None:
    with pytest.raises(ProtocolError) as info:
        fn(*args)
    assert info.value.code == code, info.value


def result(effects: list[fx.Effect], pid: str) -> dict[str, Any]:
    return reply(effects, pid, "answer_result").payload


# ------------------------------------------------------------------ each kind in a quiz
def test_a_quiz_of_every_kind_plays_to_the_end() -> None:
    game = game_of(*ALL)
    for index, question in enumerate(ALL):
        assert game.question_index == index
        out = game.next("host", 5.0 + index * 10)
        payload = broadcast(out, "question_closed").payload
        assert ("explanation" in payload) == (question.explanation is not None)
        game.tick(9.0 + index * 10)
    assert game.phase.value == "ended"
    assert len(game.results()["questions"]) == len(ALL)


def question_payload(game: QuizGame) -> dict[str, Any]:
    joined = game.resume(HOST_TOKEN, 4.5, host=True).effects
    return reply(joined, "host", "joined").payload["question"]


@pytest.mark.parametrize(
    ("question", "adds"),
    [
        (SINGLE, {"kind": "single"}),
        (TRUE_FALSE, {"kind": "true_false"}),
        (MULTIPLE, {"kind": "multiple", "pick": "many"}),
        (TYPED, {"kind": "type_answer", "maxLength": 100}),
        (SLIDER, {"kind": "slider", "min": 1950, "max": 2000, "step": 1}),
        (FINE_SLIDER, {"kind": "slider", "min": 0, "max": 1, "step": 0.1}),
        (POLL, {"kind": "poll", "scored": False}),
    ],
)
def test_question_adds(question: Question, adds: dict[str, Any]) -> None:
    payload = question_payload(game_of(question))
    assert {k: payload[k] for k in adds} == adds
    assert payload["choices"] == list(question.choices)
    assert "answer" not in payload and "accepted" not in payload and "answers" not in payload


def test_single_and_true_false_and_explanation() -> None:
    game = game_of(SINGLE, TRUE_FALSE)
    assert result(game.answer("p1", "q0", Answer(choice=1), 4.0), "p1")["correct"] is True
    assert result(game.answer("p2", "q0", Answer(choice=0), 4.0), "p2")["correct"] is False
    closed = broadcast(game.next("host", 5.0), "question_closed").payload
    assert closed == {"questionId": "q0", "correctChoice": 1, "distribution": [1, 1, 0], "explanation": "Rust."}
    game.tick(8.0)
    got = result(game.answer("p1", "q1", Answer(choice=0), 8.0), "p1")
    assert got["correct"] is True and got["streak"] == 2 and got["points"] == POINTS + BONUS
    closed = broadcast(game.next("host", 9.0), "question_closed").payload
    assert closed == {"questionId": "q1", "correctChoice": 0, "distribution": [1, 0]}


def test_multiple_exact_partial_and_wrong() -> None:
    game = game_of(MULTIPLE)
    exact = result(game.answer("p1", "q0", Answer(choices=(4, 0, 2)), 4.0), "p1")
    assert exact == {
        "questionId": "q0",
        "choices": [4, 0, 2],
        "correct": True,
        "points": POINTS,
        "score": POINTS,
        "streak": 1,
        "rank": 1,
    }
    partial = result(game.answer("p2", "q0", Answer(choices=(0, 2)), 4.0), "p2")
    assert (partial["correct"], partial["points"], partial["streak"]) == (False, POINTS * 2 // 3, 0)
    mixed = result(game.answer("p3", "q0", Answer(choices=(0, 1)), 4.0), "p3")
    assert (mixed["correct"], mixed["points"]) == (False, 0)
    closed = broadcast(game.next("host", 5.0), "question_closed").payload
    assert closed == {"questionId": "q0", "correctChoices": [0, 2, 4], "distribution": [3, 1, 2, 0, 1]}


@pytest.mark.parametrize(
    "bad",
    [
        Answer(choice=0),
        Answer(choices=()),
        Answer(choices=(0, 0)),
        Answer(choices=(5,)),
        Answer(choices=(-1,)),
        Answer(choices=(0,), choice=0),
        Answer(text="2"),
    ],
)
def test_multiple_wrong_shapes_are_invalid_choice(bad: Answer) -> None:
    game = game_of(MULTIPLE)
    refused(E.INVALID_CHOICE, game.answer, "p1", "q0", bad, 4.0)
    assert result(game.answer("p1", "q0", Answer(choices=(0,)), 4.0), "p1")["points"] == POINTS // 3


def test_type_answer_normalised_typos_and_reveal() -> None:
    game = game_of(TYPED)
    assert result(game.answer("p1", "q0", Answer(text="  ＣＡＮＢＥＲＲＡ "), 4.0), "p1")["correct"] is True
    assert result(game.answer("p2", "q0", Answer(text="Canbera"), 4.0), "p2")["correct"] is True  # one edit
    assert result(game.answer("p3", "q0", Answer(text="cbx"), 4.0), "p3")["correct"] is False  # short: exact only
    got = result(game.answer("p4", "q0", Answer(text="Sydney"), 4.0), "p4")
    assert got["text"] == "Sydney" and got["correct"] is False
    closed = broadcast(game.next("host", 5.0), "question_closed").payload
    assert closed == {
        "questionId": "q0",
        "accepted": ["Canberra", "CBR"],
        "answers": [{"text": t, "count": 1} for t in ("canbera", "canberra", "cbx", "sydney")],
        "correctCount": 2,
    }


def test_type_answer_without_tolerance_is_exact() -> None:
    rules = TypeAnswerRules(Question("?", (), None, LIMIT_MS, POINTS, Kind.TYPE_ANSWER, accepted=("Canberra",)))
    assert rules.is_correct(rules.key(Answer(text="canberra")))
    assert not rules.is_correct(rules.key(Answer(text="canbera")))


@pytest.mark.parametrize(
    "bad", [Answer(text=""), Answer(text="   "), Answer(text="x" * 101), Answer(choice=0), Answer(value=1)]
)
def test_type_answer_wrong_shapes_are_invalid_choice(bad: Answer) -> None:
    refused(E.INVALID_CHOICE, game_of(TYPED).answer, "p1", "q0", bad, 4.0)


def test_slider_tolerance_steps_and_reveal() -> None:
    game = game_of(SLIDER)
    assert result(game.answer("p1", "q0", Answer(value=1969), 4.0), "p1")["correct"] is True
    assert result(game.answer("p2", "q0", Answer(value=1970.0), 4.0), "p2")["correct"] is True
    got = result(game.answer("p3", "q0", Answer(value=2000), 4.0), "p3")
    assert got["value"] == 2000 and got["correct"] is False
    closed = broadcast(game.next("host", 5.0), "question_closed").payload
    assert closed == {
        "questionId": "q0",
        "correctValue": 1969,
        "tolerance": 1,
        "histogram": [0, 0, 0, 1, 1, 0, 0, 0, 0, 1],
        "median": 1970,
    }


@pytest.mark.parametrize("bad", [1949, 2001, 1969.5, Answer(choice=1), Answer(text="1969")])
def test_slider_wrong_values_are_invalid_choice(bad: Any) -> None:
    answer = bad if isinstance(bad, Answer) else Answer(value=bad)
    refused(E.INVALID_CHOICE, game_of(SLIDER).answer, "p1", "q0", answer, 4.0)


def test_slider_decimal_steps_are_exact() -> None:
    rules = SliderRules(FINE_SLIDER)
    with pytest.raises(ProtocolError):
        rules.key(Answer(value=0.1 + 0.2))
    assert rules.is_correct(rules.key(Answer(value=0.3))) is True
    assert rules.key(Answer(value=1)) == 1 and rules.key(Answer(value=0.7)) == Fraction(7, 10)


def test_poll_is_unscored_and_keeps_streaks() -> None:
    game = game_of(SINGLE, POLL, SINGLE)
    game.answer("p1", "q0", Answer(choice=1), 4.0)
    game.next("host", 5.0)
    game.tick(8.0)
    got = result(game.answer("p1", "q1", Answer(choice=2), 8.0), "p1")
    assert (got["correct"], got["points"], got["streak"], got["score"]) == (None, 0, 1, POINTS)
    closed = broadcast(game.next("host", 9.0), "question_closed").payload
    assert closed == {"questionId": "q1", "correctChoice": None, "distribution": [0, 0, 1]}
    game.tick(12.0)
    got = result(game.answer("p1", "q2", Answer(choice=1), 12.0), "p1")
    assert got["streak"] == 2  # the poll neither broke nor extended it


def test_poll_unanswered_keeps_streak_too() -> None:
    game = game_of(SINGLE, POLL)
    game.answer("p1", "q0", Answer(choice=1), 4.0)
    game.next("host", 5.0)
    game.tick(8.0)
    game.next("host", 9.0)  # p1 did not vote
    assert game.participants["p1"].streak == 1


def test_on_close_reveal_of_every_kind_scores_at_the_close() -> None:
    game = game_of(MULTIPLE, TYPED, reveal="on_close")
    accepted = reply(game.answer("p1", "q0", Answer(choices=(0, 2, 4)), 4.0), "p1", "answer_accepted").payload
    assert accepted == {"questionId": "q0", "choices": [0, 2, 4]}
    out = game.next("host", 5.0)
    assert result(out, "p1")["correct"] is True
    game.tick(8.0)
    accepted = reply(game.answer("p2", "q1", Answer(text=" Canberra"), 8.0), "p2", "answer_accepted").payload
    assert accepted == {"questionId": "q1", "text": " Canberra"}
    assert result(game.next("host", 9.0), "p2")["points"] == POINTS


# ------------------------------------------------------------------ retries and resumes
@pytest.mark.parametrize(
    ("question", "first", "same", "other"),
    [
        (MULTIPLE, Answer(choices=(0, 2)), Answer(choices=(2, 0)), Answer(choices=(0,))),
        (TYPED, Answer(text="Canberra"), Answer(text=" canberra  "), Answer(text="Sydney")),
        (SLIDER, Answer(value=1969), Answer(value=1969.0), Answer(value=1970)),
        (POLL, Answer(choice=1), Answer(choice=1), Answer(choice=2)),
    ],
)
def test_safe_retry_compares_the_normalised_answer(
    question: Question, first: Answer, same: Answer, other: Answer
) -> None:
    game = game_of(question)
    got = reply(game.answer("p1", "q0", first, 4.0, "a"), "p1", "answer_result")
    again = reply(game.answer("p1", "q0", same, 5.0, "b"), "p1", "answer_result")
    assert again.payload == got.payload  # the latest reply again, echoing the first answer
    refused(E.ALREADY_ANSWERED, game.answer, "p1", "q0", other, 5.0)
    refused(E.ALREADY_ANSWERED, game.answer, "p1", "q0", Answer(text="x", choice=0), 5.0)


@pytest.mark.parametrize(
    ("question", "answer", "echo"),
    [
        (SINGLE, Answer(choice=2), {"choice": 2}),
        (MULTIPLE, Answer(choices=(3, 1)), {"choices": [3, 1]}),
        (TYPED, Answer(text=" Canberra"), {"text": " Canberra"}),
        (SLIDER, Answer(value=1969.0), {"value": 1969.0}),
    ],
)
def test_resume_mid_question_echoes_the_answer(question: Question, answer: Answer, echo: dict[str, Any]) -> None:
    game = game_of(question)
    game.answer("p1", "q0", answer, 4.0)
    assert game.participants["p1"].answers["q0"].echo() == echo
    game.disconnected("p1", 4.5)
    joined = reply(game.resume(game.participants["p1"].token, 5.0).effects, "p1", "joined").payload
    assert joined["question"]["answered"] is True
    assert joined["question"]["answer"] == echo
    assert joined["question"]["kind"] == question.kind.value
    assert ("choice" in joined["question"]) == ("choice" in echo)


def test_snapshot_keeps_answers_of_every_kind() -> None:
    game = game_of(MULTIPLE, TYPED, reveal="on_close")
    game.answer("p1", "q0", Answer(choices=(0, 2)), 4.0, "m")
    meta, records = game.to_snapshot(4.5)
    restored = QuizGame.from_snapshot(game.definition, GameSettings(), meta, records, 4.5, 0)
    assert restored.participants["p1"].answers["q0"].echo() == {"choices": [0, 2]}
    assert reply(restored.answer("p1", "q0", Answer(choices=(2, 0)), 5.0, "m"), "p1", "answer_accepted")
    out = restored.next("host", 6.0)
    assert result(out, "p1")["points"] == POINTS * 2 // 3
    assert broadcast(out, "question_closed").payload["distribution"] == [1, 0, 1, 0, 0]


def test_snapshot_records_keep_a_bare_choice_as_before_kinds() -> None:
    game = game_of(SINGLE, TYPED)
    game.answer("p1", "q0", Answer(choice=1), 4.0)
    _, records = game.to_snapshot(4.5)
    assert records["p1"]["answers"]["q0"][0] == 1  # what nodes from before kinds read
    game.next("host", 5.0)
    game.tick(8.0)
    game.answer("p1", "q1", Answer(text="Canberra"), 8.0)
    _, records = game.to_snapshot(8.5)
    assert records["p1"]["answers"]["q1"][0] == {"text": "Canberra"}


# ------------------------------------------------------------------ leaderboard modes
def test_leaderboard_reveal_mode_sends_none_while_answering() -> None:
    game = game_of(SINGLE, SINGLE, leaderboard="reveal")
    game.answer("p1", "q0", Answer(choice=1), 4.0)
    assert broadcasts(game.tick(10.0), "leaderboard") == []
    assert len(broadcasts(game.next("host", 11.0), "leaderboard")) == 1
    assert reply(game.get_leaderboard("p1"), "p1", "leaderboard").payload["you"]["score"] > 0


def test_leaderboard_end_mode_only_at_the_end() -> None:
    game = game_of(SINGLE, leaderboard="end")
    game.answer("p1", "q0", Answer(choice=1), 4.0)
    assert broadcasts(game.tick(10.0), "leaderboard") == []
    refused(E.WRONG_PHASE, game.get_leaderboard, "p1")
    out = game.next("host", 11.0)
    assert broadcasts(out, "leaderboard") == []
    out = game.tick(14.5)  # the reveal is over: the quiz ends
    assert broadcasts(out, "leaderboard") == []
    ended = reply(out, "p1", "quiz_ended").payload
    assert ended["leaderboard"][0]["name"] == "Ann"
    assert reply(game.get_leaderboard("p1"), "p1", "leaderboard")


# ------------------------------------------------------------------ properties
texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@given(texts)
def test_normalising_is_idempotent(text: str) -> None:
    once = normalise_text(text)
    assert normalise_text(once) == once
    assert once == once.strip() and "  " not in once


@given(st.text(st.characters(min_codepoint=ord("a"), max_codepoint=ord("z")), min_size=1, max_size=20))
def test_normalising_ignores_case_and_width(text: str) -> None:
    wide = "".join(chr(ord(c) - ord("a") + ord("Ａ")) for c in text)  # fullwidth capitals
    assert normalise_text(wide) == normalise_text(text.upper()) == normalise_text(f"  {text}\t") == text


speeds = st.integers(0, 100_000)
streaks = st.integers(0, 20)


@given(st.sampled_from(ALL), st.data(), speeds, streaks)
def test_points_are_bounded(question: Question, data: st.DataObject, speed: int, streak: int) -> None:
    rules = rules_for(question)
    answer = data.draw(answers_for(question))
    key = rules.key(answer)
    correct = rules.is_correct(key)
    points, new_streak = award(correct, rules.points(key, speed), BONUS, streak)
    assert 0 <= points <= speed + streak_points(BONUS, streak + 1)
    if correct is None:
        assert (points, new_streak) == (0, streak)
    elif correct:
        assert new_streak == streak + 1 and points >= speed
    else:
        assert new_streak == 0 and points <= speed


def answers_for(question: Question) -> st.SearchStrategy[Answer]:
    if question.kind == Kind.MULTIPLE:
        picks = st.sets(st.integers(0, len(question.choices) - 1), min_size=1)
        return picks.map(lambda s: Answer(choices=tuple(s)))
    if question.kind == Kind.TYPE_ANSWER:
        return st.sampled_from(["Canberra", "canbera", "x", "CBR", "Sydney"]).map(lambda t: Answer(text=t))
    if question.kind == Kind.SLIDER:
        return st.integers(1950, 2000).map(lambda v: Answer(value=v))
    return st.integers(0, len(question.choices) - 1).map(lambda c: Answer(choice=c))


@given(st.sets(st.integers(0, 4), min_size=1), speeds)
def test_multiple_partial_credit(picked: set[int], speed: int) -> None:
    rules = MultipleRules(MULTIPLE)
    key = rules.key(Answer(choices=tuple(picked)))
    points = rules.points(key, speed)
    assert 0 <= points <= speed
    if picked == {0, 2, 4}:
        assert rules.is_correct(key) and points == speed
    else:
        assert not rules.is_correct(key)
        if picked - {0, 2, 4}:  # any miss costs
            fewer = rules.key(Answer(choices=tuple(picked & {0, 2, 4}) or (0,)))
            assert points <= rules.points(fewer, speed)
        if speed >= 3:
            assert points < speed


@given(st.sets(st.integers(0, 4), min_size=1), st.sets(st.integers(0, 4), min_size=1), st.randoms())
def test_retry_rule_compares_whole_sets(first: set[int], second: set[int], rnd: Any) -> None:
    rules = MultipleRules(MULTIPLE)
    shuffled = list(first)
    rnd.shuffle(shuffled)
    assert rules.same(Answer(choices=tuple(first)), Answer(choices=tuple(shuffled)))
    assert rules.same(Answer(choices=tuple(first)), Answer(choices=tuple(second))) == (first == second)


@given(texts, texts)
def test_retry_rule_compares_normalised_texts(first: str, second: str) -> None:
    rules = TypeAnswerRules(TYPED)
    sent = Answer(text=first)
    valid = bool(normalise_text(first)) and len(first) <= 100
    padded = f" {first}\t"
    assert rules.same(sent, Answer(text=padded)) == (valid and len(padded) <= 100)
    if valid and rules.same(sent, Answer(text=second)):
        assert normalise_text(first) == normalise_text(second)


@given(st.integers(1950, 2000), st.integers(0, 10))
def test_slider_within_tolerance_is_correct(value: int, tolerance: int) -> None:
    rules = SliderRules(
        Question("?", (), None, LIMIT_MS, POINTS, Kind.SLIDER, slider=Slider(1950, 2000, 1, 1969, tolerance))
    )
    assert rules.is_correct(rules.key(Answer(value=value))) == (abs(value - 1969) <= tolerance)


@given(st.lists(st.integers(0, 500), max_size=60))
def test_histogram_has_ten_bins_counting_every_value(steps: list[int]) -> None:
    rules = SliderRules(Question("?", (), None, LIMIT_MS, POINTS, Kind.SLIDER, slider=Slider(-5, 45, 0.1, 0, 0)))
    keys = [rules.key(Answer(value=round(-5 + step * 0.1, 1))) for step in steps]
    closed = rules.closed_fields([], list(keys))
    assert len(closed["histogram"]) == HISTOGRAM_BINS and sum(closed["histogram"]) == len(steps)
    if 500 in steps:
        assert closed["histogram"][-1] >= 1  # max lands in the last bin
    assert (closed["median"] is None) == (not steps)


@given(st.lists(st.sets(st.integers(0, 4), min_size=1), max_size=12), st.lists(texts, max_size=12))
def test_distributions_count_what_was_given(picks: list[set[int]], typed: list[str]) -> None:
    game = game_of(MULTIPLE, TYPED, players=tuple(f"P{i}" for i in range(12)))
    for i, picked in enumerate(picks):
        game.answer(f"p{i + 1}", "q0", Answer(choices=tuple(picked)), 4.0)
    closed = broadcast(game.next("host", 5.0), "question_closed").payload
    assert len(closed["distribution"]) == len(MULTIPLE.choices)
    assert sum(closed["distribution"]) == sum(len(p) for p in picks)
    game.tick(8.0)
    given_texts = [t for t in typed if normalise_text(t) and len(t) <= 100]
    for i, text in enumerate(given_texts):
        game.answer(f"p{i + 1}", "q1", Answer(text=text), 8.0)
    closed = broadcast(game.next("host", 9.0), "question_closed").payload
    counts = Counter(normalise_text(t) for t in given_texts)
    assert len(closed["answers"]) == min(len(counts), 10)
    assert sum(a["count"] for a in closed["answers"]) == sum(sorted(counts.values(), reverse=True)[:10])
    if len(counts) <= 10:
        assert {a["text"]: a["count"] for a in closed["answers"]} == counts
    assert closed["correctCount"] <= len(given_texts)


#: Slider numbers as a definition or a client writes them: decimals of up to 3 places.
decimals = st.integers(-20_000, 20_000).map(lambda n: n / 1000)


def as_written(number: float) -> Fraction:
    """A JSON number as the decimal it was written as (the reference the slider must match)."""
    return Fraction(repr(number)) if isinstance(number, float) else Fraction(number)


@given(
    low=decimals,
    step=st.integers(1, 500).map(lambda n: n / 1000),
    steps=st.integers(1, 40),
    answer_step=st.integers(0, 40),
    tolerance_steps=st.integers(0, 5),
    picks=st.lists(st.tuples(st.integers(-3, 43), st.sampled_from([0, 0, 0, 1, 500])), max_size=30),
    integers=st.lists(st.integers(-25, 25), max_size=5),
)
def test_slider_in_units_agrees_with_fractions(
    low: float,
    step: float,
    steps: int,
    answer_step: int,
    tolerance_steps: int,
    picks: list[tuple[int, int]],
    integers: list[int],
) -> None:
    """The slider counts in integer units; every refusal, verdict and reveal is the one
    the exact fractions of the written decimals give (values on and off the scale and
    its steps, at and beyond the tolerance)."""
    f_low, f_step = as_written(low), as_written(step)
    f_high = f_low + f_step * steps
    f_answer = f_low + f_step * min(answer_step, steps)
    f_tolerance = f_step * tolerance_steps
    high, answer, tolerance = float(f_high), float(f_answer), float(f_tolerance)
    rules = SliderRules(
        Question("?", (), None, LIMIT_MS, POINTS, Kind.SLIDER, slider=Slider(low, high, step, answer, tolerance))
    )
    # k steps from min, plus 0, 1 or 500 ten-thousandths: on a step, or just off one.
    values: list[float | int] = [float(f_low + f_step * k + Fraction(off, 10_000)) for k, off in picks]
    keys: list[Fraction] = []
    for value in [*values, *integers]:
        exact = as_written(value)
        fits = f_low <= exact <= f_high and ((exact - f_low) / f_step).denominator == 1
        if not fits:
            refused(E.INVALID_CHOICE, rules.key, Answer(value=value))
            continue
        key = rules.key(Answer(value=value))
        assert key == exact
        assert rules.is_correct(key) == (abs(exact - f_answer) <= as_written(tolerance))
        keys.append(exact)
    closed = rules.closed_fields([], list(keys))
    width = (f_high - f_low) / HISTOGRAM_BINS
    bins = [0] * HISTOGRAM_BINS
    for exact in keys:
        bins[min(int((exact - f_low) // width), HISTOGRAM_BINS - 1)] += 1
    assert closed["histogram"] == bins
    ordered = sorted(keys)
    middle = len(ordered) // 2
    if not ordered:
        assert closed["median"] is None
    else:
        median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
        assert closed["median"] == (median.numerator if median.denominator == 1 else float(median))
