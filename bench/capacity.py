"""Capacity model: what a player costs a 3-node cluster and its Redis, per phase of a quiz.

    PYTHONPATH=$PWD .venv/bin/python -m bench.capacity --quick

For each size (players per quiz x quizzes) a fresh redis-server + three quizd nodes
(``bench.cluster.Cluster``); players joined round-robin over the nodes by an in-process trio
driver, so the phases are exact: **rest** (every player joined, idle, ``REST_S``), **fanout**
(the host opens a question, until every player has it), **burst** (every player answers at
once, until every ``answer_result``), **reveal** (the host closes it, until every player has the
leaderboard).  Around each phase: the CPU time of each node and of redis-server
(``/proc/<pid>/stat``), Redis ``INFO stats`` / ``INFO commandstats`` and the nodes'
``quizd_cluster_snapshot_writes_total``.  Counts per event (commands, bytes, CPU-seconds,
snapshot writes) are the figures the model uses: they do not depend on how fast the driver
(one Python process on the client core) delivers the events.  Then linear fits over the
sizes, ``redis-benchmark`` for what one primary sustains here, and the sizing of a million
players.  Writes ``bench/results/<date>-capacity.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.cluster import CLUSTER_HEARTBEAT_MS, CLUSTER_NODES, Cluster
from bench.common import CLIENT_CPU, RESULTS, SERVER_CPU, cpu_s, log, pinned
from bench.servers import definition_toml, make_questions
from quizd.testing.procs import RedisServer

REST_S = 5.0
ROUNDS = 3  # questions per run: fan-out, burst and reveal are the medians over them
PHASES = ("rest", "fanout", "burst", "reveal")
ALL_PHASES = (*PHASES, "cycle")
QUICK_SIZES = [(250, 1), (500, 1), (1000, 1), (2000, 1), (250, 4)]
FULL_SIZES = [(250, 1), (500, 1), (1000, 1), (2000, 1), (3000, 1), (250, 4), (500, 4)]
#: Sizing assumptions (stated in docs/capacity.md).
QUESTION_PERIOD_S = 20.0  # one question every 20 s: fan-out + burst + reveal per period
NODE_CORE_BUDGET = 0.6  # a node (one Python process, one core) is sized to 60 % of a core
REDIS_BUDGET = 0.5  # a Redis primary is sized to half of what redis-benchmark measures
BURST_WINDOW_S = 1.0  # the answers of one question arrive within about a second


# ---------------------------------------------------------------------- sampling
def sample(cluster: Cluster, redis: Any) -> dict[str, Any]:
    stats = redis.info("stats")
    cmds = redis.info("commandstats")
    snap = 0.0
    for node in cluster.nodes:
        for name, value in node.metrics().items():
            if name.startswith("quizd_cluster_snapshot_writes"):
                snap += value
    return {
        "t": time.monotonic(),
        "node_cpu": [cpu_s(n.pid) for n in cluster.nodes],
        "redis_cpu": cpu_s(cluster.redis.pid),
        "commands": stats["total_commands_processed"],
        "net_in": stats["total_net_input_bytes"],
        "net_out": stats["total_net_output_bytes"],
        "cmdstats": {k.removeprefix("cmdstat_"): v["calls"] for k, v in cmds.items()},
        "snapshot_writes": snap,
    }


def delta(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    wall = b["t"] - a["t"]
    node_cpu = [round(y - x, 3) for x, y in zip(a["node_cpu"], b["node_cpu"], strict=True)]
    cmds = {k: v - a["cmdstats"].get(k, 0) for k, v in b["cmdstats"].items()}
    cmds.pop("info", None)  # the sampler's own INFO calls
    return {
        "wall_s": round(wall, 3),
        "node_cpu_s": node_cpu,
        "nodes_cpu_s": round(sum(node_cpu), 3),
        "redis_cpu_s": round(b["redis_cpu"] - a["redis_cpu"], 3),
        "commands": sum(cmds.values()),
        "net_in_bytes": b["net_in"] - a["net_in"],
        "net_out_bytes": b["net_out"] - a["net_out"],
        "by_command": {k: v for k, v in sorted(cmds.items(), key=lambda kv: -kv[1]) if v},
        "snapshot_writes": b["snapshot_writes"] - a["snapshot_writes"],
    }


# ---------------------------------------------------------------------- one size
def run_size(players: int, quizzes: int, work: Path, settings: argparse.Namespace) -> dict[str, Any]:
    import redis as redis_py
    import trio

    from quizd.client import connect

    cluster = Cluster(work, settings)
    out: dict[str, Any] = {"players_per_quiz": players, "quizzes": quizzes, "players": players * quizzes}
    try:
        cluster.start()
        rc = redis_py.Redis.from_url(cluster.redis.url)
        quiz = [cluster.nodes[q % CLUSTER_NODES].new_quiz("bench-capacity") for q in range(quizzes)]
        total = players * quizzes
        phases: dict[str, list[dict[str, Any]]] = {p: [] for p in PHASES}

        async def main() -> None:
            counts = {"joined": 0, "question": 0, "answered": 0, "leaderboard": 0}
            events = {k: trio.Event() for k in counts}
            go_answer = [trio.Event() for _ in range(ROUNDS)]
            limit = trio.Semaphore(64)

            def bump(kind: str) -> None:
                counts[kind] += 1
                if counts[kind] >= total:
                    events[kind].set()

            def reset(kind: str) -> None:
                counts[kind] = 0
                events[kind] = trio.Event()

            async def player(i: int, q: int, nursery: trio.Nursery) -> None:
                url = cluster.nodes[i % CLUSTER_NODES].ws_url
                async with limit:
                    cm = connect(url)
                    conn = await cm.__aenter__()
                    reply = await conn.join(quiz[q][0], name=f"c{q}-{i}")
                if reply["type"] != "joined":
                    raise RuntimeError(f"join refused: {reply}")
                conn.received.clear()
                bump("joined")
                state = {"round": 0}

                async def answer(r: int, question_id: Any) -> None:
                    await go_answer[r].wait()
                    await conn.send("answer", {"questionId": question_id, "choice": 0})

                try:
                    while True:
                        msg = await conn.recv(600)
                        conn.received.clear()
                        kind = msg.get("type")
                        if kind == "question":
                            nursery.start_soon(answer, state["round"], msg["payload"]["questionId"])
                            state["round"] += 1
                            bump("question")
                        elif kind == "answer_result":
                            bump("answered")
                        elif kind == "leaderboard":
                            bump("leaderboard")
                finally:
                    with trio.move_on_after(2) as scope:
                        scope.shield = True
                        try:
                            await cm.__aexit__(None, None, None)
                        except Exception:  # the connection is gone either way
                            pass

            async def drain(conn: Any) -> None:
                while True:
                    await conn.recv(600)
                    conn.received.clear()

            async def phase(name: str, trigger: Any, until: str | None, wait_s: float = 0.0) -> None:
                if until:
                    reset(until)
                a = sample(cluster, rc)
                await trigger()
                if until:
                    with trio.fail_after(120):
                        await events[until].wait()
                if wait_s:
                    await trio.sleep(wait_s)
                phases[name].append(delta(a, sample(cluster, rc)))

            async with trio.open_nursery() as nursery:
                hosts: list[Any] = []
                hosts_in = trio.Event()

                async def host_task(q: int) -> None:
                    async with connect(cluster.nodes[q % CLUSTER_NODES].ws_url) as host:
                        reply = await host.join(quiz[q][0], hostToken=quiz[q][1])
                        if reply["type"] != "joined":
                            raise RuntimeError(f"host join refused: {reply}")
                        hosts.append(host)
                        if len(hosts) == quizzes:
                            hosts_in.set()
                        await drain(host)

                for q in range(quizzes):
                    nursery.start_soon(host_task, q)
                with trio.fail_after(30):
                    await hosts_in.wait()
                t0 = trio.current_time()
                for q in range(quizzes):
                    for i in range(players):
                        nursery.start_soon(player, i, q, nursery)
                with trio.fail_after(180):
                    await events["joined"].wait()
                out["join_s"] = round(trio.current_time() - t0, 2)
                await trio.sleep(1.0)  # let the joins' writes settle

                async def nothing() -> None:
                    pass

                await phase("rest", nothing, None, REST_S)
                for r in range(ROUNDS):

                    async def open_question(r: int = r) -> None:
                        for host in hosts:
                            if r == 0:
                                await host.send("start", {})
                            else:
                                await host.send("next", {"questionIndex": r - 1})

                    async def answer_all(r: int = r) -> None:
                        go_answer[r].set()

                    async def close_question(r: int = r) -> None:
                        for host in hosts:
                            await host.send("next", {"questionIndex": r})

                    await phase("fanout", open_question, "question")
                    await phase("burst", answer_all, "answered")
                    await phase("reveal", close_question, "leaderboard", 0.2)
                    await trio.sleep(0.5)
                nursery.cancel_scope.cancel()

        trio.run(main)
        out["phases"] = phases
        out["health"] = cluster.health()
    finally:
        cluster.stop()
    return out


# ---------------------------------------------------------------------- per 1,000 players
def median(xs: list[float]) -> float:
    s = sorted(xs)
    n = len(s)
    return (s[n // 2] + s[(n - 1) // 2]) / 2 if n else 0.0


def per_event(run: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Each phase as one figure: rest per second, the others per event (medians over rounds)."""
    out: dict[str, dict[str, float]] = {}
    # The whole question (fan-out + burst + reveal), round by round: the phases' split is
    # blurred by writes that the group commit or the snapshot batching carries into the next
    # phase, their sum is not.
    cycle = []
    for parts in zip(*(run["phases"][p] for p in PHASES[1:]), strict=True):
        row: dict[str, Any] = {k: sum(x[k] for x in parts) for k in ("wall_s", *FIT_KEYS)}
        row["node_cpu_s"] = [sum(c) for c in zip(*(x["node_cpu_s"] for x in parts), strict=True)]
        cycle.append(row)
    for name in ALL_PHASES:
        rows = run["phases"][name] if name != "cycle" else cycle
        keys = ("nodes_cpu_s", "redis_cpu_s", "commands", "net_in_bytes", "net_out_bytes", "snapshot_writes")
        fig = {k: median([float(r[k]) for r in rows]) for k in keys}
        fig["node_cpu_max_s"] = median([max(r["node_cpu_s"]) for r in rows])
        fig["wall_s"] = median([r["wall_s"] for r in rows])
        if name == "rest":
            fig = {k: (v / fig["wall_s"] if k != "wall_s" else v) for k, v in fig.items()}
        out[name] = {k: round(v, 4) for k, v in fig.items()}
    return out


