"""The storage rows (issue 13): what keeping every answer costs, per database.

The single-node set-up (servers on core 0, ``quizd-load`` on core 1): four quizd
nodes at once, with ``[storage] url`` = ``"none"``, an SQLite file, a throwaway
PostgreSQL (``quizd.testing.procs.PostgresServer``, pinned to core 0 beside the nodes,
durability off as in the tests) and ``"none"`` again: the *control*, whose ratio over
the first ``none`` node says how far two identical nodes differ in this run (three
identical nodes, nine interleaved rounds on a quiet machine: p99 medians 14.9, 18.4 and
11.5 ms, ratios 0.77-1.60x, so a 1.1x target is within one run's noise).  While one
node plays a burst the others are stopped (SIGSTOP, ``bench.scenarios.alone``): an idle
node is not free, its quiet-time collections (``quizd.ops.gc_tuning``: a full one at most
every 60 s and only while no question is open, which on an idle node is always; 20-45 ms
measured) and its writer's last batch fell into whichever node's burst was running.

PostgreSQL runs at the lowest CPU priority (nice 19; the nodes run at the bench's
-20): a cluster's database has a host of its own, and this 2-core machine has none to
give it (core 1 is the load generator's, which is saturated in these bursts).  At the
nodes' priority it competed with the node being measured for its core, about 15 ms of
server CPU for each 1,000 answers inserted (measured: ``/proc`` CPU time of the
postmaster and its backends around 20 batches), which a node never pays when the
database is elsewhere; the node's own cost of keeping answers on PostgreSQL (its
writer thread, psycopg, the JSON it builds) is still on the core it shares with the
node.  Eight interleaved rounds each (``none``, PostgreSQL at nice 0, at nice 19; nodes
at -20): p99 medians 26.1, 62.6 and 29.4 ms.

1. ``burst_1s``: the "within 1 s" burst of the single-node rows at ``s.storage_n``
   players, on each node in turn, ``REPEATS`` rounds (none, SQLite, PostgreSQL,
   control, none, ...) so that no database always runs first; each p99 is the median of its rounds
   and its ratio over the ``none`` node's is computed in-run (target: at most 1.1x);
2. ``end_write`` (SQLite, PostgreSQL): a one-question quiz of ``s.storage_end_n``
   players; the time from the host's final command (``end``, which quizd-load sends
   after the last question's reveal, as a last ``next`` would end it) to the quiz's
   results being in the database, seen by polling ``quizzes.ended_at`` every 10 ms from
   this process (the players' rows commit in the same transaction; their count is
   checked); the clocks are both CLOCK_MONOTONIC;
3. ``writer`` (SQLite, PostgreSQL): answers written per second by the node's batch
   writer, timing a drain of ``s.storage_drain`` answers (``bench/writer_drain.py``),
   after the node stopped, pinned to the node's core.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bench.common import PY, ROOT, SERVER_CPU, log, pinned
from bench.scenarios import alone, scenario_load
from bench.servers import QuizdServer
from quizd.loadgen.stats import median
from quizd.store.engine import make_engine
from quizd.store.schema import players, quizzes
from quizd.testing.procs import PostgresServer, postgres_bin_dir

BACKENDS = ("none", "sqlite", "postgres", "control")
# Nodes that keep nothing: ``none``, the reference, and ``control``, a second one run the
# same way, whose ratio over ``none`` is the run's own noise floor (not a target).
NOTHING_KEPT = ("none", "control")
REACTION = "uniform:0-1000"
POLL_S = 0.01
REPEATS = 9  # burst rounds over the three nodes (a single burst's p99 swings 2-10x between rounds on this VM)
TARGET_RATIO = 1.1
# PostgreSQL's priority on the server core: the lowest, standing for a database on its own host.
DATABASE_NICE = 19


def sqlalchemy_url(url: str) -> str:
    """A ``[storage] url`` as SQLAlchemy opens it with quizd's driver (psycopg 3)."""
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


