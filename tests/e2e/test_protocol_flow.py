"""The wire contract's happy paths over real sockets: payload shapes, ordering and quiz life.

Quizzes are driven by the host's ``next`` (long time limits and reveals, countdown 0)
so nothing depends on a timer except where a timer is what is being tested.
"""

from __future__ import annotations

import time
from contextlib import AsyncExitStack
from typing import Any

import pytest
import trio

from tests.e2e.protocolkit import (
    ANSWER_RESULT_KEYS,
    ENTRY_KEYS,
    HOST_JOINED_KEYS,
    HOST_STATE_KEYS,
    PLAYER_JOINED_KEYS,
    QUESTION_KEYS,
    WAIT,
    alive,
    answer,
    closed_with,
    collect,
    create_quiz,
    join_host,
    join_player,
    joined_payload,
    now_ms,
    open_conn,
    request_error,
    resume,
    setup_quiz,
    start_quiz,
    types,
    until,
)

pytestmark = pytest.mark.e2e

ANSWER_KEYS = {"correctChoice", "correct", "answer"}


def keys_anywhere(value: Any) -> set[str]:
    """Every dict key at any depth of a decoded message."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            found.add(key)
            found |= keys_anywhere(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= keys_anywhere(inner)
    return found


def entries(board: list[dict[str, Any]]) -> list[tuple[int, str, int]]:
    for entry in board:
        assert set(entry) == ENTRY_KEYS, entry
    return [(e["rank"], e["name"], e["score"]) for e in board]


async def after(conn, msg_type: str, count: int) -> list[dict[str, Any]]:
    """Skip to ``msg_type`` and return it with the ``count - 1`` messages that follow it."""
    first = await conn.expect(msg_type, WAIT)
    return [first] + [await conn.recv(WAIT) for _ in range(count - 1)]


# ---------------------------------------------------------------------- joining
async def test_joined_payload_for_host_and_players(quizd_node):
    quiz = await create_quiz(quizd_node, "steady")
    async with AsyncExitStack() as stack:
        host, hj = await join_host(stack, quiz)
        assert "re" in hj
        p = hj["payload"]
        assert set(p) == HOST_JOINED_KEYS
        assert p["hostState"] == {
            "phase": "lobby",
            "questionIndex": None,
            "participants": 0,
            "connected": 0,
            "answered": 0,
        }
        assert abs(p["serverTime"] - time.time() * 1000) < 60_000
        assert p["quizId"] == quiz.id
        assert p["participantId"] == "host" and p["role"] == "host" and p["rank"] is None
        assert p["players"] == [] and p["playersTotal"] == 0 and p["playersNext"] is None
        assert isinstance(p["name"], str) and isinstance(p["resumeToken"], str)
        assert p["quiz"] == {"title": "Quiz steady", "questionCount": 3, "phase": "lobby", "questionIndex": None}
        assert (p["score"], p["streak"], p["participants"], p["leaderboard"], p["players"]) == (0, 0, 0, [], [])

        ann, aj = await join_player(stack, quiz, "Ann")
        a = aj["payload"]
        assert set(a) == PLAYER_JOINED_KEYS
        assert a["quizId"] == quiz.id and a["role"] == "player" and a["name"] == "Ann"
        assert a["participantId"] != "host" and a["resumeToken"] and a["resumeToken"] != quiz.host_token
        assert a["quiz"] == {"title": "Quiz steady", "questionCount": 3, "phase": "lobby", "questionIndex": None}
        assert (a["score"], a["streak"], a["rank"], a["participants"]) == (0, 0, 1, 1)
        assert entries(a["leaderboard"]) == [(1, "Ann", 0)]
        assert a["leaderboard"][0]["participantId"] == a["participantId"]

        bob, bj = await join_player(stack, quiz, "Bob")
        b = bj["payload"]
        assert b["participantId"] not in (a["participantId"], "host")
        assert b["participants"] == 2 and b["rank"] == 1
        assert entries(b["leaderboard"]) == [(1, "Ann", 0), (1, "Bob", 0)]

        for payload in (a, b):
            joined = await host.expect("player_joined", WAIT)
            assert joined["payload"] == {"participantId": payload["participantId"], "name": payload["name"]}
        await alive(ann)
        await alive(bob)


async def test_participants_broadcast_follows_joins_and_leaves(quizd_node):
    async with AsyncExitStack() as stack:
        _quiz, host, [ann, bob] = await setup_quiz(stack, quizd_node, "steady", ["Ann", "Bob"])
        for conn in (host, ann, bob):
            message = await until(conn, lambda m: m["type"] == "participants" and m["payload"]["count"] == 2)
            assert message["payload"] == {"count": 2}
        await bob.send("leave")
        assert (await closed_with(bob))[0] == 1000
        for conn in (host, ann):
            await until(conn, lambda m: m["type"] == "participants" and m["payload"]["count"] == 1)


# ---------------------------------------------------------------------- starting and questions
async def test_quiz_starting_then_question_fields(quizd_node):
    async with AsyncExitStack() as stack:
        quiz, host, [ann] = await setup_quiz(stack, quizd_node, "countdown", ["Ann"])
        state = await host.request("start", timeout=WAIT)
        assert state["type"] == "host_state" and state["payload"]["phase"] == "starting"
        starting = await ann.expect("quiz_starting", WAIT)
        assert set(starting["payload"]) == {"startsAt", "countdownMs"}
        assert starting["payload"]["countdownMs"] == 300
        starts_at = starting["payload"]["startsAt"]
        assert abs(starts_at - (now_ms() + 300)) < 1000
        # Joining during the countdown shows it.
        bob, bj = await join_player(stack, quiz, "Bob")
        assert bj["payload"]["quiz"]["phase"] == "starting"
        assert bj["payload"]["quiz"]["startsAt"] == starts_at

        question = await ann.expect("question", WAIT)
        received_at = now_ms()
        q = question["payload"]
        assert set(q) == QUESTION_KEYS
        assert received_at >= starts_at - 50  # the countdown was respected
        assert q["questionId"] == "q0" and q["index"] == 0 and q["total"] == 1
        assert q["text"] == "Question 0" and q["choices"] == ["a", "b", "c", "d"]
        assert q["timeLimitMs"] == 20000
        assert q["endsAt"] == q["startedAt"] + q["timeLimitMs"]
        assert abs(q["startedAt"] - starts_at) < 1000
        assert q["startedAt"] <= q["serverTime"] <= received_at + 1000
        bob_q = (await bob.expect("question", WAIT))["payload"]
        assert {k: bob_q[k] for k in ("questionId", "startedAt", "endsAt")} == {
            k: q[k] for k in ("questionId", "startedAt", "endsAt")
        }
        host_q = (await host.expect("question", WAIT))["payload"]
        assert host_q["questionId"] == "q0"


async def test_the_correct_choice_is_never_sent_before_the_close(quizd_node):
    async with AsyncExitStack() as stack:
        quiz, host, [ann, bob] = await setup_quiz(stack, quizd_node, "steady-close", ["Ann", "Bob"])
        await start_quiz(host, [ann, bob])
        accepted = await answer(ann, "q0", 0)
        assert accepted["type"] == "answer_accepted"
        assert accepted["payload"] == {"questionId": "q0", "choice": 0}
        late, lj = await join_player(stack, quiz, "Late")
        assert lj["payload"]["question"]["answered"] is False
        _, resumed = await resume(stack, quiz, joined_payload(ann)["resumeToken"])
        resumed_q = resumed["payload"]["question"]
        assert (resumed_q["answered"], resumed_q["choice"]) == (True, 0)
        await host.request("get_leaderboard", timeout=WAIT)
        await bob.request("get_leaderboard", timeout=WAIT)
        before_close = host.received + ann.received + bob.received + late.received + [resumed]
        for message in before_close:
            payload = dict(message["payload"])
            if message is resumed:
                question = dict(payload["question"])
                assert question.pop("answer") == {"choice": 0}  # v2: Ann's own answer echoed, not the key
                payload["question"] = question
            assert not keys_anywhere(payload) & ANSWER_KEYS, message
        await host.request("next", {"questionIndex": 0}, timeout=WAIT)
        closed = await bob.expect("question_closed", WAIT)
        assert closed["payload"] == {"questionId": "q0", "correctChoice": 0, "distribution": [1, 0, 0, 0]}


async def test_on_answer_result_fields_and_streaks(quizd_node):
    async with AsyncExitStack() as stack:
        _quiz, host, [ann, bob] = await setup_quiz(stack, quizd_node, "steady", ["Ann", "Bob"])
        await start_quiz(host, [ann, bob])
        result = await answer(ann, "q0", 0)
        r = result["payload"]
        assert result["type"] == "answer_result" and set(r) == ANSWER_RESULT_KEYS
        assert (r["questionId"], r["choice"], r["correct"], r["streak"], r["rank"]) == ("q0", 0, True, 1, 1)
        assert 900 < r["points"] <= 1000 and r["score"] == r["points"]
        wrong = (await answer(bob, "q0", 3))["payload"]
        assert (wrong["correct"], wrong["points"], wrong["score"]) == (False, 0, 0)
        assert (wrong["streak"], wrong["rank"]) == (0, 2)
        await host.request("next", {"questionIndex": 0}, timeout=WAIT)
        await host.request("next", {"questionIndex": 0}, timeout=WAIT)
        await ann.expect("question", WAIT)
        second = (await answer(ann, "q1", 1))["payload"]
        assert second["correct"] is True and second["streak"] == 2
        assert 1000 < second["points"] <= 1100  # streak bonus 100 * (2 - 1)
        assert second["score"] == r["score"] + second["points"]
        # The host never gets answer replies.
        await host.request("next", {"questionIndex": 1}, timeout=WAIT)
        await ann.expect("question_closed", WAIT)
        assert "question_closed" in types(host.received)
        assert not {"answer_result", "answer_accepted"} & set(types(host.received))


async def test_on_close_order_closed_then_result_then_leaderboard(quizd_node):
    async with AsyncExitStack() as stack:
        _quiz, host, [ann, bob] = await setup_quiz(stack, quizd_node, "steady-close", ["Ann", "Bob"])
        await start_quiz(host, [ann, bob])
        accepted = await ann.request("answer", {"questionId": "q0", "choice": 0}, timeout=WAIT)
        assert accepted["type"] == "answer_accepted"
        await host.request("next", {"questionIndex": 0}, timeout=WAIT)

        closed, result, board = await after(ann, "question_closed", 3)
        assert closed["payload"]["correctChoice"] == 0
        assert result["type"] == "answer_result" and result["re"] == accepted["re"]
        r = result["payload"]
        assert set(r) == ANSWER_RESULT_KEYS
        assert (r["questionId"], r["choice"], r["correct"], r["streak"], r["rank"]) == ("q0", 0, True, 1, 1)
        assert r["score"] == r["points"] > 0
        assert board["type"] == "leaderboard" and "re" not in board
        assert entries(board["payload"]["top"]) == [(1, "Ann", r["score"]), (2, "Bob", 0)]
        assert board["payload"]["total"] == 2

        # Bob did not answer: no answer_result, straight to the leaderboard.
        closed, board = await after(bob, "question_closed", 2)
        assert board["type"] == "leaderboard"
        assert "question_closed" in types(host.received)  # the host saw it before its host_state
        await host.request("next", {"questionIndex": 0}, timeout=WAIT)  # on to q1
        await bob.expect("question", WAIT)
        assert "answer_result" not in types(bob.received)
        assert "answer_result" not in types(host.received)


async def test_on_close_result_rank_agrees_with_the_leaderboard_that_follows(quizd_node):
    async with AsyncExitStack() as stack:
        _quiz, host, [ann, bob] = await setup_quiz(stack, quizd_node, "flat-close", ["Ann", "Bob"])
        await start_quiz(host, [ann, bob])
        await answer(bob, "q0", 0)  # right: Bob 1
        await answer(ann, "q0", 1)  # wrong: Ann 0
        await host.request("next", {"questionIndex": 0}, timeout=WAIT)
        await host.request("next", {"questionIndex": 0}, timeout=WAIT)
        await ann.expect("question", WAIT)
        await bob.expect("question", WAIT)
        await answer(ann, "q1", 1)  # right, first: Ann 1, level with Bob for a moment
        await answer(bob, "q1", 1)  # right, second: Bob 2
        await host.request("next", {"questionIndex": 1}, timeout=WAIT)
        _, result, board = await after(ann, "question_closed", 3)
        assert entries(board["payload"]["top"]) == [(1, "Bob", 2), (2, "Ann", 1)]
        assert result["payload"]["score"] == 1
        assert result["payload"]["rank"] == 2, result


async def test_a_missed_question_resets_the_streak(quizd_node):
    async with AsyncExitStack() as stack:
        _quiz, host, [ann] = await setup_quiz(stack, quizd_node, "steady", ["Ann"])
        await start_quiz(host, [ann])
        assert (await answer(ann, "q0", 0))["payload"]["streak"] == 1
        for index in (0, 1):  # close q0, open q1, close q1 unanswered, open q2
            await host.request("next", {"questionIndex": index}, timeout=WAIT)
            await host.request("next", {"questionIndex": index}, timeout=WAIT)
        await until(ann, lambda m: m["type"] == "question" and m["payload"]["index"] == 2)
        assert [m["type"] for m in ann.received].count("answer_result") == 1  # none for q1
        third = (await answer(ann, "q2", 2))["payload"]
        assert third["correct"] is True and third["streak"] == 1
        assert third["points"] <= 1000  # no streak bonus


async def test_get_leaderboard_and_ping(quizd_node):
    async with AsyncExitStack() as stack:
        _quiz, host, [ann, bob] = await setup_quiz(stack, quizd_node, "steady", ["Ann", "Bob"])
        await start_quiz(host, [ann, bob])
        score = (await answer(bob, "q0", 0))["payload"]["score"]
        board = await bob.request("get_leaderboard", timeout=WAIT)
        assert board["type"] == "leaderboard"
        assert set(board["payload"]) == {"top", "total", "you"}
        assert board["payload"]["you"] == {"rank": 1, "score": score}
        assert board["payload"]["total"] == 2
        assert entries(board["payload"]["top"]) == [(1, "Bob", score), (2, "Ann", 0)]
        ann_board = await ann.request("get_leaderboard", timeout=WAIT)
        assert ann_board["payload"]["you"] == {"rank": 2, "score": 0}
        for conn in (ann, host):
            before = now_ms()
            pong = await conn.request("ping", timeout=WAIT)
            assert pong["type"] == "pong" and set(pong["payload"]) == {"serverTime"}
            assert before - 1000 <= pong["payload"]["serverTime"] <= now_ms() + 1000
        await ann.send("ping", msg_id="text-id")
        assert (await ann.expect("pong", WAIT))["re"] == "text-id"


async def test_leaderboard_ties_share_competition_rank(quizd_node):
    async with AsyncExitStack() as stack:
        _quiz, host, players = await setup_quiz(stack, quizd_node, "flat", ["Ann", "Bob", "Cat", "Dan"])
        ann, bob, cat, dan = players
        await start_quiz(host, players)
        assert (await answer(ann, "q0", 0))["payload"]["rank"] == 1
        bob_result = (await answer(bob, "q0", 0))["payload"]
        assert (bob_result["score"], bob_result["rank"]) == (1, 1)
        assert (await answer(cat, "q0", 2))["payload"]["rank"] == 3
        await host.request("next", {"questionIndex": 0}, timeout=WAIT)
        _, board = await after(dan, "question_closed", 2)
        # Equal scores share a rank; among them, whoever reached the score first is first.
        assert entries(board["payload"]["top"]) == [(1, "Ann", 1), (1, "Bob", 1), (3, "Cat", 0), (3, "Dan", 0)]
        assert (await dan.request("get_leaderboard", timeout=WAIT))["payload"]["you"] == {"rank": 3, "score": 0}

        await host.request("next", {"questionIndex": 0}, timeout=WAIT)
        for conn in players:
            await conn.expect("question", WAIT)
        assert (await answer(cat, "q1", 1))["payload"]["rank"] == 1
        await host.request("next", {"questionIndex": 1}, timeout=WAIT)
        _, board = await after(ann, "question_closed", 2)
        assert entries(board["payload"]["top"]) == [(1, "Ann", 1), (1, "Bob", 1), (1, "Cat", 1), (4, "Dan", 0)]


# ---------------------------------------------------------------------- leaving and kicking
async def test_leave_closes_1000_tells_the_host_and_frees_the_name(quizd_node):
    async with AsyncExitStack() as stack:
        quiz, host, [ann, bob] = await setup_quiz(stack, quizd_node, "steady", ["Ann", "Bob"])
        ann_joined = joined_payload(ann)
        await ann.send("leave")
        code, _ = await closed_with(ann)
        assert code == 1000
        left = await host.expect("player_left", WAIT)
        assert left["payload"] == {"participantId": ann_joined["participantId"], "name": "Ann"}
        again, aj = await join_player(stack, quiz, "ann")
        assert aj["payload"]["participantId"] != ann_joined["participantId"]
        conn = await open_conn(stack, quizd_node)
        await request_error(
            conn, "join", {"quizId": quiz.id, "resumeToken": ann_joined["resumeToken"]}, "invalid_resume_token"
        )
        board = await bob.request("get_leaderboard", timeout=WAIT)
        assert [e["name"] for e in board["payload"]["top"]] == ["Bob", "ann"]
        assert board["payload"]["total"] == 2
        await start_quiz(host, [bob, again])


async def test_kick_sends_kicked_then_4001_and_tells_the_host(quizd_node):
    async with AsyncExitStack() as stack:
        quiz, host, [ann, bob] = await setup_quiz(stack, quizd_node, "steady", ["Ann", "Bob"])
        await start_quiz(host, [ann, bob])
        bob_id = joined_payload(bob)["participantId"]
        state = await host.request("kick", {"participantId": bob_id}, timeout=WAIT)
        assert state["type"] == "host_state" and state["payload"]["participants"] == 1
        code, before = await closed_with(bob)
        assert code == 4001
        assert before[-1]["type"] == "kicked" and set(before[-1]["payload"]) == {"reason"}
        left = await host.expect("player_left", WAIT)
        assert left["payload"] == {"participantId": bob_id, "name": "Bob"}
        assert (await answer(ann, "q0", 0))["payload"]["correct"] is True
        board = await ann.request("get_leaderboard", timeout=WAIT)
        assert board["payload"]["total"] == 1
        # The name is free again.
        _, again = await join_player(stack, quiz, "BOB")
        assert again["payload"]["participantId"] != bob_id


# ---------------------------------------------------------------------- host commands
async def test_every_host_command_is_answered_with_host_state(quizd_node):
    async with AsyncExitStack() as stack:
        _quiz, host, [ann, bob] = await setup_quiz(stack, quizd_node, "steady", ["Ann", "Bob"])

        async def command(msg_type, payload=None):
            reply = await host.request(msg_type, payload, timeout=WAIT)
            assert reply["type"] == "host_state", reply
            assert set(reply["payload"]) == HOST_STATE_KEYS
            return reply["payload"]

        state = await command("start")
        assert state == {"phase": "starting", "questionIndex": None, "participants": 2, "connected": 2, "answered": 0}
        await ann.expect("question", WAIT)
        await answer(ann, "q0", 0)
        state = await command("next", {"questionIndex": 0})
        assert state == {"phase": "reveal", "questionIndex": 0, "participants": 2, "connected": 2, "answered": 1}
        state = await command("next")
        assert (state["phase"], state["questionIndex"], state["answered"]) == ("question", 1, 0)
        state = await command("kick", {"participantId": joined_payload(bob)["participantId"]})
        assert (state["participants"], state["connected"]) == (1, 1)
        state = await command("end")
        assert state["phase"] == "ended"
        assert (await closed_with(host))[0] == 4004


async def test_next_drives_the_quiz_to_its_end(quizd_node):
    async with AsyncExitStack() as stack:
        quiz, host, [ann] = await setup_quiz(stack, quizd_node, "steady", ["Ann"])
        await start_quiz(host, [ann])
        for index in range(3):
            with trio.fail_after(2):  # time limit is 20 s and reveal 30 s: only `next` can do this
                await host.request("next", {"questionIndex": index})
                closed = await ann.expect("question_closed")
                assert closed["payload"]["questionId"] == f"q{index}"
                await host.request("next", {"questionIndex": index})
                if index < 2:
                    question = await ann.expect("question")
                    assert question["payload"]["index"] == index + 1
        code, before = await closed_with(ann)
        assert code == 4004
        assert before[-1]["type"] == "quiz_ended"
        ended = before[-1]["payload"]
        assert set(ended) == {"leaderboard", "total", "you"}
        assert ended["you"] == {"rank": 1, "score": 0} and ended["total"] == 1
        code, _ = await closed_with(host)
        assert code == 4004 and "quiz_ended" in types(host.received)
        assert (await quiz.control.quiz(quiz.id))["phase"] == "ended"


async def test_reveal_advances_by_itself_after_reveal_ms(quizd_node):
    async with AsyncExitStack() as stack:
        _quiz, host, [ann] = await setup_quiz(stack, quizd_node, "quick", ["Ann"])
        await start_quiz(host, [ann])
        await host.request("next", {"questionIndex": 0}, timeout=WAIT)
        await ann.expect("question_closed", WAIT)
        with trio.fail_after(2):  # reveal_ms is 150
            question = await ann.expect("question")
        assert question["payload"]["index"] == 1
        await host.request("next", {"questionIndex": 1}, timeout=WAIT)
        with trio.fail_after(2):
            code, before = await closed_with(ann)
        assert code == 4004 and types(before)[-1] == "quiz_ended"


async def test_end_closes_the_open_question_then_quiz_ended_and_4004(quizd_node):
    async with AsyncExitStack() as stack:
        quiz, host, [ann, bob] = await setup_quiz(stack, quizd_node, "steady", ["Ann", "Bob"])
        await start_quiz(host, [ann, bob])
        score = (await answer(ann, "q0", 0))["payload"]["score"]
        await host.request("end", timeout=WAIT)
        for conn, you in ((ann, {"rank": 1, "score": score}), (bob, {"rank": 2, "score": 0})):
            code, before = await closed_with(conn)
            assert code == 4004
            kinds = types(before)
            assert kinds.index("question_closed") < kinds.index("quiz_ended") == len(kinds) - 1
            ended = before[-1]["payload"]
            assert ended["you"] == you and ended["total"] == 2
            assert entries(ended["leaderboard"]) == [(1, "Ann", score), (2, "Bob", 0)]
        code, _ = await closed_with(host)
        assert code == 4004
        host_ended = next(m for m in host.received if m["type"] == "quiz_ended")["payload"]
        assert set(host_ended) == {"leaderboard", "total"}
        results = await quiz.control.results(quiz.id)
        assert results["phase"] == "ended" and [q["questionId"] for q in results["questions"]] == ["q0"]


async def test_question_closes_by_itself_at_ends_at(quizd_node):
    async with AsyncExitStack() as stack:
        _quiz, host, [ann, bob] = await setup_quiz(stack, quizd_node, "timed", ["Ann", "Bob"])
        question = await start_quiz(host, [ann, bob])
        assert question["endsAt"] == question["startedAt"] + 1000
        accepted = await answer(ann, "q0", 0)
        assert accepted["type"] == "answer_accepted"
        _closed, result, board = await after(ann, "question_closed", 3)
        closed_at = now_ms()
        assert question["endsAt"] - 100 <= closed_at <= question["endsAt"] + 1500
        assert result["type"] == "answer_result" and result["re"] == accepted["re"]
        assert board["type"] == "leaderboard"
        await bob.expect("question_closed", WAIT)
        await request_error(bob, "answer", {"questionId": "q0", "choice": 0}, "question_closed")


async def test_auto_start_when_min_players_joined(quizd_node):
    # The definition's countdown is 60 s: only autoStart.countdownMs = 0 lets the question come.
    quiz = await create_quiz(quizd_node, "slow-start", auto_start={"minPlayers": 2, "countdownMs": 0})
    async with AsyncExitStack() as stack:
        host, _ = await join_host(stack, quiz)
        ann, _ = await join_player(stack, quiz, "Ann")
        assert "quiz_starting" not in types(await collect(ann, 0.3))
        assert (await quiz.control.quiz(quiz.id))["phase"] == "lobby"
        bob, _ = await join_player(stack, quiz, "Bob")
        for conn in (ann, bob, host):
            starting = await conn.expect("quiz_starting", WAIT)
            assert starting["payload"]["countdownMs"] == 0
            with trio.fail_after(2):
                question = await conn.expect("question")
            assert question["payload"]["questionId"] == "q0"
        assert (await answer(bob, "q0", 0))["payload"]["correct"] is True


async def test_close_when_all_connected_players_answered(quizd_node):
    async with AsyncExitStack() as stack:
        _quiz, host, [ann, bob, cat] = await setup_quiz(stack, quizd_node, "all-answered", ["Ann", "Bob", "Cat"])
        await start_quiz(host, [ann, bob, cat])
        await cat.close()  # Cat drops: only connected players are waited for
        await until(host, lambda m: m["type"] == "host_state" and m["payload"]["connected"] == 2)
        await answer(ann, "q0", 0)
        assert "question_closed" not in types(await collect(bob, 0.3))
        with trio.fail_after(2):  # the time limit is 20 s
            result = await answer(bob, "q0", 1)
            assert result["type"] == "answer_result"
            closed = await bob.expect("question_closed")
        assert closed["payload"]["distribution"] == [1, 1, 0, 0]
        await ann.expect("question_closed", WAIT)


async def test_leaving_can_complete_close_when_all_answered(quizd_node):
    async with AsyncExitStack() as stack:
        _quiz, host, [ann, bob] = await setup_quiz(stack, quizd_node, "all-answered", ["Ann", "Bob"])
        await start_quiz(host, [ann, bob])
        await answer(ann, "q0", 0)
        await bob.send("leave")
        assert (await closed_with(bob))[0] == 1000
        with trio.fail_after(2):
            closed = await ann.expect("question_closed")
        assert closed["payload"]["distribution"] == [1, 0, 0, 0]


async def test_leaderboard_top_holds_at_most_top_n(quizd_node):
    names = [f"P{i:02d}" for i in range(11)]
    async with AsyncExitStack() as stack:
        _quiz, host, players = await setup_quiz(stack, quizd_node, "steady", names)
        assert len(joined_payload(players[-1])["leaderboard"]) == 10
        board = (await players[-1].request("get_leaderboard", timeout=WAIT))["payload"]
        assert len(board["top"]) == 10 and board["total"] == 11
        assert board["you"] == {"rank": 1, "score": 0}
        await start_quiz(host, players)
        score = (await answer(players[-1], "q0", 0))["payload"]["score"]
        await host.request("next", {"questionIndex": 0}, timeout=WAIT)
        _, board = await after(players[0], "question_closed", 2)
        assert entries(board["payload"]["top"])[0] == (1, "P10", score)
        assert [e["rank"] for e in board["payload"]["top"]] == [1] + [2] * 9
        assert board["payload"]["total"] == 11


# ---------------------------------------------------------------------- late joins and resumes
async def test_late_join_during_a_question(quizd_node):
    async with AsyncExitStack() as stack:
        quiz, host, [ann] = await setup_quiz(stack, quizd_node, "steady", ["Ann"])
        broadcast = await start_quiz(host, [ann])
        late, lj = await join_player(stack, quiz, "Late")
        p = lj["payload"]
        assert set(p) == PLAYER_JOINED_KEYS | {"question"}
        assert p["quiz"]["phase"] == "question" and p["quiz"]["questionIndex"] == 0 and "startsAt" in p["quiz"]
        q = p["question"]
        assert set(q) == QUESTION_KEYS | {"answered"}
        assert q["answered"] is False
        assert (q["questionId"], q["startedAt"], q["endsAt"]) == (
            broadcast["questionId"],
            broadcast["startedAt"],
            broadcast["endsAt"],
        )
        assert q["serverTime"] >= broadcast["serverTime"]
        assert (p["score"], p["streak"], p["participants"]) == (0, 0, 2)
        assert (await answer(late, "q0", 0))["payload"]["correct"] is True


async def test_resume_during_a_question_after_answering(quizd_node):
    async with AsyncExitStack() as stack:
        quiz, host, [ann, bob] = await setup_quiz(stack, quizd_node, "steady", ["Ann", "Bob"])
        await start_quiz(host, [ann, bob])
        first = await answer(ann, "q0", 2)
        token = joined_payload(ann)["resumeToken"]
        await ann.close()
        back, rj = await resume(stack, quiz, token)
        q = rj["payload"]["question"]
        assert (q["questionId"], q["answered"], q["choice"]) == ("q0", True, 2)
        assert set(q) == QUESTION_KEYS | {"answered", "choice", "answer"} and q["answer"] == {"choice": 2}
        again = await answer(back, "q0", 2)
        assert again["payload"] == first["payload"]
        # Resuming during the reveal shows the reveal.
        await host.request("next", {"questionIndex": 0}, timeout=WAIT)
        closed = await bob.expect("question_closed", WAIT)
        await back.close()
        _, rj = await resume(stack, quiz, token)
        assert "question" not in rj["payload"]
        # The question_closed payload, plus the question and this player's own result.
        reveal = rj["payload"]["reveal"]
        assert {k: reveal[k] for k in closed["payload"]} == closed["payload"]
        assert (reveal["index"], reveal["text"], reveal["choices"]) == (0, "Question 0", ["a", "b", "c", "d"])
        assert reveal["result"] == first["payload"]
        assert rj["payload"]["quiz"]["phase"] == "reveal"


async def test_resume_keeps_score_and_streak(quizd_node):
    async with AsyncExitStack() as stack:
        quiz, host, [ann, bob] = await setup_quiz(stack, quizd_node, "steady", ["Ann", "Bob"])
        ann_joined = joined_payload(ann)
        await start_quiz(host, [ann, bob])
        r = (await answer(ann, "q0", 0))["payload"]
        await host.request("next", {"questionIndex": 0}, timeout=WAIT)
        await ann.close()
        back, rj = await resume(stack, quiz, ann_joined["resumeToken"])
        p = rj["payload"]
        assert (p["participantId"], p["name"], p["role"]) == (ann_joined["participantId"], "Ann", "player")
        assert (p["score"], p["streak"], p["rank"]) == (r["score"], 1, 1)
        assert p["resumeToken"] == ann_joined["resumeToken"]
        await host.request("next", {"questionIndex": 0}, timeout=WAIT)
        await back.expect("question", WAIT)
        second = (await answer(back, "q1", 1))["payload"]
        assert second["streak"] == 2 and second["score"] == r["score"] + second["points"]


async def test_a_newer_connection_of_the_same_player_replaces_the_older(quizd_node):
    async with AsyncExitStack() as stack:
        quiz, host, [ann] = await setup_quiz(stack, quizd_node, "steady", ["Ann"])
        newer, nj = await resume(stack, quiz, joined_payload(ann)["resumeToken"])
        assert nj["payload"]["participantId"] == joined_payload(ann)["participantId"]
        code, _ = await closed_with(ann)
        assert code == 4002
        await trio.sleep(0.1)  # let the old connection's end reach the quiz
        state = await host.request("start", timeout=WAIT)
        assert (state["payload"]["participants"], state["payload"]["connected"]) == (1, 1)
        await newer.expect("question", WAIT)
        assert (await answer(newer, "q0", 0))["payload"]["correct"] is True


async def test_the_host_reconnects_with_its_host_token(quizd_node):
    async with AsyncExitStack() as stack:
        quiz, host, [ann, bob] = await setup_quiz(stack, quizd_node, "steady", ["Ann", "Bob"])
        await bob.close()
        await until(host, lambda m: m["type"] == "host_state" and m["payload"]["connected"] == 1)
        again, hj = await join_host(stack, quiz)
        p = hj["payload"]
        assert (p["participantId"], p["role"], p["rank"]) == ("host", "host", None)
        by_id = lambda rows: sorted(rows, key=lambda row: row["participantId"])  # noqa: E731
        assert by_id(p["players"]) == by_id(
            [
                {"participantId": joined_payload(ann)["participantId"], "name": "Ann", "connected": True},
                {"participantId": joined_payload(bob)["participantId"], "name": "Bob", "connected": False},
            ]
        )
        assert (await closed_with(host))[0] == 4002
        state = await again.request("start", timeout=WAIT)
        assert state["type"] == "host_state"
        await ann.expect("question", WAIT)
        await again.expect("question", WAIT)
