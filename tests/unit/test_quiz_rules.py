"""QuizGame, the sans-IO state machine: protocol.md §1.1-1.3 rule by rule.

Timeline used by most tests (plain float seconds): the game is created at 0.0, the host
starts at 1.0, the countdown is 3 s so question 0 opens at 4.0; each question has a
20 s limit (closes at 24.0) and the reveal lasts 3 s.  With no delivery layer in these
tests nobody has a recorded hand-off, so every window starts at the question's opening.
"""

from __future__ import annotations

from typing import Any

import pytest

from quizd.game import effects as fx
from quizd.game.quiz import AutoStart, GameSettings, QuizGame
from quizd.protocol import errors as E
from quizd.protocol.errors import ProtocolError

from .quizkit import (
    HOST_TOKEN,
    broadcast,
    broadcasts,
    closes,
    end,
    kick,
    kinds,
    make_game,
    next_,
    replies,
    reply,
    start,
)

START = 1.0
Q0 = 4.0  # question 0 opens
LIMIT = 20.0
Q0_END = Q0 + LIMIT
REVEAL = 3.0
Q1 = Q0_END + REVEAL


def lobby(players: tuple[str, ...] = ("Ann", "Bob"), **kw: Any) -> QuizGame:
    game = make_game(**kw)
    game.resume(HOST_TOKEN, 0.0, host=True)
    for name in players:
        game.join_player(name, 0.0)
    return game


def playing(players: tuple[str, ...] = ("Ann", "Bob"), **kw: Any) -> QuizGame:
    """Question 0 is open (since ``Q0``)."""
    game = lobby(players, **kw)
    start(game, START)
    game.tick(Q0)
    assert game.phase == "question"
    return game


def refused(code: str, fn: Any, *args: Any, **kwargs: Any) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        fn(*args, **kwargs)
    assert info.value.code == code, info.value
    return info.value


def joined(result: Any) -> dict[str, Any]:
    return reply(result.effects, result.participant_id, "joined").payload


