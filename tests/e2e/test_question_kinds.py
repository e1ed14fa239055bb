"""Question kinds end to end on a real node (wire contract v2 section 3): one quiz with
one question of each kind, answered right, wrong, partly right and not at all, every
``invalid_choice`` shape, the echo of each answer, each kind's reveal, and a resume
mid-question that shows the kind's state."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest

from quizd.client import QuizConnection
from tests.e2e.protocolkit import (
    WAIT,
    create_quiz,
    join_host,
    join_player,
    request_error,
    resume,
    until,
)

pytestmark = pytest.mark.trio

KINDS_TOML = """
id = "kinds"
title = "Kinds"
reveal = "on_answer"
leaderboard = "reveal"
countdown_ms = 0
reveal_ms = 60000
time_limit_ms = 60000
points = 1000
streak_bonus = 100

[[questions]]
text = "Red planet?"
choices = ["Venus", "Mars", "Jupiter"]
answer = 1
explanation = "Rust."

[[questions]]
kind = "true_false"
text = "The Sun is a star."
answer = true

[[questions]]
kind = "multiple"
text = "Primes?"
choices = ["2", "9", "11", "15", "17"]
answers = [0, 2, 4]

[[questions]]
kind = "type_answer"
text = "Capital of Australia?"
accepted = ["Canberra"]
typo_tolerance = true

[[questions]]
kind = "slider"
text = "Moon landing?"
min = 1950
max = 2000
step = 0.5
answer = 1969
tolerance = 1

