"""The single-server scenarios: connect + fan-out (C receiver) and the quizd-load runs.

``run_servers`` starts every server of one N, runs each scenario ``--repeats`` times per
server with the servers taking turns (a failed run is recorded, the rest still run), and
reads the servers' CPU, memory and the cores' load.  Taking turns, rather than one server
after the other, spreads the machine's slow moments over all of them: a stall of the VM
or a busy neighbour then lands in one repeat of each server's, not in one server's whole
block, and the median over the repeats leaves it out.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from bench.common import CLIENT_CPU, PY, RECEIVER, ROOT, core_busy, core_times, cpu_s, log, pinned, rss_kb
from bench.profile import Profiled, top_frames
from bench.servers import PeerServer, QuizdServer, Server
from quizd.loadgen.stats import median
from quizd.testing.procs import read_line


# ---------------------------------------------------------------------- scenarios
def scenario_connect_fanout(server: Server, n: int, rounds: int) -> dict[str, Any]:
    """C receiver: connect N (time, RSS per idle connection), then fan-out rounds."""
    quiz_id, host_token = server.new_quiz("bench-fanout")
    script = server.work / f"script-{n}.tsv"
    lines = ['{"type":"start","payload":{}}\t"type":"question"']
    for k in range(rounds):
        lines.append(f'{{"type":"next","payload":{{"questionIndex":{k}}}}}\t"type":"leaderboard"')
        if k + 1 < rounds:
            lines.append(f'{{"type":"next","payload":{{"questionIndex":{k}}}}}\t"type":"question"')
    script.write_text("\n".join(lines) + "\n")
    time.sleep(0.5)
    rss_before = rss_kb(server.pid)
    proc = launch_receiver(server, n, quiz_id, host_token, script, "--gap-ms", "150")
    try:
        connected = json.loads(read_line(proc, '{"event":"connected"', 180))
        time.sleep(1.0)
        rss_after = rss_kb(server.pid)
        cpu0 = cpu_s(server.pid)
        assert proc.stdin is not None
        proc.stdin.write("\n")
        proc.stdin.flush()
        done = json.loads(read_line(proc, '{"event":"done"', 60 + rounds * 35))
        cpu1 = cpu_s(server.pid)
        proc.stdin.write("\n")
        proc.stdin.flush()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        # Its 600 s questions would keep it (and its N players) live through the repeats.
        server.end_quiz(quiz_id)
    fan: dict[str, list[dict[str, Any]]] = {"question": [], "leaderboard": []}
    for r in done["rounds"]:
        kind = "question" if "question" in r["match"] else "leaderboard"
        window = (r["t_last"] - r["t_trigger"]) / 1e9 if r["receivers"] else None
        # A close round delivers two frames per player: question_closed, then leaderboard.
        per_player = 1 if kind == "question" else 2
        fan[kind].append(
            {
                "receivers": r["receivers"],
                "msgs_per_s": round(per_player * r["receivers"] / window, 1) if window else None,
                "trigger_to_last_ms": round(window * 1e3, 3) if window else None,
                "skew_ms": round((r["t_last"] - r["t_first"]) / 1e6, 3) if r["receivers"] else None,
                "frame_bytes": round(r["bytes"] / r["frames"], 1) if r["frames"] else None,
                "receiver_busy": round(r["cpu_ms"] / r["wall_ms"], 3) if r["wall_ms"] else None,
                "timed_out": r["timed_out"],
            }
        )
    result: dict[str, Any] = {
        "players": n,
        "open": connected["open"],
        "failed": connected["failed"],
        "connect_s": round(connected["connect_ms"] / 1e3, 3),
        "receiver_connect_cpu_s": round(connected["cpu_ms"] / 1e3, 3),
        "rss_before_kb": rss_before,
        "rss_after_kb": rss_after,
        "kb_per_idle_conn": round((rss_after - rss_before) / max(1, connected["open"]), 2),
        "server_cpu_during_rounds_s": round(cpu1 - cpu0, 3),
        "rounds_wall_s": round(done["rounds_wall_ms"] / 1e3, 3),
        "receiver": {
            k: done[k]
            for k in (
                "cpu_ms",
                "wall_ms",
                "rounds_cpu_ms",
                "rounds_wall_ms",
                "pings",
                "frames_total",
                "bytes_total",
                "closed_after_join",
                "resets",
            )
        },
        "close_codes": done["close_codes"],
    }
    for kind, rs in fan.items():
        result[f"fanout_{kind}"] = fanout_summary(rs, connected["open"])
    return result


def launch_receiver(
    server: Server, n: int, quiz_id: str, host_token: str, script: Path, *extra: str
) -> subprocess.Popen[str]:
    """The C receiver on the client core: N players join ``quiz_id`` (256 handshakes in
    flight at most), the host too; it prints ``connected``, then plays ``script`` once
    told on stdin."""
    join = json.dumps({"type": "join", "payload": {"quizId": quiz_id, "name": "r{i}"}}, separators=(",", ":"))
    host_join = json.dumps(
        {"type": "join", "payload": {"quizId": quiz_id, "hostToken": host_token}}, separators=(",", ":")
    )
    argv = [str(RECEIVER), "--port", str(server.port), "-n", str(n), "--join", join, "--host-join", host_join]
    argv += ["--script", str(script), "--wait-stdin", "--window", "256", "--round-timeout-ms", "30000", *extra]
    return subprocess.Popen(
        pinned(CLIENT_CPU, argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def fanout_summary(rs: list[dict[str, Any]], opened: int) -> dict[str, Any]:
    """One kind of fan-out round (question, or close + leaderboard): the medians."""
    rates = [r["msgs_per_s"] for r in rs if r["msgs_per_s"]]
    return {
        "rounds": rs,
        "median_msgs_per_s": round(median(rates), 1) if rates else None,
        "median_trigger_to_last_ms": median([r["trigger_to_last_ms"] for r in rs if r["trigger_to_last_ms"]]),
        "frame_bytes": median([r["frame_bytes"] for r in rs if r["frame_bytes"]]),
        "receiver_busy_max": max((r["receiver_busy"] or 0 for r in rs), default=None),
        "all_received": all(r["receivers"] == opened and not r["timed_out"] for r in rs),
    }


def scenario_load(
    server: Server,
    n: int,
    definition: str,
    reaction: str,
    questions: int,
    answer_key: list[int] | None = None,
    answers: Path | None = None,
) -> dict[str, Any]:
    """One quizd-load run; the right answers are ``answer_key`` (single choices) or the
    ``answers`` file of a generated quiz (every kind, ``bench.servers.write_quiz``)."""
    urls = getattr(server, "ws_urls", None) or [server.ws_url]
    key = (
        ["--answers", str(answers)]
        if answers is not None
        else ["--answer-key", ",".join(map(str, (answer_key or [])[:questions]))]
    )
    argv = [
        PY,
        "-m",
        "quizd.loadgen",
        *(a for url in urls for a in ("--ws", url)),
        *server.load_args(definition),
        "-n",
        str(n),
        "-w",
        "1",
        "--reaction",
        reaction,
        "--questions",
        str(questions),
        "--correct-share",
        "0.7",
        *key,
        "--timeout",
        "300",
        "--json",
        "--name-prefix",
        "b",
    ]
    out = subprocess.run(pinned(CLIENT_CPU, argv), capture_output=True, text=True, timeout=400, cwd=ROOT)
    if out.returncode not in (0, 1) or not out.stdout.strip():
        raise RuntimeError(f"quizd-load failed ({out.returncode}): {out.stderr[-3000:]}")
    report = json.loads(out.stdout)
    lat = report["answers"]["latency"]
    return {
        "reaction": reaction,
        "questions": questions,
        "joined": report["players"]["joined"],
        "answers_sent": report["answers"]["sent"],
        "replies": report["answers"]["replies"],
        "late": report["answers"]["late"],
        "p50_ms": lat["p50_ms"],
        "p95_ms": lat["p95_ms"],
        "p99_ms": lat["p99_ms"],
        "max_ms": lat["max_ms"],
        # Which receive times the latencies used (quizd.loadgen.stamps): "kernel" when every
        # reply had the kernel's SO_TIMESTAMPNS stamp, and how many had which.
        "latency_stamp": report["answers"].get("latency_stamp"),
        "latency_stamps": report["answers"].get("latency_stamps", {}),
        "at_read": {k: report["answers"]["latency_at_read"][k] for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms")},
        "read_delay": {k: report["answers"]["read_delay"][k] for k in ("p50_ms", "p99_ms", "max_ms")},
        "connect_s": report["connect"]["duration_s"],
        "fanout_median_msgs_per_s": report["fanout"]["median_msgs_per_s"],
        "fanout_median_trigger_to_last_ms": median(
            [q["trigger_to_last_ms"] for q in report["fanout"]["questions"] if q.get("trigger_to_last_ms")]
        ),
        "quiz_id": report.get("quiz_id"),
        "leaderboard_frames": report["leaderboard_frames"],
        "errors": report["errors"],
        "close_codes": report["close_codes"],
        "client_cpu_util": report["client"]["cpu_util"],
        "client_send_lag_p99_ms": report["client"]["send_lag"]["p99_ms"],
        "client_saturated": report["client"]["saturated"],
        "warnings": report["warnings"],
        "by_kind": report["answers"].get("by_kind", {}),
        "latency_by_kind": report["answers"].get("latency_by_kind", {}),
        "end": report.get("end", {}),
    }


# The scenarios run ``--repeats`` times per server, in this order; ``steady`` runs once.
REPEATED = ("connect_fanout", "burst_1s", "burst_once")


def run_servers(
    n: int, kinds: list[str], s: argparse.Namespace, work: Path, profile_dir: Path | None
) -> dict[str, Any]:
    """Every server of this N, started together; each scenario ``s.repeats`` times per
    server, the servers taking turns (the order rotates each repeat) while the others are
    stopped (``alone``); ``steady`` once each.  Returns a block per server, whose figures
    are the repeats' medians (``merge_connect_fanout``, ``median_run``)."""
    servers: dict[str, Server] = {}
    blocks: dict[str, dict[str, Any]] = {}
    reps: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for kind in kinds:
        (work / f"{kind}-{n}").mkdir(parents=True, exist_ok=True)
        server: Server = (
            QuizdServer(work / f"{kind}-{n}", s) if kind == "quizd" else PeerServer(kind, work / f"{kind}-{n}", s)
        )
        blocks[kind] = {"server": kind, "errors": {}, "repeats": s.repeats}
        reps[kind] = {name: [] for name in REPEATED}
        try:
            server.start()
        except Exception as exc:  # the other servers still run
            log(f"{kind} N={n}: did not start: {exc}")
            blocks[kind]["errors"]["start"] = str(exc)[-2000:]
            server.stop()
            continue
        servers[kind] = server
        blocks[kind]["rss_start_kb"] = rss_kb(server.pid)
    cores0, cpu0, t0 = core_times(), {k: cpu_s(v.pid) for k, v in servers.items()}, time.monotonic()
    loadavg = Path("/proc/loadavg").read_text().split()[:3]

    def attempt(kind: str, name: str, what: str, fn: Any, rep: int | None = None) -> None:
        """Run ``fn`` with ``kind`` alone on the server core (py-spy on quizd's first
        repeat with ``--profile``); a failed scenario is recorded and the rest still run."""
        label = name if rep is None else f"{name}-{rep + 1}"
        log(f"{kind} N={n}: {what}" + ("" if rep is None else f" (repeat {rep + 1} of {s.repeats})"))
        try:
            with alone(servers, kind):
                if profile_dir is not None and kind == "quizd" and rep == 0:
                    folded = profile_dir / f"profile-quizd-{n}-{name}.txt"
                    with Profiled(servers[kind].pid, folded):
                        result = fn()
                    blocks[kind].setdefault("profiles", {})[name] = top_frames(folded)
                else:
                    result = fn()
        except Exception as exc:  # one failed scenario must not lose the rest
            log(f"{kind} N={n}: {label} failed: {exc}")
            blocks[kind]["errors"][label] = str(exc)[-2000:]
            return
        if rep is None:
            blocks[kind][name] = result
        else:
            reps[kind][name].append(result)

    def turns(rep: int) -> list[str]:
        order = list(servers)
        return order[rep % len(order) :] + order[: rep % len(order)] if order else order

    key = [q["answer"] for q in s.questions_burst]

    def scenario(kind: str, name: str) -> tuple[str, Any]:
        """What ``name`` is called in the log, and the run itself, for ``kind``."""
        server = servers[kind]
        if name == "connect_fanout":
            return f"connect + fan-out ({s.rounds} rounds)", lambda: scenario_connect_fanout(server, n, s.rounds)
        if name == "burst_1s":
            return "burst, answers within 1 s", lambda: scenario_load(
                server, n, "bench-burst", "uniform:0-1000", s.burst_questions, key
            )
        try:  # after the connect repeats: their median fan-out time
            fan_ms = blocks[kind]["connect_fanout"]["fanout_question"]["median_trigger_to_last_ms"] or 100
        except KeyError:
            fan_ms = 100
        sync_ms = int(max(300, 3 * fan_ms))
        return f"burst, all answers at once ({sync_ms} ms after the question is sent)", lambda: scenario_load(
            server, n, "bench-burst", f"sync:{sync_ms}", s.burst_questions, key
        )

    try:
        for name in REPEATED:
            for rep in range(s.repeats):
                for kind in turns(rep):
                    what, fn = scenario(kind, name)
                    attempt(kind, name, what, fn, rep)
            merge = merge_connect_fanout if name == "connect_fanout" else median_run
            for kind in servers:
                if reps[kind][name]:
                    blocks[kind][name] = merge(reps[kind][name])
        lo, hi = int(s.steady_ms * 0.05), int(s.steady_ms * 0.95)
        for kind, server in servers.items():
            attempt(
                kind,
                "steady",
                f"steady answers over {s.steady_ms / 1000:g} s",
                lambda server=server: scenario_load(
                    server, n, "bench-steady", f"even:{lo}-{hi}", 1, [q["answer"] for q in s.questions_steady]
                ),
            )
            if isinstance(server, QuizdServer):
                # Right after N players left at once; how long /metrics takes is telling too.
                blocks[kind]["slow_consumer_disconnects"] = server.slow_consumer_disconnects()
                blocks[kind]["metrics_answer_s"] = getattr(server, "metrics_wait_s", None)
        # The servers shared the wall time (one ran while the others were stopped):
        # each one's CPU is its own, the cores' busy share is over the whole turn.
        wall = time.monotonic() - t0
        busy = core_busy(cores0, core_times())
        for kind, server in servers.items():
            block = blocks[kind]
            block["loadavg_start"] = loadavg
            block["rss_end_kb"] = rss_kb(server.pid)
            block["server_cpu_s"] = round(cpu_s(server.pid) - cpu0[kind], 2)
            block["wall_s"] = round(wall, 2)
            block["core_busy"] = busy
            block["server_core_share"] = round(block["server_cpu_s"] / wall, 3)
    finally:
        for server in servers.values():
            server.stop()
    return blocks