# ====================================================================== joins
class TestJoin:
    def test_player_gets_joined_with_full_payload(self):
        game = lobby(players=())
        result = game.join_player("Ann", 0.5, reply_to="j1")
        assert result.participant_id == "p1"
        r = reply(result.effects, "p1", "joined")
        assert r.reply_to == "j1"
        p = r.payload
        assert p["quizId"] == "quiz-1"
        assert p["participantId"] == "p1"
        assert p["role"] == "player"
        assert p["name"] == "Ann"
        assert isinstance(p["resumeToken"], str) and p["resumeToken"]
        assert p["quiz"] == {"title": "Test quiz", "questionCount": 3, "phase": "lobby", "questionIndex": None}
        assert (p["score"], p["streak"], p["rank"], p["participants"]) == (0, 0, 1, 1)
        assert p["leaderboard"] == [{"rank": 1, "participantId": "p1", "name": "Ann", "score": 0}]
        assert "question" not in p and "reveal" not in p and "players" not in p and "hostState" not in p
        assert p["serverTime"] == 500  # wall ms of the join (the test clock's offset is 0)

    def test_question_index_is_none_before_first_question(self):
        game = lobby()
        start(game, START)
        assert joined(game.join_player("Cat", 2.0))["quiz"]["questionIndex"] is None

    def test_joined_during_countdown_has_starts_at(self):
        game = lobby()
        start(game, START)
        quiz = joined(game.join_player("Cat", 2.0))["quiz"]
        assert quiz["phase"] == "starting"
        assert quiz["startsAt"] == round(START * 1000) + 3000

    def test_host_is_told_of_new_player(self):
        game = lobby(players=())
        result = game.join_player("Ann", 0.5)
        assert reply(result.effects, "host", "player_joined").payload == {"participantId": "p1", "name": "Ann"}

    def test_name_is_trimmed_and_nfc_normalised(self):
        game = lobby(players=())
        assert joined(game.join_player("  Zoe\u0301 ", 0.5))["name"] == "Zo\u00e9"

    @pytest.mark.parametrize("name", ["", "   ", "a" * 25, "An\u200bn", "\x07bell", "\ue000", "\u0378"])
    def test_invalid_name_is_name_invalid(self, name):
        game = lobby(players=())
        refused(E.NAME_INVALID, game.join_player, name, 0.5)
        assert game.player_count == 0

    @pytest.mark.parametrize("other", ["Ann", "ANN", " ann ", "ＡＮＮ"])
    def test_name_taken_compares_nfkc_casefolded(self, other):
        game = lobby(players=("Ann",))
        refused(E.NAME_TAKEN, game.join_player, other, 0.5)
        assert game.player_count == 1

    def test_name_taken_sharp_s(self):
        game = lobby(players=("Straße",))
        refused(E.NAME_TAKEN, game.join_player, "STRASSE", 0.5)

    def test_name_frees_up_on_leave(self):
        game = lobby(players=("Ann",))
        game.leave("p1", 0.5)
        assert joined(game.join_player("ann", 0.6))["name"] == "ann"

    def test_name_frees_up_on_kick(self):
        game = lobby(players=("Ann",))
        kick(game, "p1", 0.5)
        assert joined(game.join_player("ANN", 0.6))["name"] == "ANN"

    def test_quiz_full(self):
        game = lobby(players=("Ann", "Bob"), settings=GameSettings(max_players=2))
        refused(E.QUIZ_FULL, game.join_player, "Cat", 0.5)

    def test_host_does_not_count_towards_max_players(self):
        game = lobby(players=("Ann",), settings=GameSettings(max_players=2))
        assert game.join_player("Bob", 0.5).participant_id == "p2"

    def test_quiz_full_frees_a_slot_when_a_player_leaves(self):
        game = lobby(players=("Ann", "Bob"), settings=GameSettings(max_players=2))
        game.leave("p1", 0.5)
        assert game.join_player("Cat", 0.6).participant_id == "p3"

    def test_disconnected_players_still_count_towards_max_players(self):
        game = lobby(players=("Ann", "Bob"), settings=GameSettings(max_players=2))
        game.disconnected("p1", 0.5)
        refused(E.QUIZ_FULL, game.join_player, "Cat", 0.6)

    def test_late_join_allowed_during_question(self):
        game = playing()
        p = joined(game.join_player("Cat", Q0 + 5))
        assert (p["score"], p["streak"]) == (0, 0)
        assert p["quiz"]["phase"] == "question"
        assert p["question"]["questionId"] == "q0"
        assert p["question"]["answered"] is False

    @pytest.mark.parametrize("when", ["starting", "question", "reveal"])
    def test_late_join_refused_when_quiz_disallows_it(self, when):
        game = lobby(allow_late_join=False)
        start(game, START)
        if when != "starting":
            game.tick(Q0)
        if when == "reveal":
            game.tick(Q0_END)
        assert game.phase == when
        refused(E.WRONG_PHASE, game.join_player, "Cat", game.deadline or Q0)

    def test_late_join_refused_does_not_stop_resume(self):
        game = lobby(allow_late_join=False)
        token = game.participants["p1"].token
        start(game, START)
        game.tick(Q0)
        assert game.resume(token, Q0 + 1).participant_id == "p1"

    def test_join_on_ended_quiz_is_quiz_ended(self):
        game = lobby()
        end(game, 0.5)
        refused(E.QUIZ_ENDED, game.join_player, "Cat", 0.6)

    def test_resume_on_ended_quiz_is_quiz_ended(self):
        game = lobby()
        token = game.participants["p1"].token
        end(game, 0.5)
        refused(E.QUIZ_ENDED, game.resume, token, 0.6)

    def test_bad_host_token_is_not_host(self):
        game = lobby()
        refused(E.NOT_HOST, game.resume, "nope", 0.5, host=True)

    def test_player_token_as_host_token_is_not_host(self):
        game = lobby()
        refused(E.NOT_HOST, game.resume, game.participants["p1"].token, 0.5, host=True)

    def test_bad_resume_token_is_invalid_resume_token(self):
        game = lobby()
        refused(E.INVALID_RESUME_TOKEN, game.resume, "nope", 0.5)

    def test_host_joined_payload(self):
        game = lobby()
        game.disconnected("p2", 0.4)
        result = game.resume(HOST_TOKEN, 0.5, reply_to=7, host=True)
        assert result.participant_id == "host"
        r = reply(result.effects, "host", "joined")
        assert r.reply_to == 7
        p = r.payload
        assert p["role"] == "host"
        assert p["participantId"] == "host"
        assert p["rank"] is None
        assert p["participants"] == 2
        assert p["players"] == [
            {"participantId": "p1", "name": "Ann", "connected": True},
            {"participantId": "p2", "name": "Bob", "connected": False},
        ]
        # A screen that comes back draws the live figures at once, not at the next change.
        assert p["hostState"] == {
            "phase": "lobby",
            "questionIndex": None,
            "participants": 2,
            "connected": 1,
            "answered": 0,
        }

    def test_resume_restores_score_and_streak(self):
        game = playing()
        game.answer("p1", "q0", 0, Q0 + 5)  # correct, 875
        token = game.participants["p1"].token
        game.disconnected("p1", Q0 + 6)
        p = joined(game.resume(token, Q0 + 7, reply_to="r"))
        assert p["participantId"] == "p1"
        assert p["name"] == "Ann"
        assert p["resumeToken"] == token
        assert (p["score"], p["streak"], p["rank"]) == (875, 1, 1)

    def test_resume_during_open_question_shows_answer(self):
        game = playing()
        game.answer("p1", "q0", 2, Q0 + 5)
        p = joined(game.resume(game.participants["p1"].token, Q0 + 6))
        q = p["question"]
        assert (q["questionId"], q["index"], q["answered"], q["choice"]) == ("q0", 0, True, 2)
        assert q["answer"] == {"choice": 2} and "correctChoice" not in q  # the echo (v2), never the key

    def test_joined_during_question_has_question_payload(self):
        game = playing()
        q = joined(game.resume(game.participants["p2"].token, Q0 + 6))["question"]
        assert q["answered"] is False and "choice" not in q
        assert q["timeLimitMs"] == 20000
        assert q["startedAt"] == round(Q0 * 1000)
        assert q["endsAt"] == round(Q0 * 1000) + 20000
        assert q["serverTime"] == round((Q0 + 6) * 1000)

    def test_joined_during_reveal_has_reveal(self):
        game = playing()
        game.answer("p1", "q0", 0, Q0 + 1)
        game.tick(Q0_END)
        assert game.phase == "reveal"
        p = joined(game.resume(game.participants["p2"].token, Q0_END + 1))
        assert "question" not in p
        # The question_closed payload, plus the question so that a reloaded page can draw it.
        assert p["reveal"] == {
            "questionId": "q0",
            "correctChoice": 0,
            "distribution": [1, 0, 0, 0],
            "index": 0,
            "total": 3,
            "text": "Question 0",
            "choices": ["a", "b", "c", "d"],
            "kind": "single",
        }

    def test_joined_during_reveal_has_the_players_own_result_with_the_rank_of_now(self):
        game = playing()
        first = reply(game.answer("p1", "q0", 0, Q0 + 5), "p1", "answer_result").payload
        assert first["rank"] == 1
        game.answer("p2", "q0", 0, Q0 + 1)  # faster, so more points: p2 overtakes p1
        game.tick(Q0_END)
        p = joined(game.resume(game.participants["p1"].token, Q0_END + 1))
        assert p["reveal"]["result"] == {**first, "rank": 2}
        assert p["rank"] == 2

    def test_joined_rank_is_competition_rank(self):
        game = playing(players=("Ann", "Bob", "Cat"))
        game.answer("p1", "q0", 0, Q0)
        p = joined(game.resume(game.participants["p3"].token, Q0 + 1))
        assert p["rank"] == 2  # p2 and p3 share rank 2 behind p1


