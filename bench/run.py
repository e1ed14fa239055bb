"""The benchmark driver behind ``scripts/bench`` (see docs/benchmarks.md).

For each N, the servers (quizd, a minimal asyncio ``websockets`` server, a minimal Node
``ws`` server) are started pinned to core 0 and the clients run pinned to core 1.  Each
of 1-3 runs ``--repeats`` times (3; quick 1) per server, the servers taking turns while
the others are stopped (SIGSTOP), and its figures are the medians of the repeats
(``bench.scenarios.run_servers``); ``steady`` runs once per server:

1. ``connect``: the C receiver (bench/receiver) opens N players, upgrades and joins
   them; the server's VmRSS before and after gives the memory per idle connection.
2. ``fanout``: still in the same receiver run, the host alternately opens a question
   (a ~600-byte frame to everyone) and closes it (``question_closed`` + ``leaderboard``
   to everyone); each round's trigger-to-last-receipt window gives messages/s.  The
   receiver's own CPU per round shows it was not the bottleneck.
3. ``burst_1s``, ``burst_once``, ``steady``: ``quizd-load`` plays whole quizzes with every
   player answering within one second, all at the same instant, or spread evenly over
   the question; answer-to-``answer_result`` latency percentiles.
4. ``--soak`` (alone, never part of a plain run): one node under quizzes starting and
   ending for ``--soak-minutes`` (10), its RSS and descriptors sampled from /proc and
   reported flat or not after the warm-up (``bench/soak.py``).
5. ``--kinds`` (a plain run includes it): a mixed quiz (every question kind) against an
   all-``single`` one on one node, answers within 1 s, the p99 ratio in-run
   (``bench/kinds.py``; N = 5,000, quick 1,000).
6. ``--storage`` (a plain run includes it): storage ``none`` vs SQLite vs a throwaway
   PostgreSQL: the within-1 s burst's p99 ratios, the batch writer's answers/s and the
   end-of-quiz write (``bench/storage.py``; N = 5,000 and 10,000 at the end, quick 1,000).
7. cluster (a plain run, or ``--cluster``): redis-server and three quizd nodes in cluster
   mode, all on core 0.  ``burst_1s`` and ``burst_once`` with the players spread
   round-robin over the nodes (N = 1,000 and 5,000; quick: 1,000), compared with the
   single-node quizd of the same run; then the takeover time after ``kill -9`` of a quiz's
   owner with a few hundred players in a live question (no target).

Writes bench/results/<date>[-quick].json, .md (the table) and .png (the plot), and with
``--update-docs`` puts the table and plot into docs/benchmarks.md.

The parts: ``common`` (paths, cores, priority), ``workload`` (the quizzes), ``servers``
(quizd and the baselines), ``measure`` (/proc figures), ``scenarios`` (one server),
``cluster`` (three nodes and Redis), ``kinds`` and ``storage`` (their rows), ``report``
(table, plot, docs); this module only
reads the command line and runs them in order.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402
from bench.cluster import CLUSTER_MAX_N, run_cluster_scenarios  # noqa: E402
from bench.common import CLIENT_CPU, RESULTS, SERVER_CPU, SERVERS, log, nice_available  # noqa: E402
from bench.kinds import run_kinds  # noqa: E402
from bench.report import replot, write_outputs  # noqa: E402
from bench.scenarios import run_servers  # noqa: E402
from bench.servers import make_questions, write_definitions  # noqa: E402
from bench.soak import run_soak  # noqa: E402
from bench.storage import run_storage  # noqa: E402


# ---------------------------------------------------------------------- main
def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="N=1,000 only, fewer rounds, a 5 s steady question")
    p.add_argument("--n", help="comma-separated player counts (default 1000,5000,10000; quick: 1000)")
    p.add_argument("--servers", default=",".join(SERVERS), help="comma-separated subset of quizd,asyncio,node")
    p.add_argument("--rounds", type=int, help="fan-out rounds of each kind (default 10; quick: 5)")
    p.add_argument(
        "--repeats",
        type=int,
        help="runs of each burst and connect scenario per server, the servers taking turns; "
        "the figures are the medians (default 3; quick: 1)",
    )
    p.add_argument("--profile", action="store_true", help="record a py-spy flame graph of quizd per N")
    p.add_argument(
        "--cluster",
        action="store_true",
        help="run the cluster scenarios (3 nodes + Redis) even with --n or --servers; a plain "
        "full or --quick run includes them",
    )
    p.add_argument("--no-cluster", action="store_true", help="skip the cluster scenarios")
    p.add_argument(
        "--cluster-n",
        help="comma-separated player counts for the cluster bursts "
        f"(default 1000,5000; quick: 1000; with --n: its values up to {CLUSTER_MAX_N:,})",
    )
    p.add_argument(
        "--kinds",
        action="store_true",
        help="run the question kinds rows (a mixed quiz vs an all-single one); given alone with "
        "--storage or by itself, only the chosen rows run. A plain full or --quick run includes them",
    )
    p.add_argument("--kinds-n", type=int, help="players in the kinds rows (default 5,000; quick 1,000)")
    p.add_argument(
        "--storage", action="store_true", help="run the storage rows (none vs SQLite vs PostgreSQL); as --kinds"
    )
    p.add_argument("--storage-n", type=int, help="players in the storage burst (default 5,000; quick 1,000)")
    p.add_argument("--storage-end-n", type=int, help="players in the end-of-quiz write (default 10,000; quick 1,000)")
    p.add_argument(
        "--storage-drain", type=int, help="answers in the batch writer's timed drain (default 20,000; quick 5,000)"
    )
    p.add_argument("--no-kinds", action="store_true", help="skip the question kinds rows")
    p.add_argument("--no-storage", action="store_true", help="skip the storage rows")
    p.add_argument("--takeover-players", type=int, default=300, help="players in the takeover scenario (default 300)")
    p.add_argument(
        "--takeover-trials", type=int, help="kill -9 takeovers, each on a fresh cluster (default 3; quick: 1)"
    )
    p.add_argument("--update-docs", action="store_true", help="put the table and plot into docs/benchmarks.md")
    p.add_argument("--out", help="result file stem (default bench/results/<date>[-quick])")
    p.add_argument(
        "--soak",
        action="store_true",
        help="run only the soak: one node under a mixed load of quizzes starting and ending, RSS "
        "and descriptors sampled from /proc (writes bench/results/<date>-soak.json and .md)",
    )
    p.add_argument(
        "--soak-minutes", type=float, metavar="N", help="soak duration in minutes (default 10; implies --soak)"
    )
    p.add_argument("--replot", metavar="JSON", help="only redo the table, plot (and --update-docs) of a results file")
    p.add_argument(
        "--no-nice",
        action="store_true",
        help=f"do not raise the priority of the server and clients (nice -n {common.NICE:d})",
    )
    s = p.parse_args()
    if s.no_nice or not nice_available():
        if not s.no_nice:
            log(f"nice -n {common.NICE} is not permitted here; running at normal priority (expect more noise)")
        common.disable_nice()
    if s.replot:
        return replot(Path(s.replot), s.update_docs)
    if s.soak or s.soak_minutes is not None:
        run_soak(s.soak_minutes if s.soak_minutes is not None else 10.0, Path(s.out) if s.out else None)
        return 0
    s.ns = [int(x) for x in s.n.split(",")] if s.n else ([1000] if s.quick else [1000, 5000, 10000])
    s.rounds = s.rounds or (5 if s.quick else 10)
    s.repeats = max(1, s.repeats or (1 if s.quick else 3))
    s.burst_questions = 2 if s.quick else 3
    s.steady_ms = 5000 if s.quick else 20000
    s.run_cluster = (s.cluster or (s.n is None and s.servers == ",".join(SERVERS))) and not s.no_cluster
    if s.cluster_n:
        s.cluster_ns = [int(x) for x in s.cluster_n.split(",")]
    elif s.n:
        s.cluster_ns = [n for n in s.ns if n <= CLUSTER_MAX_N]
    else:
        s.cluster_ns = [1000] if s.quick else [1000, 5000]
    # --kinds / --storage alone run only those rows; a plain run has every part.
    only_rows = (s.kinds or s.storage) and not (s.n or s.servers != ",".join(SERVERS) or s.cluster)
    plain = s.n is None and s.servers == ",".join(SERVERS) and not only_rows
    s.run_kinds = (s.kinds or plain) and not s.no_kinds
    s.run_storage = (s.storage or plain) and not s.no_storage
    s.kinds_n = s.kinds_n or (1000 if s.quick else 5000)
    s.storage_n = s.storage_n or (1000 if s.quick else 5000)
    s.storage_end_n = s.storage_end_n or (1000 if s.quick else 10000)
    s.storage_drain = s.storage_drain or (5000 if s.quick else 20000)
    if only_rows:
        s.ns, s.run_cluster = [], s.cluster
    s.takeover_trials = s.takeover_trials if s.takeover_trials is not None else (1 if s.quick else 3)
    servers = [k.strip() for k in s.servers.split(",") if k.strip()] if s.ns else []
    for k in servers:
        if k not in SERVERS:
            p.error(f"unknown server {k!r}")
    if len(os.sched_getaffinity(0)) < 2 and os.cpu_count() and os.cpu_count() < 2:
        log("warning: fewer than 2 cores; server and client will share one")
    try:
        os.sched_setaffinity(0, {int(CLIENT_CPU)})
    except OSError:
        pass
    if common.NICE is not None:
        # This process is a client too (the cluster takeover driver runs in it): same priority
        # as quizd-load and the C receiver.  ``nice -n`` of the children is clamped at -20.
        try:
            os.setpriority(os.PRIO_PROCESS, 0, common.NICE)
        except OSError:
            pass
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < max([*s.ns, s.kinds_n, s.storage_end_n]) + 1000:
        log(f"warning: the open-files limit ({hard}) is below N+1000; large runs may fail")
    text_len = 400
    s.questions_fanout = make_questions(s.rounds + 1, 600_000, text_len)
    s.questions_burst = make_questions(s.burst_questions, 20_000, text_len)
    s.questions_steady = make_questions(1, s.steady_ms, text_len)
    date = dt.date.today().isoformat()
    stem = Path(s.out) if s.out else RESULTS / (date + ("-quick" if s.quick else ""))
    stem.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    results: dict[str, Any] = {
        "date": date,
        "quick": s.quick,
        "ns": s.ns,
        "servers": servers,
        "rounds": s.rounds,
        "repeats": s.repeats,
        "burst_questions": s.burst_questions,
        "steady_ms": s.steady_ms,
        "kinds_n": s.kinds_n if s.run_kinds else None,
        "storage_n": s.storage_n if s.run_storage else None,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"node {subprocess.run(['node', '--version'], capture_output=True, text=True).stdout.strip()}",
        "pinning": {
            "server": f"taskset -c {SERVER_CPU}",
            "client": f"taskset -c {CLIENT_CPU}",
            "priority": f"nice -n {common.NICE}" if common.NICE is not None else None,
        },
        "runs": {},
    }
    with tempfile.TemporaryDirectory(prefix="quizd-bench-") as tmp:
        s.defs_dir = Path(tmp) / "quizzes"
        write_definitions(s, s.defs_dir)
        for n in s.ns:
            results["runs"][str(n)] = run_servers(n, servers, s, Path(tmp), stem.parent if s.profile else None)
            for kind, f in results["runs"][str(n)].items():
                try:
                    log(
                        f"{kind} N={n}: fan-out {f['connect_fanout']['fanout_question']['median_msgs_per_s']} "
                        f"msgs/s, at-once p50/p99 {f['burst_once']['p50_ms']}/{f['burst_once']['p99_ms']} ms, "
                        f"steady p99 {f['steady']['p99_ms']} ms, {f['connect_fanout']['kb_per_idle_conn']} KB/conn"
                    )
                except KeyError:
                    log(f"{kind} N={n}: some scenarios failed: {', '.join(f['errors'])}")
        results["kinds"] = (
            run_kinds(s, Path(tmp) / "kinds")
            if s.run_kinds
            else {"skipped": "not requested (--n/--servers/--storage without --kinds, or --no-kinds)"}
        )
        results["storage"] = (
            run_storage(s, Path(tmp) / "storage")
            if s.run_storage
            else {"skipped": "not requested (--n/--servers/--kinds without --storage, or --no-storage)"}
        )
        results["cluster"] = (
            run_cluster_scenarios(s, results, Path(tmp))
            if s.run_cluster
            else {"skipped": "not requested (--n/--servers without --cluster, or --no-cluster)"}
        )
    results["duration_s"] = round(time.monotonic() - t0, 1)
    write_outputs(results, stem, s.update_docs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
