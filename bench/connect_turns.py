"""Connect and join N players, servers in turns: the connect row alone, repeated.

The full bench measures "time to connect N" three times per server; on this VM one
server's figure swings by 20-40 % from run to run, so a change of 5-10 % in the node's
cost per connection cannot be seen there.  This runs only that scenario, many turns,
the servers taking turns as in the bench (the others stopped, the measured one
settled: ``bench.scenarios.alone``), and prints every turn's connect time and the
server's CPU (user, system) from just before the C receiver starts until its
``connected`` line, then the medians.

A server is ``asyncio``, ``node``, or ``quizd`` from this checkout; ``quizd@PATH`` runs
the quizd of another checkout (a ``git worktree`` of an older commit, for an A/B).
``--profile`` records quizd with py-spy for the connects only (folded stacks, one file
per turn, ``--out`` directory).

    .venv/bin/python -m bench.connect_turns --n 5000 --turns 10 quizd quizd@/tmp/old asyncio
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from statistics import median

import bench.servers as servers_module
from bench.common import CLIENT_CPU, cpu_times_s
from bench.profile import Profiled
from bench.scenarios import alone, launch_receiver
from bench.servers import PeerServer, QuizdServer, Server, make_questions, write_definitions
from quizd.testing.procs import read_line


def connect_once(server: Server, n: int, profile_to: Path | None) -> dict[str, float]:
    """One turn: N players connect and join a fresh quiz; the receiver is then killed."""
    quiz_id, host_token = server.new_quiz("bench-fanout")
    script = server.work / "connect-script.tsv"
    script.write_text('{"type":"start","payload":{}}\t"type":"question"\n')
    profiled = nullcontext() if profile_to is None else Profiled(server.pid, profile_to, rate_hz=1000)
    proc = None
    try:
        with profiled:  # the connects only: the closes below are not in the profile
            user0, sys0 = cpu_times_s(server.pid)
            proc = launch_receiver(server, n, quiz_id, host_token, script)
            connected = json.loads(read_line(proc, '{"event":"connected"', 180))
            user1, sys1 = cpu_times_s(server.pid)
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
        server.end_quiz(quiz_id)
    time.sleep(1.0)  # the N closes, inside this server's turn
    return {
        "connect_s": connected["connect_ms"] / 1e3,
        "open": connected["open"],
        "user_s": user1 - user0,
        "sys_s": sys1 - sys0,
    }


def start(spec: str, work: Path, settings: argparse.Namespace) -> Server:
    name, _, root = spec.partition("@")
    work.mkdir()
    if name == "quizd":
        server: Server = QuizdServer(work, settings)
        default_root = servers_module.ROOT
        servers_module.ROOT = Path(root) if root else default_root  # the node runs from that checkout
        try:
            server.start()
        finally:
            servers_module.ROOT = default_root
        return server
    server = PeerServer(name, work, settings)
    server.start()
    return server


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("servers", nargs="+", help="asyncio, node, quizd or quizd@CHECKOUT")
    p.add_argument("--n", type=int, default=5000)
    p.add_argument("--turns", type=int, default=6)
    p.add_argument("--profile", action="store_true", help="py-spy the quizd connects (folded stacks in --out)")
    p.add_argument("--out", type=Path, default=Path("/tmp"))
    args = p.parse_args()
    os.sched_setaffinity(0, {int(CLIENT_CPU)})
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    settings = argparse.Namespace(steady_ms=20_000)
    settings.questions_fanout = make_questions(3, 600_000, 400)
    settings.questions_burst = make_questions(3, 20_000, 400)
    settings.questions_steady = make_questions(1, 20_000, 400)
    with tempfile.TemporaryDirectory() as tmp:
        settings.defs_dir = Path(tmp) / "quizzes"
        write_definitions(settings, settings.defs_dir)
        running: dict[str, Server] = {}
        try:
            for i, spec in enumerate(args.servers):
                running[spec] = start(spec, Path(tmp) / f"server-{i}", settings)
            results: dict[str, list[dict[str, float]]] = {spec: [] for spec in running}
            for turn in range(args.turns):
                for spec, server in running.items():
                    profile_to = None
                    if args.profile and spec.startswith("quizd"):
                        profile_to = args.out / f"connect-{spec.replace('/', '_')}-{turn}.txt"
                    with alone(running, spec):
                        r = connect_once(server, args.n, profile_to)
                    results[spec].append(r)
                    print(
                        f"{spec} turn {turn}: connect {r['connect_s']:.3f} s, user {r['user_s']:.2f} s, "
                        f"sys {r['sys_s']:.2f} s, open {r['open']}",
                        flush=True,
                    )
        finally:
            for server in running.values():
                server.stop()
    for spec, rs in results.items():
        connects = sorted(r["connect_s"] for r in rs)
        print(
            f"{spec}: median connect {median(connects):.3f} s (turns {', '.join(f'{c:.2f}' for c in connects)}), "
            f"median CPU {median(r['user_s'] + r['sys_s'] for r in rs):.2f} s"
        )


if __name__ == "__main__":
    main()