# ====================================================================== answers
class TestAnswer:
    def test_question_ids_are_q_index(self):
        game = playing()
        assert game.question_id(0) == "q0"
        game.tick(Q0_END)
        effects = game.tick(Q1)
        assert broadcast(effects, "question").payload["questionId"] == "q1"

    def test_choice_out_of_range_is_invalid_choice(self):
        game = playing()
        refused(E.INVALID_CHOICE, game.answer, "p1", "q0", 4, Q0 + 1)
        refused(E.INVALID_CHOICE, game.answer, "p1", "q0", -1, Q0 + 1)

    def test_boolean_choice_is_invalid_choice(self):
        game = playing()
        refused(E.INVALID_CHOICE, game.answer, "p1", "q0", True, Q0 + 1)

    def test_invalid_choice_leaves_answer_possible(self):
        game = playing()
        refused(E.INVALID_CHOICE, game.answer, "p1", "q0", 9, Q0 + 1)
        assert reply(game.answer("p1", "q0", 0, Q0 + 2), "p1", "answer_result").payload["correct"]

    def test_answer_in_lobby_is_question_closed(self):
        game = lobby()
        refused(E.QUESTION_CLOSED, game.answer, "p1", "q0", 0, 0.5)

    def test_answer_for_another_question_is_question_closed(self):
        game = playing()
        refused(E.QUESTION_CLOSED, game.answer, "p1", "q1", 0, Q0 + 1)

    def test_answer_after_close_is_question_closed(self):
        game = playing()
        game.tick(Q0_END)
        refused(E.QUESTION_CLOSED, game.answer, "p1", "q0", 0, Q0_END + 0.5)

    def test_answer_for_earlier_question_is_question_closed(self):
        game = playing()
        game.tick(Q0_END)
        game.tick(Q1)
        refused(E.QUESTION_CLOSED, game.answer, "p1", "q0", 0, Q1 + 1)

    def test_answer_at_exactly_the_limit_counts(self):
        game = playing()
        r = reply(game.answer("p1", "q0", 0, Q0 + LIMIT), "p1", "answer_result")
        assert r.payload["points"] == 500

    def test_answer_past_own_window_is_question_closed(self):
        game = playing()
        game.handoffs.handed("p2", Q0 + 1.0)  # keeps the question open past Q0_END
        refused(E.QUESTION_CLOSED, game.answer, "p1", "q0", 0, Q0_END + 0.001)
        assert game.phase == "question"

    def test_different_choice_is_already_answered(self):
        game = playing()
        game.answer("p1", "q0", 1, Q0 + 1)
        refused(E.ALREADY_ANSWERED, game.answer, "p1", "q0", 2, Q0 + 2)
        assert game.distribution == [0, 1, 0, 0]

    def test_same_choice_is_a_safe_retry(self):
        game = playing()
        first = reply(game.answer("p1", "q0", 0, Q0 + 1, reply_to="a"), "p1", "answer_result")
        again = game.answer("p1", "q0", 0, Q0 + 3, reply_to="b")
        assert kinds(again) == ["R:p1:answer_result"]
        assert again[0].payload == first.payload
        assert again[0].reply_to == "b"
        assert game.participants["p1"].score == 1000 - 25  # scored once, at 1 s
        assert game.distribution == [1, 0, 0, 0]

    def test_safe_retry_after_close_returns_the_result_again(self):
        game = playing()
        first = reply(game.answer("p1", "q0", 0, Q0 + 1), "p1", "answer_result")
        game.tick(Q0_END)
        again = game.answer("p1", "q0", 0, Q0_END + 1, reply_to=3)
        assert again == [fx.Reply("p1", "answer_result", first.payload, 3)]

    def test_host_answer_is_invalid_message(self):
        game = playing()
        refused(E.INVALID_MESSAGE, game.answer, "host", "q0", 0, Q0 + 1)

    def test_answer_result_payload(self):
        game = playing()
        r = reply(game.answer("p1", "q0", 0, Q0 + 5, reply_to="x"), "p1", "answer_result")
        assert r.reply_to == "x"
        assert r.payload == {
            "questionId": "q0",
            "choice": 0,
            "correct": True,
            "points": 875,
            "score": 875,
            "streak": 1,
            "rank": 1,
        }

    def test_wrong_answer_scores_zero_and_resets_streak(self):
        game = playing()
        game.participants["p1"].streak = 3
        r = reply(game.answer("p1", "q0", 1, Q0 + 1), "p1", "answer_result")
        assert (r.payload["correct"], r.payload["points"], r.payload["streak"]) == (False, 0, 0)

    def test_streak_bonus_grows_with_consecutive_correct_answers(self):
        game = playing(players=("Ann",), questions=3)
        got = []
        for i in range(3):
            opened = game.handoffs.opened_at
            r = reply(game.answer("p1", f"q{i}", i % 4, opened), "p1", "answer_result")
            got.append((r.payload["points"], r.payload["streak"]))
            game.tick(opened + LIMIT)
            game.tick(opened + LIMIT + REVEAL)
        assert got == [(1000, 1), (1100, 2), (1200, 3)]

    def test_not_answering_resets_streak_at_close(self):
        game = playing(players=("Ann",))
        game.answer("p1", "q0", 0, Q0)
        game.tick(Q0_END)
        game.tick(Q1)  # q1 opens; Ann does not answer
        assert game.participants["p1"].streak == 1
        game.tick(Q1 + LIMIT)
        assert game.participants["p1"].streak == 0

    def test_elapsed_is_measured_from_own_handoff(self):
        game = playing()
        game.handoffs.handed("p1", Q0)
        game.handoffs.handed("p2", Q0 + 0.3)
        a = reply(game.answer("p1", "q0", 0, Q0 + 2.0), "p1", "answer_result").payload
        b = reply(game.answer("p2", "q0", 0, Q0 + 2.3), "p2", "answer_result").payload
        assert a["points"] == b["points"] == 950

    def test_distribution_counts_choices(self):
        game = playing(players=("Ann", "Bob", "Cat"))
        game.answer("p1", "q0", 0, Q0 + 1)
        game.answer("p2", "q0", 3, Q0 + 1)
        game.answer("p3", "q0", 3, Q0 + 1)
        closed = broadcast(game.tick(Q0_END), "question_closed")
        assert closed.payload == {"questionId": "q0", "correctChoice": 0, "distribution": [1, 0, 0, 2]}

    def test_question_frame_never_reveals_the_answer(self):
        game = lobby()
        start(game, START)
        q = broadcast(game.tick(Q0), "question")
        assert q.question_id == "q0"
        assert set(q.payload) == {
            "questionId",
            "index",
            "total",
            "text",
            "choices",
            "timeLimitMs",
            "startedAt",
            "endsAt",
            "serverTime",
            "kind",
        }
        assert q.payload["choices"] == ["a", "b", "c", "d"]
        assert (q.payload["index"], q.payload["total"]) == (0, 3)

    def test_equal_scores_ranked_by_who_reached_first(self):
        game = playing()
        game.handoffs.handed("p1", Q0 + 0.3)
        game.handoffs.handed("p2", Q0)
        game.answer("p2", "q0", 0, Q0 + 2.0)
        game.answer("p1", "q0", 0, Q0 + 2.3)
        top = game.get_leaderboard("host")[0].payload["top"]
        assert [(e["participantId"], e["rank"]) for e in top] == [("p2", 1), ("p1", 1)]