[[questions]]
kind = "poll"
text = "Favourite?"
choices = ["x", "y", "z"]
"""

# Every wrong shape for each kind (the question id is filled in).
INVALID = {
    "single": [{"choice": 3}, {"choice": -1}, {"choices": [1]}, {"text": "Mars"}, {"value": 1}],
    "true_false": [{"choice": 2}, {"choices": [0]}, {"value": 0}],
    "multiple": [
        {"choice": 0},
        {"choices": []},
        {"choices": [0, 0]},
        {"choices": [5]},
        {"text": "2"},
        {"choices": [0], "choice": 0},
    ],
    "type_answer": [{"text": ""}, {"text": "   "}, {"text": "x" * 101}, {"choice": 0}, {"value": 3}],
    "slider": [{"value": 1949}, {"value": 2000.5}, {"value": 1969.25}, {"choice": 0}, {"text": "1969"}],
    "poll": [{"choice": 3}, {"choices": [0, 1]}],
}


async def ask(conn: QuizConnection, question_id: str, **fields: Any) -> dict[str, Any]:
    reply = await conn.request("answer", {"questionId": question_id, **fields}, timeout=WAIT)
    assert reply["type"] == "answer_result", reply
    return reply["payload"]


async def seen(conn: QuizConnection, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """A message already received, or the next one, that ``predicate`` picks."""
    for message in conn.received:
        if predicate(message):
            return message
    return await until(conn, predicate)


def question_number(index: int) -> Callable[[dict[str, Any]], bool]:
    return lambda m: m["type"] == "question" and m["payload"]["index"] == index


def closed_number(index: int) -> Callable[[dict[str, Any]], bool]:
    return lambda m: m["type"] == "question_closed" and m["payload"]["questionId"] == f"q{index}"


async def test_one_question_of_each_kind(node_factory: Any) -> None:
    node = node_factory(definitions={"kinds": KINDS_TOML}, leaderboard={"interval_ms": 100})
    async with AsyncExitStack() as stack:
        quiz = await create_quiz(node, "kinds")
        host, _ = await join_host(stack, quiz)
        ann, joined = await join_player(stack, quiz, "Ann")
        ann_token = joined["payload"]["resumeToken"]
        bob, _ = await join_player(stack, quiz, "Bob")
        cai, _ = await join_player(stack, quiz, "Cai")  # never answers
        assert (await host.request("start", timeout=WAIT))["type"] == "host_state"
        reveals: list[dict[str, Any]] = []

        async def play(
            index: int, kind: str, adds: dict[str, Any], right: dict[str, Any], other: dict[str, Any]
        ) -> tuple[dict[str, Any], dict[str, Any]]:
            question = (await seen(ann, question_number(index)))["payload"]
            assert question["kind"] == kind and {k: question[k] for k in adds} == adds
            qid = question["questionId"]
            for shape in INVALID[kind]:
                await request_error(ann, "answer", {"questionId": qid, **shape}, "invalid_choice")
            first = await ask(ann, qid, **right)
            assert {k: first[k] for k in right} == right  # echoed as sent
            assert await ask(ann, qid, **right) == first  # safe retry
            second = await ask(bob, qid, **other)
            await host.request("next", {"questionIndex": index}, timeout=WAIT)
            reveal = (await seen(cai, closed_number(index)))["payload"]
            reveals.append(reveal)
            await host.request("next", {"questionIndex": index}, timeout=WAIT)
            return first, second

        ann_r, bob_r = await play(0, "single", {"choices": ["Venus", "Mars", "Jupiter"]}, {"choice": 1}, {"choice": 0})
        assert (ann_r["correct"], ann_r["points"], bob_r["correct"], bob_r["points"]) == (True, 1000, False, 0)
        assert reveals[-1] == {
            "questionId": "q0",
            "correctChoice": 1,
            "distribution": [1, 1, 0],
            "explanation": "Rust.",
        }

        ann_r, bob_r = await play(1, "true_false", {"choices": ["True", "False"]}, {"choice": 0}, {"choice": 1})
        assert (ann_r["correct"], ann_r["streak"], bob_r["correct"]) == (True, 2, False)
        assert reveals[-1] == {"questionId": "q1", "correctChoice": 0, "distribution": [1, 1]}

        # Multiple: Ann gets the exact set, Bob two of three (partly right); Ann resumes mid-question.
        question = (await seen(ann, question_number(2)))["payload"]
        assert question["pick"] == "many"
        first = await ask(ann, "q2", choices=[4, 2, 0])
        await ann.close()
        ann, rejoined = await resume(stack, quiz, ann_token)
        state = rejoined["payload"]["question"]
        assert (state["kind"], state["answered"], state["answer"]) == ("multiple", True, {"choices": [4, 2, 0]})
        assert "choice" not in state
        assert await ask(ann, "q2", choices=[0, 2, 4]) == first  # the same set is a retry
        await request_error(ann, "answer", {"questionId": "q2", "choices": [0, 2]}, "already_answered")
        for shape in INVALID["multiple"]:
            await request_error(bob, "answer", {"questionId": "q2", **shape}, "invalid_choice")
        partly = await ask(bob, "q2", choices=[0, 2])
        assert (first["correct"], first["points"], first["streak"]) == (True, 1000 + 200, 3)
        assert (partly["correct"], partly["points"], partly["streak"]) == (False, 666, 0)
        await host.request("next", {"questionIndex": 2}, timeout=WAIT)
        assert (await seen(cai, closed_number(2)))["payload"] == {
            "questionId": "q2",
            "correctChoices": [0, 2, 4],
            "distribution": [2, 0, 2, 0, 1],
        }
        await host.request("next", {"questionIndex": 2}, timeout=WAIT)

        ann_r, bob_r = await play(3, "type_answer", {"maxLength": 100}, {"text": " canbera "}, {"text": "Sydney"})
        assert (ann_r["correct"], bob_r["correct"], bob_r["text"]) == (True, False, "Sydney")
        assert reveals[-1] == {
            "questionId": "q3",
            "accepted": ["Canberra"],
            "correctCount": 1,
            "answers": [{"text": "canbera", "count": 1}, {"text": "sydney", "count": 1}],
        }

        ann_r, bob_r = await play(
            4, "slider", {"min": 1950, "max": 2000, "step": 0.5}, {"value": 1969.5}, {"value": 2000}
        )
        assert (ann_r["correct"], ann_r["value"], bob_r["correct"]) == (True, 1969.5, False)
        assert reveals[-1] == {
            "questionId": "q4",
            "correctValue": 1969,
            "tolerance": 1,
            "histogram": [0, 0, 0, 1, 0, 0, 0, 0, 0, 1],
            "median": 1984.75,
        }

        streak = ann_r["streak"]
        ann_r, bob_r = await play(5, "poll", {"scored": False}, {"choice": 2}, {"choice": 2})
        assert (ann_r["correct"], ann_r["points"], ann_r["streak"]) == (None, 0, streak)
        assert reveals[-1] == {"questionId": "q5", "correctChoice": None, "distribution": [0, 0, 2]}

        ended = await seen(cai, lambda m: m["type"] == "quiz_ended")
        assert ended["payload"]["leaderboard"][0]["name"] == "Ann"
        # leaderboard = "reveal": Cai saw one leaderboard right after each of the 6 reveals, none in between.
        types = [m["type"] for m in cai.received if m["type"] in ("leaderboard", "question_closed", "question")]
        assert types.count("leaderboard") == 6
        assert all(types[i - 1] == "question_closed" for i, t in enumerate(types) if t == "leaderboard")


async def test_leaderboard_end_hides_it_until_the_end(node_factory: Any) -> None:
    toml = KINDS_TOML.replace('leaderboard = "reveal"', 'leaderboard = "end"')
    node = node_factory(definitions={"kinds": toml}, leaderboard={"interval_ms": 100})
    async with AsyncExitStack() as stack:
        quiz = await create_quiz(node, "kinds")
        host, _ = await join_host(stack, quiz)
        ann, joined = await join_player(stack, quiz, "Ann")
        assert joined["payload"]["leaderboard"] == []
        await host.request("start", timeout=WAIT)
        await seen(ann, question_number(0))
        await ask(ann, "q0", choice=1)
        await request_error(ann, "get_leaderboard", {}, "wrong_phase")
        await host.request("next", {"questionIndex": 0}, timeout=WAIT)
        await seen(ann, closed_number(0))
        await host.request("end", timeout=WAIT)
        ended = await seen(ann, lambda m: m["type"] == "quiz_ended")
        assert ended["payload"]["you"]["rank"] == 1
        assert not [m for m in ann.received if m["type"] == "leaderboard"]