@contextmanager
def alone(servers: Mapping[str, Server], kind: str) -> Iterator[None]:
    """The other servers stopped (SIGSTOP) while ``kind`` is measured, so nothing of
    theirs (a timer, a collection quizd takes while it is quiet) runs on the server core;
    and ``kind`` settled first (``settle``)."""
    others = [server.pid for name, server in servers.items() if name != kind]
    stopped = []
    try:
        for pid in others:
            os.kill(pid, signal.SIGSTOP)
            stopped.append(pid)
        settle(servers[kind].pid)
        yield
    finally:
        for pid in stopped:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


# A server is settled once it used under 5 % of its core over SETTLE_WINDOW_S.
SETTLE_WINDOW_S = 0.25
SETTLE_MAX_S = 5.0


def settle(pid: int) -> None:
    """Wait (at most ``SETTLE_MAX_S``) until ``pid`` is idle.  A server was stopped while
    the others were measured, and was continued only a moment ago: the timers that came
    due while it was stopped fire now, all at once.  quizd's include its quiet-time full
    collection, 340-780 ms with 5,000 players (measured with a trio instrument), which
    otherwise fell into the next measurement's connects.  A server that is never stopped
    (in production) takes these while it is quiet; the baselines settle the same way."""
    deadline = time.monotonic() + SETTLE_MAX_S
    while time.monotonic() < deadline:
        before = cpu_s(pid)
        time.sleep(SETTLE_WINDOW_S)
        if cpu_s(pid) - before < 0.05 * SETTLE_WINDOW_S:
            return