# ====================================================================== reveal on_close
class TestOnClose:
    def test_answer_is_accepted_without_result(self):
        game = playing(reveal="on_close")
        effects = game.answer("p1", "q0", 1, Q0 + 1, reply_to="a")
        assert effects == [fx.Reply("p1", "answer_accepted", {"questionId": "q0", "choice": 1}, "a")]
        assert game.participants["p1"].score == 0

    def test_safe_retry_before_close_is_accepted_again(self):
        game = playing(reveal="on_close")
        game.answer("p1", "q0", 1, Q0 + 1, reply_to="a")
        assert game.answer("p1", "q0", 1, Q0 + 2, reply_to="b") == [
            fx.Reply("p1", "answer_accepted", {"questionId": "q0", "choice": 1}, "b")
        ]

    def test_close_order_is_closed_then_results_then_leaderboard(self):
        game = playing(players=("Ann", "Bob", "Cat"), reveal="on_close")
        game.answer("p2", "q0", 1, Q0 + 1, reply_to="b")
        game.answer("p1", "q0", 0, Q0 + 2, reply_to="a")
        effects = game.tick(Q0_END)
        trace = [k for k in kinds(effects) if not k.startswith("R:host")]
        i = trace.index("B:question_closed")
        assert trace[i : i + 4] == [
            "B:question_closed",
            "R:p2:answer_result",
            "R:p1:answer_result",
            "B:leaderboard",
        ]
        assert "R:p3:answer_result" not in trace
        assert reply(effects, "p1", "answer_result").reply_to == "a"
        assert reply(effects, "p2", "answer_result").reply_to == "b"

    def test_results_are_scored_at_close(self):
        game = playing(reveal="on_close")
        game.answer("p1", "q0", 0, Q0 + 5)
        game.answer("p2", "q0", 1, Q0 + 5)
        effects = game.tick(Q0_END)
        assert reply(effects, "p1", "answer_result").payload == {
            "questionId": "q0",
            "choice": 0,
            "correct": True,
            "points": 875,
            "score": 875,
            "streak": 1,
            "rank": 1,
        }
        assert reply(effects, "p2", "answer_result").payload["points"] == 0

    def test_non_answerers_streak_resets(self):
        game = playing(reveal="on_close")
        game.participants["p2"].streak = 4
        game.tick(Q0_END)
        assert game.participants["p2"].streak == 0

    def test_safe_retry_after_close_returns_answer_result(self):
        game = playing(reveal="on_close")
        game.answer("p1", "q0", 0, Q0 + 5)
        result = reply(game.tick(Q0_END), "p1", "answer_result")
        assert game.answer("p1", "q0", 0, Q0_END + 1, reply_to="again") == [
            fx.Reply("p1", "answer_result", result.payload, "again")
        ]

    def test_equal_points_ordered_by_arrival(self):
        game = playing(reveal="on_close")
        game.handoffs.handed("p1", Q0 + 0.3)
        game.handoffs.handed("p2", Q0)
        game.answer("p1", "q0", 0, Q0 + 2.3)
        game.answer("p2", "q0", 0, Q0 + 2.0)
        lb = broadcast(game.tick(Q0_END + 0.3), "leaderboard").payload
        assert [e["participantId"] for e in lb["top"]] == ["p2", "p1"]

    def test_result_rank_reflects_standings_after_close(self):
        # Found as a bug: ranks used to be read while later answerers were still unscored.
        game = playing(reveal="on_close")
        game.participants["p2"].streak = 2  # Bob will earn a streak bonus
        game.answer("p1", "q0", 0, Q0 + 1)  # first to arrive: 975
        game.answer("p2", "q0", 0, Q0 + 1.5)  # 963 + 200 bonus = 1163
        effects = game.tick(Q0_END)
        ann = reply(effects, "p1", "answer_result").payload
        bob = reply(effects, "p2", "answer_result").payload
        assert bob["score"] > ann["score"]
        assert (bob["rank"], ann["rank"]) == (1, 2)


