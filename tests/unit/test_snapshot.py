"""Snapshots: a quiz rebuilt from plain data plays on exactly where it was."""

from __future__ import annotations

import orjson
import pytest

from quizd.game import effects as fx
from quizd.game.quiz import GameSettings, Phase, QuizGame
from quizd.game.snapshot import definition_from_record, definition_record
from tests.unit.quizkit import make_game


def roundtrip(value):
    return orjson.loads(orjson.dumps(value))


def in_question(reveal: str = "on_answer"):
    game = make_game(0.0, reveal=reveal, countdown_ms=0, time_limit_ms=10000)
    ann = game.join_player("Ann", 0.1).participant_id
    bob = game.join_player("Bob", 0.2).participant_id
    game.start("host", 1.0)
    game.tick(1.0)
    assert game.phase == Phase.QUESTION
    game.handoffs.handed(ann, 1.0)
    game.handoffs.handed(bob, 1.3)
    return game, ann, bob


def restore(game, now: float, wall_offset_ms: int = 0, at: float | None = None):
    meta, participants = game.to_snapshot(game_now := (at if at is not None else now))
    definition = definition_from_record(roundtrip(definition_record(game.definition)))
    del game_now
    return QuizGame.from_snapshot(
        definition, GameSettings(), roundtrip(meta), roundtrip(participants), now, wall_offset_ms
    )


def test_definition_round_trips():
    game = make_game()
    assert definition_from_record(roundtrip(definition_record(game.definition))) == game.definition


def test_scores_tokens_names_and_ranks_survive():
    game, ann, bob = in_question()
    game.answer(ann, "q0", 0, 2.0)
    restored = restore(game, now=2.5, at=2.5)
    assert restored.participants[ann].score == game.participants[ann].score > 0
    assert restored.leaderboard.rank(ann) == 1 and restored.leaderboard.rank(bob) == 2
    assert restored.roster.tokens == game.roster.tokens
    assert restored.host_token == game.host_token
    assert restored.player_count == 2
    # The answer is still there: a safe retry returns the same result, another choice is refused.
    retry = restored.answer(ann, "q0", 0, 3.0)
    assert retry[0].payload == game.participants[ann].answers["q0"].result


def test_clock_is_frozen_while_nobody_ran_the_quiz():
    game, _ann, bob = in_question()
    saved_at = 4.0
    # Restored 3 s of outage later on a node whose wall clock offset differs.
    restored = restore(game, now=7.0 + 100.0, wall_offset_ms=-100_000, at=saved_at)
    # Bob was handed the question at 1.3 and had 10 s: the close moved by the outage (3 s).
    assert restored.handoffs.close_at(10.0) == pytest.approx(1.3 + 10 + 3.0 + 100.0)
    # Bob answering 2 s after his own hand-off (in restored time) scores like before.
    effects = restored.answer(bob, "q0", 0, 1.3 + 3.0 + 100.0 + 2.0)
    assert effects[0].payload["points"] == game.definition.questions[0].points * 9 // 10 + 0


def test_the_restored_quiz_plays_to_the_end():
    game, ann, _bob = in_question(reveal="on_close")
    game.answer(ann, "q0", 0, 2.0)
    restored = restore(game, now=5.0, at=5.0)
    out = restored.tick(20.0)
    assert restored.phase == Phase.REVEAL
    results = [e for e in out if isinstance(e, fx.Reply) and e.type == "answer_result"]
    assert [r.participant_id for r in results] == [ann]
    while not restored.finished:
        restored.tick(restored.next_deadline())
    assert restored.leaderboard.rank(ann) == 1


def test_changes_are_incremental():
    game, ann, bob = in_question()
    game.take_changes(1.5)  # the fan-out's hand-offs
    game.answer(ann, "q0", 0, 2.0)
    meta, changed, removed = game.take_changes(2.0)
    assert set(changed) == {ann}
    assert removed == []
    game.leave(bob, 2.5)
    meta, changed, removed = game.take_changes(2.5)
    assert changed == {} and removed == [bob]
    assert meta["phase"] == Phase.QUESTION
