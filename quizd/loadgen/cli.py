"""``quizd-load``: simulate N players and a host against quizd, and measure.

    quizd-load --players 1000 --ws ws://127.0.0.1:8765/ws --http http://127.0.0.1:8080 \\
               --token change-me --definition vocab-101 --reaction uniform:200-2000 --json

The parent process creates the quiz over the HTTP API (or takes ``--quiz-id`` and
``--host-token`` for a quiz that already exists, or for a baseline server without an
API), joins as its host and drives it: ``start``, then for each question waits until
every player's answer has its reply and sends ``next`` to close it and ``next`` again to
open the following one, and finally ``end``.  The players live in ``--workers`` worker
processes (``quizd.loadgen.worker``: raw sockets, epoll and wsproto), which connect, join,
answer with the configured reaction time and correctness, and send their raw
measurements back; the parent merges them into one report (``quizd.loadgen.stats``).

It is bounded: at most ``MAX_PLAYERS`` players, a whole-run ``--timeout``, and only
loopback targets unless ``--allow-remote`` is given.

The command line lives here; ``quizd.loadgen.run`` drives one run (the host and the
workers).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from quizd.loadgen.run import LoadError, Run
from quizd.loadgen.stats import render_text


# ---------------------------------------------------------------------- arguments
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="quizd-load",
        description="Simulate N players and a host against quizd (or a baseline server) and report "
        "connect rate, question fan-out, answer latency, leaderboard frames, errors and close codes.",
    )
    p.add_argument(
        "--ws",
        action="append",
        default=[],
        metavar="URL",
        help="player WebSocket URL; repeat for a cluster (players are spread round-robin, the "
        "host uses the first). Default ws://127.0.0.1:8765/ws",
    )
    p.add_argument("--http", default="http://127.0.0.1:8080", metavar="URL", help="control plane to create the quiz")
    p.add_argument(
        "--token",
        default=os.environ.get("QUIZD_ADMIN_TOKEN", "change-me"),
        help="admin token (default: $QUIZD_ADMIN_TOKEN or change-me)",
    )
    p.add_argument("--definition", help="quiz definition id (default: the first one the node lists)")
    p.add_argument("--quiz-id", help="play this existing quiz instead of creating one (needs --host-token)")
    p.add_argument("--host-token", help="host token of --quiz-id")
    p.add_argument("-n", "--players", type=int, default=100, help="players (default 100)")
    p.add_argument("-w", "--workers", type=int, default=1, help="worker processes for the players (default 1)")
    p.add_argument("--questions", type=int, help="questions to play (default: all of the quiz)")
    p.add_argument(
        "--reaction",
        default="uniform:300-3000",
        help="answer time after the question arrives, in ms: fixed:MS, uniform:A-B, even:A-B, "
        "normal:MEAN,SD, exp:MEAN, or sync:MS (everyone at MS after the host's trigger). "
        "Default uniform:300-3000",
    )
    p.add_argument(
        "--correct-share",
        "--correct",
        dest="correct",
        type=float,
        default=0.7,
        metavar="SHARE",
        help="share of right answers on questions whose answer is known from --answers or "
        "--answer-key; the others are wrong (default 0.7)",
    )
    p.add_argument(
        "--answer-key", help="correct choice per single-choice question, comma-separated (else choices are random)"
    )
    p.add_argument(
        "--answers",
        metavar="FILE",
        help="JSON file with the correct answer echo of each question index, for every kind: "
        '[{"choice": 1}, {"choices": [0, 2]}, {"text": "Canberra"}, {"value": 1969}, null] '
        "(null: a poll or not known; those are guessed)",
    )
    p.add_argument("--answer-fraction", type=float, default=1.0, help="share of players who answer (default 1)")
    p.add_argument(
        "--advance",
        choices=("answered", "timer"),
        default="answered",
        help="answered: the host closes each question once every answer has its reply (default); "
        "timer: questions close by themselves",
    )
    p.add_argument(
        "--reveal-wait",
        type=float,
        default=0.0,
        metavar="S",
        help="seconds to stay in each reveal before the host moves on (default 0)",
    )
    p.add_argument(
        "--connect-rate",
        type=float,
        help="new connections per second over all workers (default: as fast as the window allows)",
    )
    p.add_argument(
        "--connect-window", type=int, default=256, help="connections being set up at once, per worker (default 256)"
    )
    p.add_argument("--name-prefix", help="player names are PREFIX<i> (default: a random one)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--timeout", type=float, default=600.0, help="hard limit for the whole run, seconds (default 600)")
    p.add_argument("--allow-remote", action="store_true", help="allow non-loopback targets")
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of text")
    return p


def run_load(argv: list[str]) -> dict[str, Any]:
    """Parse ``argv`` as the command line would and return the report (for tests and the bench)."""
    return Run(build_parser().parse_args(argv)).run()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        report = Run(args).run()
    except (LoadError, ValueError, OSError) as exc:
        print(f"quizd-load: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(render_text(report))
    return 0 if report["players"]["joined"] else 1


if __name__ == "__main__":
    sys.exit(main())