# ====================================================================== close_when_all_answered
class TestCloseWhenAllAnswered:
    def test_closes_when_every_connected_player_answered(self):
        game = playing(close_when_all_answered=True)
        assert not broadcasts(game.answer("p1", "q0", 0, Q0 + 1), "question_closed")
        effects = game.answer("p2", "q0", 1, Q0 + 2)
        assert broadcasts(effects, "question_closed")
        assert game.phase == "reveal"
        assert game.deadline == Q0 + 2 + REVEAL

    def test_disconnected_players_are_not_waited_for(self):
        game = playing(close_when_all_answered=True)
        game.disconnected("p2", Q0 + 0.5)
        assert broadcasts(game.answer("p1", "q0", 0, Q0 + 1), "question_closed")

    def test_last_non_answerer_disconnecting_closes(self):
        game = playing(close_when_all_answered=True)
        game.answer("p1", "q0", 0, Q0 + 1)
        assert broadcasts(game.disconnected("p2", Q0 + 2), "question_closed")

    def test_last_non_answerer_leaving_closes(self):
        game = playing(close_when_all_answered=True)
        game.answer("p1", "q0", 0, Q0 + 1)
        assert broadcasts(game.leave("p2", Q0 + 2), "question_closed")

    def test_last_non_answerer_kicked_closes(self):
        game = playing(close_when_all_answered=True)
        game.answer("p1", "q0", 0, Q0 + 1)
        assert broadcasts(kick(game, "p2", Q0 + 2), "question_closed")

    def test_needs_at_least_one_connected_player(self):
        game = playing(close_when_all_answered=True)
        assert game.disconnected("p1", Q0 + 1) == []
        assert game.disconnected("p2", Q0 + 1) == []
        assert game.phase == "question"

    def test_answerer_who_reconnects_still_counts_as_answered(self):
        game = playing(close_when_all_answered=True)
        game.answer("p1", "q0", 0, Q0 + 1)
        game.disconnected("p1", Q0 + 2)
        game.resume(game.participants["p1"].token, Q0 + 3)
        assert broadcasts(game.answer("p2", "q0", 0, Q0 + 4), "question_closed")

    def test_late_joiner_must_answer_too(self):
        game = playing(close_when_all_answered=True)
        game.answer("p1", "q0", 0, Q0 + 1)
        game.join_player("Cat", Q0 + 2)
        assert not broadcasts(game.answer("p2", "q0", 0, Q0 + 3), "question_closed")

    def test_off_by_default(self):
        game = playing()
        game.answer("p1", "q0", 0, Q0 + 1)
        assert not broadcasts(game.answer("p2", "q0", 0, Q0 + 2), "question_closed")
        assert game.phase == "question"