FIT_KEYS = ("nodes_cpu_s", "redis_cpu_s", "commands", "net_in_bytes", "net_out_bytes", "snapshot_writes")


def fit(runs: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """Least squares y = a + b * (players / 1000) + c * quizzes, per phase and figure."""
    import numpy as np

    x = np.array([[1.0, r["players"] / 1000, r["quizzes"]] for r in runs])
    out: dict[str, dict[str, dict[str, float]]] = {}
    for name in ALL_PHASES:
        out[name] = {}
        for k in FIT_KEYS:
            y = np.array([r["per_event"][name][k] for r in runs])
            coef, *_ = np.linalg.lstsq(x, y, rcond=None)
            pred = x @ coef
            ss = float(((y - y.mean()) ** 2).sum())
            r2 = 1 - float(((y - pred) ** 2).sum()) / ss if ss else 1.0
            out[name][k] = {
                "fixed": round(float(coef[0]), 4),
                "per_1000_players": round(float(coef[1]), 4),
                "per_quiz": round(float(coef[2]), 4),
                "r2": round(r2, 3),
            }
    return out


# ---------------------------------------------------------------------- one primary
BENCH_COMMANDS = {
    "SET, no pipeline": ["-t", "set"],
    "SET, pipeline 16": ["-t", "set", "-P", "16"],
    "XADD, no pipeline": ["XADD", "bench:s", "MAXLEN", "~", "10000", "*", "f", "v" * 200],
    "XADD, pipeline 16": ["-P", "16", "XADD", "bench:s", "MAXLEN", "~", "10000", "*", "f", "v" * 200],
    "EVAL (a SET in Lua), pipeline 16": [
        "-P",
        "16",
        "EVAL",
        "return redis.call('SET', KEYS[1], ARGV[1])",
        "1",
        "bench:k",
        "v" * 200,
    ],
}


def redis_ceiling(work: Path) -> dict[str, Any]:
    bench = shutil.which("redis-benchmark")
    if bench is None:
        return {"skipped": "redis-benchmark is not installed (apt-get install redis-tools)"}
    server = RedisServer(work, log_path=work / "redis.log", wrap=lambda argv: pinned(SERVER_CPU, argv))
    server.start()
    out: dict[str, Any] = {}
    try:
        port = str(server.port)
        for name, args in BENCH_COMMANDS.items():
            argv = pinned(CLIENT_CPU, [bench, "-p", port, "-q", "-n", "200000", "-c", "50", *args])
            res = subprocess.run(argv, capture_output=True, text=True, timeout=120)
            found = re.findall(r"([\d.]+) requests per second", res.stdout)
            out[name] = float(found[-1]) if found else None
    finally:
        server.stop()
    return out


# ---------------------------------------------------------------------- sizing
DEFAULT_HEARTBEAT_MS = 1000  # [cluster] heartbeat_ms in production (docs/operations.md)


def sizing(fits: dict[str, Any], ceiling: dict[str, Any], heartbeat_ms: int) -> dict[str, Any]:
    """A million players in quizzes of 100, 1,000 and 10,000, from the fits.

    The rest-phase traffic is heartbeats and lease renewals, once per ``heartbeat_ms``: the
    bench cluster runs them every ``CLUSTER_HEARTBEAT_MS``, so the rest figures are scaled to
    ``heartbeat_ms`` (an approximation: everything at rest is taken to be per heartbeat).
    """
    rest_scale = CLUSTER_HEARTBEAT_MS / heartbeat_ms
    primary = min(v for k, v in ceiling.items() if isinstance(v, float) and "pipeline 16" in k) * REDIS_BUDGET
    out: dict[str, Any] = {
        "assumptions": {
            "question_period_s": QUESTION_PERIOD_S,
            "node_core_budget": NODE_CORE_BUDGET,
            "redis_budget_share": REDIS_BUDGET,
            "burst_window_s": BURST_WINDOW_S,
            "heartbeat_ms": heartbeat_ms,
            "rest_scale": rest_scale,
            "primary_commands_per_s": round(primary),
        },
        "cases": {},
    }

    def rate(k: str, thousands: float, quizzes: float) -> float:
        def at(phase: str) -> float:
            f = fits[phase][k]
            return max(0.0, f["per_1000_players"] * thousands + f["per_quiz"] * quizzes)

        events = at("cycle")
        return at("rest") * rest_scale + events / QUESTION_PERIOD_S

    for size in (100, 1000, 10000):
        quizzes = 1_000_000 / size
        thousands = 1000.0
        cpu = rate("nodes_cpu_s", thousands, quizzes)
        cmds = rate("commands", thousands, quizzes)
        net = rate("net_in_bytes", thousands, quizzes) + rate("net_out_bytes", thousands, quizzes)
        redis_cpu = rate("redis_cpu_s", thousands, quizzes)
        # The peak of one quiz: its whole answer burst within BURST_WINDOW_S.
        b = fits["burst"]["commands"]
        quiz_peak = max(0.0, b["per_1000_players"] * size / 1000 + b["per_quiz"]) / BURST_WINDOW_S
        per_100k = rate("commands", 100.0, 100_000 / size)
        out["cases"][str(size)] = {
            "quizzes": int(quizzes),
            "node_cores": round(cpu, 1),
            "nodes": int(-(-cpu // NODE_CORE_BUDGET)),
            "redis_commands_per_s": round(cmds),
            "redis_cpu_cores": round(redis_cpu, 2),
            "redis_net_bytes_per_s": round(net),
            "redis_primaries": max(1, int(-(-cmds // primary))),
            "one_quiz_burst_commands_per_s": round(quiz_peak),
            "commands_per_s_at_100k_players": round(per_100k),
            "one_primary_carries_100k": per_100k <= primary,
            "players_per_primary": int(1_000_000 * primary / cmds) if cmds else None,
        }
    return out


# ---------------------------------------------------------------------- outputs
def markdown(res: dict[str, Any]) -> str:
    lines = [
        f"# Capacity run {res['date']}",
        "",
        f"{res['machine']}; {res['duration_s']} s. Figures per 1,000 players of the whole cluster: rest per second,",
        "the other phases per event (one question opened, answered by all, revealed).",
        "",
        "| quizzes x players | phase | node CPU s | Redis CPU s | commands | bytes in | bytes out | snapshots |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in res["runs"]:
        if "per_event" not in run:
            lines.append(f"| {run['quizzes']} x {run['players_per_quiz']} | failed: {run.get('error', '')[:60]} |")
            continue
        k = run["players"] / 1000
        for name in ALL_PHASES:
            f = run["per_event"][name]
            lines.append(
                f"| {run['quizzes']} x {run['players_per_quiz']} | {name} | {f['nodes_cpu_s'] / k:.4f} | "
                f"{f['redis_cpu_s'] / k:.4f} | {f['commands'] / k:.0f} | {f['net_in_bytes'] / k:.0f} | "
                f"{f['net_out_bytes'] / k:.0f} | {f['snapshot_writes'] / k:.2f} |"
            )
    lines += ["", "## Fits (fixed + per 1,000 players + per quiz)", ""]
    lines += ["| phase | figure | fixed | per 1,000 | per quiz | R² |", "|---|---|---|---|---|---|"]
    for name, figs in res.get("fits", {}).items():
        for k, f in figs.items():
            lines.append(f"| {name} | {k} | {f['fixed']} | {f['per_1000_players']} | {f['per_quiz']} | {f['r2']} |")
    lines += ["", "## One Redis primary (redis-benchmark, requests/s)", ""]
    for k, v in res.get("redis_benchmark", {}).items():
        lines.append(f"- {k}: {v}")
    lines += ["", "## A million players", ""]
    lines.append("```json")
    lines.append(json.dumps(res.get("sizing", {}), indent=1))
    lines.append("```")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="the quick sizes (about 5 minutes)")
    p.add_argument("--out", help="output stem (default bench/results/<date>-capacity)")
    a = p.parse_args(argv)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        os.sched_setaffinity(0, {int(CLIENT_CPU)})
    except OSError:
        pass
    sizes = QUICK_SIZES if a.quick else FULL_SIZES
    date = dt.date.today().isoformat()
    stem = Path(a.out) if a.out else RESULTS / f"{date}-capacity"
    t0 = time.monotonic()
    res: dict[str, Any] = {
        "date": date,
        "quick": a.quick,
        "machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}",
        "pinning": f"3 nodes + redis-server: core {SERVER_CPU}; driver and redis-benchmark: core {CLIENT_CPU}",
        "rest_s": REST_S,
        "heartbeat_ms": CLUSTER_HEARTBEAT_MS,
        "rounds": ROUNDS,
        "runs": [],
    }
    with tempfile.TemporaryDirectory(prefix="quizd-capacity-") as tmp:
        defs = Path(tmp) / "quizzes"
        defs.mkdir()
        (defs / "bench-capacity.toml").write_text(
            definition_toml("bench-capacity", make_questions(ROUNDS + 1, 600_000, 400), 600_000)
        )
        settings = argparse.Namespace(defs_dir=defs)
        for players, quizzes in sizes:
            log(f"capacity: {quizzes} x {players} players")
            try:
                run = run_size(players, quizzes, Path(tmp) / f"c-{quizzes}x{players}", settings)
                run["per_event"] = per_event(run)
                f = run["per_event"]
                log(
                    f"capacity: {quizzes} x {players}: rest {f['rest']['commands']:.0f} cmd/s, fan-out "
                    f"{f['fanout']['commands']:.0f} cmd, burst {f['burst']['commands']:.0f} cmd, "
                    f"burst node CPU {f['burst']['nodes_cpu_s']:.2f} s"
                )
            except Exception as exc:  # one failed size must not lose the rest
                log(f"capacity: {quizzes} x {players} failed: {exc!r}")
                run = {"players_per_quiz": players, "quizzes": quizzes, "error": repr(exc)[-2000:]}
            res["runs"].append(run)
        good = [r for r in res["runs"] if "per_event" in r]
        if len(good) >= 3:
            res["fits"] = fit(good)
        log("capacity: redis-benchmark")
        (Path(tmp) / "rb").mkdir()
        res["redis_benchmark"] = redis_ceiling(Path(tmp) / "rb")
        if "fits" in res and not res["redis_benchmark"].get("skipped"):
            res["sizing"] = {
                f"heartbeat_{hb}ms": sizing(res["fits"], res["redis_benchmark"], hb)
                for hb in (CLUSTER_HEARTBEAT_MS, DEFAULT_HEARTBEAT_MS)
            }
    res["duration_s"] = round(time.monotonic() - t0, 1)
    stem.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{stem}.json").write_text(json.dumps(res, indent=1) + "\n")
    Path(f"{stem}.md").write_text(markdown(res))
    log(f"capacity: wrote {stem}.json and .md ({res['duration_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
