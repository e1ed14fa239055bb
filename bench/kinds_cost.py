"""What one answer of each question kind costs the node's CPU, without sockets.

The kinds rows (``bench/kinds.py``) measure a mixed quiz against an all-single one
through real sockets, where the machine's noise is far larger than a few microseconds
per answer.  This script times the per-answer work that depends on the kind, alone:
for the two bench quizzes (``bench-single``, ``bench-mixed``, the same definitions and
the same answers as the kinds rows: ``quizd.loadgen.answers.pick_answer``, right 70 %
of the time), N players answer each question in turn and each answer goes through

* ``parse``: the frame decoded and parsed (``quizd.protocol.messages``),
* ``answer``: ``QuizGame.answer`` (check, judge, score, leaderboard, ``answer_result``),
* ``encode``: the reply encoded (orjson),
* ``tick``: the throttled broadcasts checked (``QuizGame.tick``),
* ``record``: the effects turned into store events (``QuizRecorder``; the events are
  kept in a list, the database's own cost is the storage rows' business),

and then the question is closed (``question_closed`` built and encoded; a typed
answer's top list, a slider's histogram).  Each figure is the minimum over
``--repeats`` quizzes (the least disturbed one: other processes only add time):

    PYTHONPATH=$PWD .venv/bin/python bench/kinds_cost.py [--players 5000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import orjson

from bench.servers import KINDS, make_mixed_questions, make_questions, write_quiz
from quizd.actors.recording import QuizRecorder
from quizd.config.definitions import load_definitions
from quizd.game import effects as fx
from quizd.game import views
from quizd.game.phase import Phase
from quizd.game.quiz import HOST_ID, GameSettings, QuizGame
from quizd.loadgen.answers import load_answers, pick_answer
from quizd.protocol.messages import AnswerPayload, decode, encode, parse_message
from quizd.store.events import StoreEvent

STEPS = ("parse", "answer", "encode", "tick", "record")
CORRECT_SHARE = 0.7  # as the kinds rows' quizd-load runs


class EventList:
    """A ``RecordPort`` that keeps the events: what recording costs before the database."""

    def __init__(self) -> None:
        self.events: list[StoreEvent] = []

    def record(self, event: StoreEvent) -> None:
        self.events.append(event)


def play(defs: Path, quiz: str, players: int, seed: int) -> dict[tuple[int, str], dict[str, float]]:
    """One quiz: per question (index, kind), µs per answer of each step and the close in ms."""
    definition = load_definitions(defs).definitions[quiz]
    answers = load_answers(defs / f"{quiz}.answers.json")
    now = 1000.0
    game = QuizGame(quiz, definition, GameSettings(max_players=players), now)
    recorder = QuizRecorder(EventList(), "bench")
    pids = [game.join_player(f"p{i}", now).participant_id for i in range(players)]
    game.start(HOST_ID, now)
    now += definition.countdown_ms / 1000
    game.tick(now)
    rng = random.Random(seed)
    clock = time.perf_counter
    out: dict[tuple[int, str], dict[str, float]] = {}
    while game.phase == Phase.QUESTION:
        assert game.question_index is not None
        index = game.question_index
        qid = game.question_id(index)
        question = views.question(game, now)
        frames = [
            orjson.dumps(
                {
                    "type": "answer",
                    "payload": {
                        "questionId": qid,
                        **pick_answer(question, answers.get(index), CORRECT_SHARE, rng).fields,
                    },
                    "id": index,
                }
            ).decode()
            for _ in pids
        ]
        spent = dict.fromkeys(STEPS, 0.0)
        for pid, frame in zip(pids, frames, strict=True):
            t0 = clock()
            message = parse_message(decode(frame))
            assert isinstance(message.payload, AnswerPayload)
            t1 = clock()
            now += 1e-5
            effects = game.answer(pid, qid, message.payload.answer, now, message.id)
            t2 = clock()
            for effect in effects:
                if isinstance(effect, fx.Reply):
                    encode(effect.type, effect.payload, effect.reply_to)
            t3 = clock()
            effects.extend(game.tick(now))
            t4 = clock()
            recorder.effects(game, effects, game.wall_ms(now))
            t5 = clock()
            for step, took in zip(STEPS, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
                spent[step] += took
        t0 = clock()
        closed = game.next(HOST_ID, now)
        for effect in closed:
            if isinstance(effect, fx.Broadcast):
                encode(effect.type, effect.payload)
        recorder.effects(game, closed, game.wall_ms(now))
        close_ms = (clock() - t0) * 1000
        figures = {step: spent[step] / players * 1e6 for step in STEPS}
        figures["total"] = sum(figures.values())
        figures["close_ms"] = close_ms
        out[index, str(question["kind"])] = figures
        game.next(HOST_ID, now)  # the reveal is over: the next question, or the end
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--players", type=int, default=5000)
    p.add_argument("--repeats", type=int, default=5, help="quizzes of each kind of quiz; the minimum is shown")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        defs = Path(tmp)
        # The kinds rows' two quizzes, as bench/servers.py writes them.
        write_quiz(defs, "bench-mixed", make_mixed_questions(len(KINDS), 400), 20_000)
        write_quiz(defs, "bench-single", make_questions(len(KINDS), 20_000, 400), 20_000)
        print(f"µs per answer (close: ms per question), {a.players:,} players, minimum of {a.repeats} quizzes")
        print(f"{'quiz':13} {'question':15} " + " ".join(f"{s:>7}" for s in (*STEPS, "total", "close")))
        for quiz in ("bench-single", "bench-mixed"):
            # Question by question, so that each kind compares with the single question
            # at the same place in the quiz (the leaderboard grows fuller as it goes).
            best: dict[tuple[int, str], dict[str, float]] = {}
            for seed in range(a.repeats):
                for question, figures in play(defs, quiz, a.players, seed).items():
                    mins = best.setdefault(question, figures)
                    for name, value in figures.items():
                        mins[name] = min(mins[name], value)
            for (index, kind), figures in best.items():
                cells = (*(figures[s] for s in STEPS), figures["total"], figures["close_ms"])
                print(f"{quiz:13} {f'q{index} {kind}':15} " + " ".join(f"{v:7.2f}" for v in cells))


if __name__ == "__main__":
    main()