# ====================================================================== timers
class TestTimers:
    def test_start_broadcasts_countdown(self):
        game = lobby()
        effects = start(game, START)
        assert broadcast(effects, "quiz_starting").payload == {"startsAt": 1000 + 3000, "countdownMs": 3000}
        assert game.phase == "starting"
        assert game.deadline == pytest.approx(Q0)

    def test_countdown_opens_first_question(self):
        game = lobby()
        start(game, START)
        assert not broadcasts(game.tick(Q0 - 0.001), "question")
        assert game.phase == "starting"
        q = broadcast(game.tick(Q0), "question").payload
        assert game.phase == "question" and game.question_index == 0
        assert (q["startedAt"], q["endsAt"]) == (4000, 24000)

    def test_question_closes_at_deadline(self):
        game = playing()
        assert game.next_deadline() == pytest.approx(Q0_END)
        assert not broadcasts(game.tick(Q0_END - 0.001), "question_closed")
        effects = game.tick(Q0_END)
        assert broadcasts(effects, "question_closed")
        assert broadcasts(effects, "leaderboard")
        assert game.phase == "reveal"

    def test_question_closes_one_limit_after_latest_handoff(self):
        game = playing()
        game.handoffs.handed("p1", Q0)
        game.handoffs.handed("p2", Q0 + 0.3)
        assert game.next_deadline() == pytest.approx(Q0_END + 0.3)
        assert not broadcasts(game.tick(Q0_END + 0.2), "question_closed")
        assert game.phase == "question"
        game.tick(Q0_END + 0.3)
        assert game.phase == "reveal"

    def test_reveal_always_sends_leaderboard_even_unchanged(self):
        game = playing()
        game.tick(Q0 + 1)  # flush pending throttled broadcasts
        assert broadcasts(game.tick(Q0_END), "leaderboard")

    def test_reveal_advances_to_next_question(self):
        game = playing()
        game.tick(Q0_END)
        assert not broadcasts(game.tick(Q1 - 0.001), "question")
        q = broadcast(game.tick(Q1), "question").payload
        assert (q["questionId"], q["index"]) == ("q1", 1)

    def test_last_reveal_ends_the_quiz(self):
        game = playing(questions=1)
        game.answer("p1", "q0", 0, Q0 + 1)
        game.tick(Q0_END)
        effects = game.tick(Q1)
        assert game.phase == "ended"
        ended = reply(effects, "p1", "quiz_ended").payload
        assert ended["you"] == {"rank": 1, "score": 975}
        assert ended["total"] == 2
        assert closes(effects) == {"host": 4004, "p1": 4004, "p2": 4004}
        results = [e for e in effects if isinstance(e, fx.ResultsReady)]
        assert len(results) == 1
        assert results[0].results["questions"][0]["correctChoice"] == 0

    def test_finished_after_linger(self):
        game = playing(questions=1, settings=GameSettings(linger_s=60))
        game.tick(Q0_END)
        game.tick(Q1)
        assert not [e for e in game.tick(Q1 + 59) if isinstance(e, fx.Finished)]
        assert [e for e in game.tick(Q1 + 60) if isinstance(e, fx.Finished)] == [fx.Finished()]
        assert game.finished
        assert not [e for e in game.tick(Q1 + 120) if isinstance(e, fx.Finished)]

    def test_lobby_timeout_ends_the_quiz(self):
        game = lobby(settings=GameSettings(lobby_timeout_s=100))
        game.tick(99.9)
        assert game.phase == "lobby"
        effects = game.tick(100.0)
        assert game.phase == "ended"
        assert closes(effects) == {"host": 4004, "p1": 4004, "p2": 4004}

    def test_started_quiz_has_no_lobby_timeout(self):
        game = lobby(settings=GameSettings(lobby_timeout_s=10))
        start(game, START)
        game.tick(Q0)
        game.tick(11.0)
        assert game.phase == "question"

    def test_whole_quiz_runs_by_timers_alone(self):
        game = lobby(questions=2)
        start(game, START)
        phases = []
        now = START
        for _ in range(50):
            deadline = game.next_deadline()
            if deadline is None or game.finished:
                break
            now = max(now, deadline)
            game.tick(now)
            if not phases or phases[-1] != game.phase:
                phases.append(game.phase)
        assert phases == ["starting", "question", "reveal", "question", "reveal", "ended"]
        assert game.finished

    def test_auto_start_waits_for_min_players(self):
        game = make_game(auto_start=AutoStart(min_players=2, countdown_ms=5000))
        assert not broadcasts(game.join_player("Ann", 1.0).effects, "quiz_starting")
        assert game.phase == "lobby"
        effects = game.join_player("Bob", 2.0).effects
        assert broadcast(effects, "quiz_starting").payload == {"startsAt": 2000 + 5000, "countdownMs": 5000}
        assert game.phase == "starting"
        game.tick(6.999)
        assert game.phase == "starting"
        game.tick(7.0)
        assert game.phase == "question"

    def test_auto_start_without_countdown_uses_definitions(self):
        game = make_game(auto_start=AutoStart(min_players=1))
        effects = game.join_player("Ann", 1.0).effects
        assert broadcast(effects, "quiz_starting").payload["countdownMs"] == 3000

    def test_auto_start_joined_reply_comes_before_countdown(self):
        game = make_game(auto_start=AutoStart(min_players=1))
        effects = game.join_player("Ann", 1.0).effects
        assert kinds(effects).index("R:p1:joined") < kinds(effects).index("B:quiz_starting")