class EndWatch:
    """Polls the database in a thread: when each quiz's ``ended_at`` first shows."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(sqlalchemy_url(url))
        self.seen: dict[str, int] = {}
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="end-watch", daemon=True)

    def __enter__(self) -> EndWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        query = select(quizzes.c.quiz_id).where(quizzes.c.ended_at.is_not(None))
        while not self._stop.is_set():
            try:
                with self.engine.connect() as conn:
                    ended = conn.execute(query).scalars().all()
                t = time.monotonic_ns()
                for quiz_id in ended:
                    self.seen.setdefault(quiz_id, t)
            except Exception:
                self.errors += 1
            self._stop.wait(POLL_S)

    def player_rows(self, quiz_id: str) -> int:
        with self.engine.connect() as conn:
            return len(conn.execute(select(players.c.participant_id).where(players.c.quiz_id == quiz_id)).all())


def scenario_end_write(server: QuizdServer, url: str, n: int, answers: Path) -> dict[str, Any]:
    """One question for ``n`` players, then the time until the results are in the database."""
    with EndWatch(url) as watch:
        run = scenario_load(server, n, "bench-burst", REACTION, 1, answers=answers)
        deadline = time.monotonic() + 30
        while run["quiz_id"] not in watch.seen and time.monotonic() < deadline:
            time.sleep(POLL_S)
    end_ns = (run.get("end") or {}).get("end_sent_ns")
    seen_ns = watch.seen.get(run["quiz_id"])
    return {
        "players": n,
        "joined": run["joined"],
        "answer_p99_ms": run["p99_ms"],
        "end_to_written_ms": round((seen_ns - end_ns) / 1e6, 1) if seen_ns and end_ns else None,
        "end_to_quiz_ended_ms": (
            round((run["end"]["quiz_ended_ns"] - end_ns) / 1e6, 1)
            if end_ns and run["end"].get("quiz_ended_ns")
            else None
        ),
        "player_rows": watch.player_rows(run["quiz_id"]) if seen_ns else 0,
        "poll_errors": watch.errors,
    }


def scenario_writer(url: str, answers: int) -> dict[str, Any]:
    argv = [PY, "-m", "bench.writer_drain", "--url", sqlalchemy_url(url), "--answers", str(answers)]
    out = subprocess.run(pinned(SERVER_CPU, argv), capture_output=True, text=True, timeout=400, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"writer drain failed ({out.returncode}): {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def lowest_priority(pid: int) -> None:
    """Give process ``pid`` and its children (PostgreSQL's postmaster and its workers; the
    backends it forks later inherit it) the nice value ``DATABASE_NICE``."""
    children = [pid]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:  # the process ended meanwhile
            continue
        if fields and int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    for child in children:
        try:
            os.setpriority(os.PRIO_PROCESS, child, DATABASE_NICE)
        except OSError as exc:
            log(f"storage: PostgreSQL process {child} keeps its priority ({exc})")


def alone_load(
    servers: dict[str, QuizdServer], name: str, server: QuizdServer, n: int, s: argparse.Namespace, key_file: Path
) -> dict[str, Any]:
    """One burst on ``name``'s node with the other nodes stopped (``bench.scenarios.alone``):
    an idle node's quiet-time collection or last batch write must not land in another's burst."""
    with alone(servers, name):
        return scenario_load(server, n, "bench-burst", REACTION, s.burst_questions, answers=key_file)


def run_storage(s: argparse.Namespace, work: Path) -> dict[str, Any]:
    """The storage block: three nodes, the bursts alternating, then each database's writes."""
    n = s.storage_n
    block: dict[str, Any] = {
        "players": n,
        "end_players": s.storage_end_n,
        "drain_answers": s.storage_drain,
        "reaction": REACTION,
        "questions": s.burst_questions,
        "rounds": REPEATS,
        "backends": {},
        "errors": {},
    }
    errors: dict[str, str] = block["errors"]
    work.mkdir(parents=True, exist_ok=True)
    key_file = s.defs_dir / "bench-burst.answers.json"
    urls: dict[str, str] = {"none": "none", "control": "none", "sqlite": f"sqlite:///{work / 'sqlite' / 'quizd.db'}"}
    pg: PostgresServer | None = None
    servers: dict[str, QuizdServer] = {}
    t0 = time.monotonic()

    def attempt(name: str, scenario: str, what: str, fn: Any) -> Any:
        log(f"storage {name}: {what}")
        try:
            return fn()
        except Exception as exc:  # one failed scenario must not lose the rest
            log(f"storage {name}: {scenario} failed: {exc}")
            errors[f"{name}-{scenario}"] = str(exc)[-2000:]
            return None

    try:
        if postgres_bin_dir() is None:
            errors["postgres"] = "PostgreSQL is not installed (Debian package postgresql)"
        else:
            # In its own temporary directory: as root it runs as nobody, who cannot enter ``work``.
            pg = PostgresServer()
            try:
                pg.start()
                subprocess.run(["taskset", "-acp", SERVER_CPU, str(pg.pid)], check=False, capture_output=True)
                lowest_priority(pg.pid)
                urls["postgres"] = pg.create_database("bench")
                urls["postgres-drain"] = pg.create_database("drain")
            except Exception as exc:  # the other databases still run
                log(f"storage: PostgreSQL did not start: {exc}")
                errors["postgres"] = str(exc)[-2000:]
        for name in BACKENDS:
            if name in urls:
                (work / name).mkdir(parents=True, exist_ok=True)
                server = QuizdServer(work / name, s)
                server.storage_url = urls[name]
                server.start()
                servers[name] = server
                block["backends"][name] = {"url": name, "bursts": []}
        for round_ in range(REPEATS):
            for name, server in servers.items():
                run = attempt(
                    name,
                    f"burst_1s-{round_ + 1}",
                    f"burst, answers within 1 s, N={n} (round {round_ + 1} of {REPEATS})",
                    lambda name=name, server=server: alone_load(servers, name, server, n, s, key_file),
                )
                if run is not None:
                    block["backends"][name]["bursts"].append(run)
        for name, server in servers.items():
            if name not in NOTHING_KEPT:
                end = attempt(
                    name,
                    "end_write",
                    f"end-of-quiz write, N={s.storage_end_n}",
                    lambda name=name, server=server: scenario_end_write(server, urls[name], s.storage_end_n, key_file),
                )
                if end is not None:
                    block["backends"][name]["end_write"] = end
    finally:
        for server in servers.values():
            server.stop()
    try:
        for name in servers:
            if name not in NOTHING_KEPT:
                # After the nodes stopped: the drain has the server core to itself.
                drain_url = urls.get(f"{name}-drain") or f"sqlite:///{work / name / 'drain.db'}"
                writer = attempt(
                    name,
                    "writer",
                    f"batch writer drain of {s.storage_drain} answers",
                    lambda url=drain_url: scenario_writer(url, s.storage_drain),
                )
                if writer is not None:
                    block["backends"][name]["writer"] = writer
    finally:
        if pg is not None:
            pg.cleanup()
    block["wall_s"] = round(time.monotonic() - t0, 1)
    for b in block["backends"].values():
        bursts = b["bursts"]
        if bursts:
            b["burst_1s"] = {
                "p50_ms": round(median([r["p50_ms"] for r in bursts]) or 0, 3),
                "p99_ms": round(median([r["p99_ms"] for r in bursts]) or 0, 3),
                "client_cpu_util": max(r["client_cpu_util"] for r in bursts),
                "client_send_lag_p99_ms": max(r["client_send_lag_p99_ms"] for r in bursts),
                "client_saturated": any(r["client_saturated"] for r in bursts),
            }
    base = (block["backends"].get("none") or {}).get("burst_1s", {}).get("p99_ms")
    block["p99_ratio"] = {
        name: round(b["burst_1s"]["p99_ms"] / base, 3) if base and b.get("burst_1s", {}).get("p99_ms") else None
        for name, b in block["backends"].items()
        if name not in NOTHING_KEPT
    }
    control = (block["backends"].get("control") or {}).get("burst_1s", {}).get("p99_ms")
    block["control_ratio"] = round(control / base, 3) if base and control else None
    log(
        f"storage N={n}: p99 "
        + ", ".join(f"{name} {b.get('burst_1s', {}).get('p99_ms')} ms" for name, b in block["backends"].items())
        + f"; ratios {block['p99_ratio']}, control {block['control_ratio']}"
    )
    return block
