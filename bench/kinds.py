"""The question kinds rows (issue 14): a mixed quiz against an all-``single`` one.

One quizd node (the single-node set-up: server on core 0, ``quizd-load`` on core 1)
plays ``bench-mixed`` (one question of each kind, ``bench.servers.make_mixed_questions``)
and ``bench-single`` (as many single-choice questions, same time limit and text length)
with the players answering within 1 s of each question, right 70 % of the time (told
the answers by the ``.answers.json`` file the bench writes beside each definition).
The two runs alternate (single, mixed, single, mixed) so that neither is always the
one after the other, and each kind's p99 is the median of its runs.  The figure is
the answer-to-result p99 of the mixed quiz over the single one's, computed in-run
(target: at most 1.1x).
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
REPEATS = 2  # runs of each quiz, alternating
TARGET_RATIO = 1.1


def run_kinds(s: argparse.Namespace, work: Path) -> dict[str, Any]:
    """The kinds block: ``s.kinds_n`` players, one node, both quizzes ``REPEATS`` times."""
    n = s.kinds_n
    block: dict[str, Any] = {
        "players": n,
        "questions": len(KINDS),
        "reaction": REACTION,
        "single": [],
        "mixed": [],
        "errors": {},
    }
    work.mkdir(parents=True, exist_ok=True)
    server = QuizdServer(work, s)
    server.start()
    t0 = time.monotonic()
    try:
        for attempt in range(REPEATS):
            for quiz in ("single", "mixed"):
                definition = f"bench-{quiz}"
                log(f"kinds N={n}: {definition}, answers within 1 s (run {attempt + 1} of {REPEATS})")
                try:
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