# ====================================================================== host commands
class TestHostCommands:
    def test_start_replies_host_state_with_re(self):
        game = lobby()
        r = reply(start(game, START, reply_to="s1"), "host", "host_state")
        assert r.reply_to == "s1"
        assert r.payload == {
            "phase": "starting",
            "questionIndex": None,
            "participants": 2,
            "connected": 2,
            "answered": 0,
        }

    def test_start_twice_is_wrong_phase(self):
        game = lobby()
        start(game, START)
        refused(E.WRONG_PHASE, start, game, START + 0.1)

    @pytest.mark.parametrize("command", ["start", "next", "end", "kick"])
    def test_player_sending_host_command_is_not_host(self, command):
        game = lobby()
        calls = {
            "start": lambda: game.start("p1", 0.5, "x"),
            "next": lambda: game.next("p1", 0.5, None, "x"),
            "end": lambda: game.end("p1", 0.5, "x"),
            "kick": lambda: game.kick("p1", "p2", 0.5, "x"),
        }
        refused(E.NOT_HOST, calls[command])
        assert game.phase == "lobby" and game.player_count == 2

    def test_next_closes_open_question_now(self):
        game = playing()
        effects = next_(game, Q0 + 5, reply_to="n")
        assert broadcasts(effects, "question_closed")
        assert game.phase == "reveal"
        r = reply(effects, "host", "host_state")
        assert r.reply_to == "n" and r.payload["phase"] == "reveal"

    def test_next_cuts_reveal_short(self):
        game = playing()
        next_(game, Q0 + 5)
        effects = next_(game, Q0 + 6)
        assert broadcast(effects, "question").payload["index"] == 1

    def test_next_from_last_reveal_ends_the_quiz(self):
        game = playing(questions=1)
        next_(game, Q0 + 5)
        effects = next_(game, Q0 + 6)
        assert game.phase == "ended"
        assert replies(effects, "p1", "quiz_ended")

    def test_next_with_current_question_index(self):
        game = playing()
        next_(game, Q0 + 5, question_index=0)
        assert game.phase == "reveal"

    def test_next_with_other_question_index_is_wrong_phase(self):
        game = playing()
        refused(E.WRONG_PHASE, next_, game, Q0 + 5, 1)
        assert game.phase == "question"

    def test_retried_next_never_skips_a_question(self):
        game = playing()
        next_(game, Q0 + 5, question_index=0)  # closes q0
        next_(game, Q0 + 6, question_index=0)  # reveal of q0 -> q1 opens
        assert game.question_index == 1 and game.phase == "question"
        refused(E.WRONG_PHASE, next_, game, Q0 + 6.1, 0)  # the retry
        assert game.question_index == 1 and game.phase == "question"

    @pytest.mark.parametrize("phase", ["lobby", "starting"])
    def test_next_before_first_question_is_wrong_phase(self, phase):
        game = lobby()
        if phase == "starting":
            start(game, START)
        refused(E.WRONG_PHASE, next_, game, START + 0.5)

    def test_end_sends_quiz_ended_then_closes_everyone(self):
        game = playing()
        game.answer("p1", "q0", 0, Q0 + 5)
        effects = end(game, Q0 + 6, reply_to="e")
        trace = kinds(effects)
        host_ended = reply(effects, "host", "quiz_ended").payload
        assert "you" not in host_ended
        assert reply(effects, "p1", "quiz_ended").payload["you"] == {"rank": 1, "score": 875}
        assert reply(effects, "p2", "quiz_ended").payload["you"] == {"rank": 2, "score": 0}
        assert host_ended["total"] == 2
        first_close = min(i for i, k in enumerate(trace) if k.startswith("C:"))
        for pid in ("host", "p1", "p2"):
            assert trace.index(f"R:{pid}:quiz_ended") < first_close
            assert trace.index(f"C:{pid}:4004") >= first_close
        assert closes(effects) == {"host": 4004, "p1": 4004, "p2": 4004}

    def test_end_host_state_reply_comes_before_close(self):
        game = playing()
        effects = end(game, Q0 + 6, reply_to="e")
        trace = kinds(effects)
        r = reply(effects, "host", "host_state")
        assert r.reply_to == "e" and r.payload["phase"] == "ended"
        assert trace.index("R:host:host_state") < trace.index("C:host:4004")

    def test_end_during_question_closes_it_first(self):
        game = playing()
        trace = kinds(end(game, Q0 + 6))
        assert trace.index("B:question_closed") < trace.index("R:host:quiz_ended")
        assert game.closed_questions[0]["questionId"] == "q0"

    def test_end_in_lobby(self):
        game = lobby()
        effects = end(game, 0.5)
        assert game.phase == "ended"
        assert reply(effects, "p1", "quiz_ended").payload == {
            "leaderboard": [
                {"rank": 1, "participantId": "p1", "name": "Ann", "score": 0},
                {"rank": 1, "participantId": "p2", "name": "Bob", "score": 0},
            ],
            "total": 2,
            "you": {"rank": 1, "score": 0},
        }

    def test_kick(self):
        game = playing()
        token = game.participants["p2"].token
        effects = kick(game, "p2", Q0 + 1, reply_to="k")
        assert reply(effects, "p2", "kicked").payload["reason"]
        assert closes(effects) == {"p2": 4001}
        trace = kinds(effects)
        assert trace.index("R:p2:kicked") < trace.index("C:p2:4001")
        assert reply(effects, "host", "player_left").payload == {"participantId": "p2", "name": "Bob"}
        r = reply(effects, "host", "host_state")
        assert r.reply_to == "k" and r.payload["participants"] == 1
        assert "p2" not in game.leaderboard
        refused(E.INVALID_RESUME_TOKEN, game.resume, token, Q0 + 2)

    @pytest.mark.parametrize("target", ["p99", "host"])
    def test_kick_unknown_is_unknown_participant(self, target):
        game = lobby()
        refused(E.UNKNOWN_PARTICIPANT, kick, game, target, 0.5)

    def test_host_state_counts(self):
        game = playing(players=("Ann", "Bob", "Cat"))
        game.disconnected("p3", Q0 + 0.5)
        game.answer("p1", "q0", 0, Q0 + 1)
        r = reply(next_(game, Q0 + 2, reply_to=1), "host", "host_state")
        assert r.payload == {"phase": "reveal", "questionIndex": 0, "participants": 3, "connected": 2, "answered": 1}


