"""The question kinds rows (issue 14): a mixed quiz against an all-``single`` one.

A quizd node (the single-node set-up: server on core 0, ``quizd-load`` on core 1)
plays ``bench-mixed`` (one question of each kind, ``bench.servers.make_mixed_questions``)
and ``bench-single`` (as many single-choice questions, same time limit and text length)
with the players answering within 1 s of each question, right 70 % of the time (told
the answers by the ``.answers.json`` file the bench writes beside each definition).
Every run has a node of its own (a fresh process and database), in a balanced order
(single, mixed, mixed, single, ...: both quizzes hold the same mean position), because
the runs are not alike otherwise.  A node that already played a quiz still holds it
(an ended quiz lingers ten minutes with its players) and may still be writing its
answers to the database, and the machine itself drifts (other processes come and go).
With one node and the order single, mixed, single, mixed, each quiz's second run was
slower than its first at 5,000 players (p50 41 -> 120 ms single, 186 -> 336 ms mixed)
and the mixed quiz always ran later: the figure was 1.78x, and 0.76x for the same code
in the balanced order on fresh nodes a few minutes later.  Each quiz's p50/p99 is the
median of its ``REPEATS`` runs.  The figure is the answer-to-result p99 of the mixed
quiz over the single one's, computed in-run (target: at most 1.1x).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from bench.common import log
from bench.scenarios import scenario_load
from bench.servers import KINDS, QuizdServer
from quizd.loadgen.stats import median

REACTION = "uniform:0-1000"  # the "burst within 1 s" of the single-node rows
REPEATS = 4  # runs of each quiz, in balanced order (``order``)
TARGET_RATIO = 1.1


def order(repeats: int) -> list[tuple[int, str]]:
    """The runs as (attempt, quiz): single, mixed, then mixed, single, and so on, so that
    with an even ``repeats`` both quizzes have the same mean position in the run."""
    pairs = [("single", "mixed") if attempt % 2 == 0 else ("mixed", "single") for attempt in range(repeats)]
    return [(attempt, quiz) for attempt, pair in enumerate(pairs) for quiz in pair]


def run_kinds(s: argparse.Namespace, work: Path) -> dict[str, Any]:
    """The kinds block: ``s.kinds_n`` players, a fresh node per run, both quizzes ``REPEATS`` times."""
    n = s.kinds_n
    block: dict[str, Any] = {
        "players": n,
        "questions": len(KINDS),
        "reaction": REACTION,
        "order": [quiz for _attempt, quiz in order(REPEATS)],
        "single": [],
        "mixed": [],
        "errors": {},
    }
    t0 = time.monotonic()
    for attempt, quiz in order(REPEATS):
        definition = f"bench-{quiz}"
        log(f"kinds N={n}: {definition}, answers within 1 s (run {attempt + 1} of {REPEATS}, fresh node)")
        server = QuizdServer(work / f"{quiz}-{attempt + 1}", s)
        server.work.mkdir(parents=True, exist_ok=True)
        try:
            server.start()
            block[quiz].append(
                scenario_load(
                    server,
                    n,
                    definition,
                    REACTION,
                    len(KINDS),
                    answers=s.defs_dir / f"{definition}.answers.json",
                )
            )
        except Exception as exc:
            log(f"kinds N={n}: {definition} failed: {exc}")
            block["errors"][f"{quiz}-{attempt + 1}"] = str(exc)[-2000:]
        finally:
            server.stop()
    block["wall_s"] = round(time.monotonic() - t0, 1)
    for quiz in ("single", "mixed"):
        runs = block[quiz]
        for p in ("p50", "p99"):
            value = median([r[f"{p}_ms"] for r in runs])
            block[f"{quiz}_{p}_ms"] = None if value is None else round(value, 3)
    single, mixed = block["single_p99_ms"], block["mixed_p99_ms"]
    block["p99_ratio"] = round(mixed / single, 3) if single and mixed is not None else None
    log(f"kinds N={n}: p99 single {single} ms, mixed {mixed} ms, ratio {block['p99_ratio']}")
    return block
