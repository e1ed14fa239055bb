"""Random event sequences against QuizGame: the bookkeeping never drifts.

Each step is one event the actor could feed the game; after every step the game's
incremental counters must agree with a recount, refused events must leave the state
as it was, and the next deadline after a tick must lie in the future (an actor
whose deadline stays in the past busy-loops).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from quizd.game.quiz import GameSettings, QuizGame
from quizd.protocol.errors import ProtocolError

from .quizkit import HOST_TOKEN, end, kick, make_game, next_, start

NAMES = ["Ann", "Bob", "Cat", "ann", "Dee"]

events = st.lists(
    st.one_of(
        st.tuples(st.just("join"), st.sampled_from(NAMES)),
        st.tuples(st.just("resume"), st.integers(1, 5)),
        st.tuples(st.just("drop"), st.integers(1, 5)),
        st.tuples(st.just("leave"), st.integers(1, 5)),
        st.tuples(st.just("answer"), st.tuples(st.integers(1, 5), st.integers(0, 4))),
        st.tuples(st.just("start"), st.none()),
        st.tuples(st.just("next"), st.none()),
        st.tuples(st.just("kick"), st.integers(1, 5)),
        st.tuples(st.just("end"), st.none()),
        st.tuples(st.just("wait"), st.floats(0.01, 30.0)),
    ),
    max_size=40,
)


def snapshot(game: QuizGame) -> tuple:
    return (
        game.phase,
        game.question_index,
        game.player_count,
        game.connected_count,
        game.answered_count,
        tuple(game.distribution),
        tuple(sorted(game.participants)),
        tuple((p.id, p.score, p.streak, p.connected, tuple(p.answers)) for p in game.participants.values()),
        tuple(game.leaderboard.iter_entries()),
    )


def check(game: QuizGame, now: float) -> None:
    players = [p for p in game.participants.values() if not p.is_host]
    assert game.player_count == len(players) == len(game.leaderboard)
    assert game.connected_count == sum(p.connected for p in players)
    for p in players:
        assert game.leaderboard.score(p.id) == p.score
    deadline = game.next_deadline()
    assert deadline is None or deadline > now, (deadline, now, game.phase)


@settings(max_examples=300, deadline=None)
@given(events, st.sampled_from(["on_answer", "on_close"]), st.booleans())
def test_random_events_keep_the_books_straight(steps, reveal, close_all):
    game = make_game(
        questions=2,
        reveal=reveal,
        close_when_all_answered=close_all,
        settings=GameSettings(max_players=3, lobby_timeout_s=200),
    )
    game.resume(HOST_TOKEN, 0.0, host=True)
    now = 0.0
    for kind, arg in steps:
        before = snapshot(game)
        try:
            if kind == "join":
                game.join_player(arg, now)
            elif kind == "resume":
                p = game.participants.get(f"p{arg}")
                game.resume(p.token if p else "gone", now)
            elif kind == "drop":
                game.disconnected(f"p{arg}", now)
            elif kind == "leave":
                game.leave(f"p{arg}", now)
            elif kind == "answer":
                pid, choice = arg
                if f"p{pid}" in game.participants:
                    qid = f"q{game.question_index or 0}"
                    game.answer(f"p{pid}", qid, choice, now)
            elif kind == "start":
                start(game, now)
            elif kind == "next":
                next_(game, now)
            elif kind == "kick":
                kick(game, f"p{arg}", now)
            elif kind == "end":
                end(game, now)
            elif kind == "wait":
                target = now + arg
                for _ in range(1000):
                    deadline = game.next_deadline()
                    if deadline is None or deadline > target or game.finished:
                        break
                    now = max(now, deadline)
                    game.tick(now)
                    check(game, now)
                now = target
        except ProtocolError:
            assert snapshot(game) == before, f"refused {kind} changed the state"
        game.tick(now)
        check(game, now)