# ====================================================================== other player messages
class TestPlayerMessages:
    def test_leave_closes_with_1000_and_removes_player(self):
        game = playing()
        token = game.participants["p1"].token
        effects = game.leave("p1", Q0 + 1)
        assert closes(effects) == {"p1": 1000}
        assert reply(effects, "host", "player_left").payload == {"participantId": "p1", "name": "Ann"}
        assert game.player_count == 1
        assert "p1" not in game.leaderboard
        refused(E.INVALID_RESUME_TOKEN, game.resume, token, Q0 + 2)

    def test_dropped_connection_keeps_the_player(self):
        game = playing()
        game.disconnected("p1", Q0 + 1)
        assert game.player_count == 2
        assert "p1" in game.leaderboard

    def test_get_leaderboard_reply(self):
        game = playing(players=("Ann", "Bob", "Cat"))
        game.answer("p2", "q0", 0, Q0)
        (r,) = game.get_leaderboard("p3", reply_to="lb")
        assert r.type == "leaderboard" and r.reply_to == "lb" and r.participant_id == "p3"
        assert r.payload["total"] == 3
        assert r.payload["you"] == {"rank": 2, "score": 0}
        assert [(e["rank"], e["participantId"]) for e in r.payload["top"]] == [(1, "p2"), (2, "p1"), (2, "p3")]

    def test_get_leaderboard_top_n(self):
        game = lobby(players=tuple(f"P{i}" for i in range(5)), settings=GameSettings(top_n=3))
        (r,) = game.get_leaderboard("p1")
        assert len(r.payload["top"]) == 3 and r.payload["total"] == 5

    def test_host_leaderboard_has_no_you(self):
        game = lobby()
        (r,) = game.get_leaderboard("host")
        assert "you" not in r.payload


# ====================================================================== throttled broadcasts
class TestThrottle:
    def test_participants_count_is_throttled(self):
        game = lobby(players=())
        game.join_player("Ann", 0.1)
        game.join_player("Bob", 0.2)
        assert not broadcasts(game.tick(0.4), "participants")
        assert broadcast(game.tick(0.5), "participants").payload == {"count": 2}
        assert not broadcasts(game.tick(1.5), "participants")  # unchanged

    def test_leaderboard_broadcasts_at_most_once_per_interval(self):
        game = playing(players=("Ann", "Bob"))
        game.tick(Q0 + 1)  # flush whatever was pending
        game.answer("p1", "q0", 0, Q0 + 2)
        first = game.tick(Q0 + 2)
        assert broadcasts(first, "leaderboard")
        game.answer("p2", "q0", 0, Q0 + 2.1)
        assert not broadcasts(game.tick(Q0 + 2.4), "leaderboard")
        assert game.next_deadline() == pytest.approx(Q0 + 2.5)
        assert broadcasts(game.tick(Q0 + 2.5), "leaderboard")

    def test_leaderboard_not_sent_when_unchanged(self):
        game = playing()
        game.tick(Q0 + 1)
        game.answer("p1", "q0", 1, Q0 + 2)  # wrong: no change
        assert not broadcasts(game.tick(Q0 + 3), "leaderboard")

    def test_leaderboard_not_sent_when_change_is_outside_top_n(self):
        game = playing(players=("Ann", "Bob", "Cat"), settings=GameSettings(top_n=1))
        game.answer("p1", "q0", 0, Q0)
        game.tick(Q0 + 1)
        game.answer("p3", "q0", 0, Q0 + 5)  # 875 < 1000: Ann stays top
        assert not broadcasts(game.tick(Q0 + 3), "leaderboard")

    def test_leaderboard_broadcast_is_replaceable(self):
        game = playing()
        lb = broadcast(game.tick(Q0_END), "leaderboard")
        assert lb.replaceable
        assert set(lb.payload) == {"top", "total"}

    def test_host_state_is_throttled_and_sent_on_change(self):
        game = playing()
        game.tick(Q0 + 1)
        game.answer("p1", "q0", 0, Q0 + 2)
        r = reply(game.tick(Q0 + 2), "host", "host_state")
        assert r.payload["answered"] == 1 and r.reply_to is None


# ====================================================================== time never stands still
def drive(game: QuizGame, now: float) -> None:
    """What the actor does: tick, then the next deadline must lie in the future."""
    game.tick(now)
    deadline = game.next_deadline()
    assert deadline is None or deadline > now, f"busy loop: deadline {deadline} <= now {now} in {game.phase}"


def test_ended_quiz_does_not_spin_on_unsent_leaderboard():
    # Found as a bug: the leaderboard change of the last join was never "sent" once the
    # quiz had ended, so next_deadline() stayed in the past until linger (a busy loop).
    game = lobby()
    game.join_player("Cat", 0.1)
    end(game, 0.2)
    now = 0.2
    for _ in range(10):
        deadline = game.next_deadline()
        if deadline is None:
            break
        now = max(now, deadline)
        drive(game, now)
    assert game.finished


def test_next_deadline_moves_forward_through_a_whole_quiz():
    game = lobby(questions=2)
    start(game, START)
    now = START
    while not game.finished:
        deadline = game.next_deadline()
        assert deadline is not None
        now = max(now, deadline)
        drive(game, now)