def merge_connect_fanout(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The connect + fan-out repeats as one record: the first repeat's memory figures
    (the only one on a fresh process), the median connect time, and the fan-out medians
    over every repeat's rounds."""
    merged = dict(runs[0])
    merged["connect_s_reps"] = [r["connect_s"] for r in runs]
    merged["connect_s"] = median(merged["connect_s_reps"])
    for kind in ("question", "leaderboard"):
        rounds = [r for run in runs for r in run[f"fanout_{kind}"]["rounds"]]
        merged[f"fanout_{kind}"] = fanout_summary(rounds, runs[0]["open"])
        merged[f"fanout_{kind}"]["median_msgs_per_s_reps"] = [
            run[f"fanout_{kind}"]["median_msgs_per_s"] for run in runs
        ]
    return merged


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The repeat with the median p99 (the lower of the middle two for an even count),
    whole, with every repeat's p50 and p99 beside it.  A repeat without a p99 (no reply
    was timed) ranks as the worst."""
    ordered = sorted(runs, key=lambda r: (r["p99_ms"] is None, r["p99_ms"] or 0.0))
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["p50_ms_reps"] = [r["p50_ms"] for r in runs]
    chosen["p99_ms_reps"] = [r["p99_ms"] for r in runs]
    # What went wrong in any repeat (the chosen one keeps its own fields whole).
    chosen["reps_trouble"] = [
        {k: r[k] for k in ("joined", "answers_sent", "replies", "errors", "close_codes", "warnings")} for r in runs
    ]
    return chosen
