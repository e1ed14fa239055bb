"""A long quiz with players coming and going keeps nothing of those who left.

``QuizGame.removed`` used to grow by one id per player who ever left, on a single node
too, where no snapshot store drains it (200,000 join/leave cycles: 18.6 MiB).  Every
per-player structure must shrink back when the player goes: the roster's maps, the
change sets, the leaderboard, the hand-off times of the open question.
"""

from __future__ import annotations

from quizd.game.quiz import GameSettings, Phase, QuizGame
from tests.unit.quizkit import kick, make_game, next_, start

CYCLES = 10_000
STAYING = 5


def sizes(game: QuizGame) -> dict[str, int]:
    """Every structure of the game that holds something per player."""
    roster = game.roster
    log = game.handoffs
    return {
        "participants": len(game.participants),
        "tokens": len(roster.tokens),
        "name_keys": len(roster.name_keys),
        "dirty": len(roster.dirty),
        "removed": len(roster.removed),
        "leaderboard": len(game.leaderboard),
        "leaderboard_names": len(game.leaderboard._names),
        "leaderboard_sorted": len(game.leaderboard._sorted),
        "handoff_times": 0 if log is None else len(log.times),
        "handoff_fresh": 0 if log is None else len(log.fresh),
        "answers": sum(len(p.answers) for p in game.participants.values()),
    }


def churn(game: QuizGame, now: float, cycles: int = CYCLES) -> None:
    """Join and leave (every third one kicked), answering when a question is open."""
    open_question = game.phase == Phase.QUESTION and game.question_index is not None
    qid = game.question_id(game.question_index) if open_question else None
    for i in range(cycles):
        pid = game.join_player(f"visitor {i}", now).participant_id
        if qid is not None and i % 2:
            game.answer(pid, qid, 0, now)
        if i % 3 == 0:
            kick(game, pid, now)
        else:
            game.leave(pid, now)


def test_join_and_leave_10000_times_in_the_lobby_and_in_a_question_keeps_nothing_of_them():
    game = make_game(settings=GameSettings(max_players=100), time_limit_ms=3_600_000)
    for i in range(STAYING):
        game.join_player(f"stays {i}", 0.0)
    churn(game, 0.5)
    bound = STAYING + 1  # the players who stay, and the host
    assert all(size <= bound for size in sizes(game).values()), sizes(game)

    start(game, 1.0)
    game.tick(10.0)  # the countdown is over: question 0 is open
    assert game.handoffs is not None
    for pid in list(game.participants):
        game.handoffs.handed(pid, 10.0)
    churn(game, 11.0)
    assert game.question_index == 0
    assert all(size <= bound for size in sizes(game).values()), sizes(game)

    next_(game, 20.0)  # reveal
    churn(game, 21.0)
    assert all(size <= bound for size in sizes(game).values()), sizes(game)


def test_a_snapshot_store_still_hears_of_every_removal_and_hand_off():
    """Cluster mode: once the store has looked, removals and fresh hand-offs are kept
    for it (and drained by it) as before."""
    game = make_game()
    game.to_snapshot(0.0)
    ann = game.join_player("Ann", 0.1).participant_id
    bob = game.join_player("Bob", 0.1).participant_id
    game.leave(bob, 0.2)
    _meta, changed, removed = game.take_changes(0.3)
    assert set(changed) == {ann} and removed == [bob]
    start(game, 1.0)
    game.tick(10.0)
    assert game.handoffs is not None and game.handoffs.track
    game.handoffs.handed(ann, 10.0)
    _meta, changed, removed = game.take_changes(10.5)
    assert ann in changed and changed[ann]["handoff"][0] == "q0"
    game.leave(ann, 11.0)
    assert game.take_changes(11.5)[2] == [ann]
