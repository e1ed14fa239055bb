"""The benchmark driver behind ``scripts/bench`` (see docs/benchmarks.md).

For each N and each server (quizd, a minimal asyncio ``websockets`` server, a minimal
Node ``ws`` server), the server is started pinned to core 0 and the clients run pinned
to core 1:

1. ``connect``: the C receiver (bench/receiver) opens N players, upgrades and joins
   them; the server's VmRSS before and after gives the memory per idle connection.
2. ``fanout``: still in the same receiver run, the host alternately opens a question
   (a ~600-byte frame to everyone) and closes it (``question_closed`` + ``leaderboard``
   to everyone); each round's trigger-to-last-receipt window gives messages/s.  The
   receiver's own CPU per round shows it was not the bottleneck.
3. ``burst_1s``, ``burst_once``, ``steady``: ``quizd-load`` plays whole quizzes with every
   player answering within one second, all at the same instant, or spread evenly over
   the question; answer-to-``answer_result`` latency percentiles.
4. cluster (a plain run, or ``--cluster``): redis-server and three quizd nodes in cluster
   mode, all on core 0.  ``burst_1s`` and ``burst_once`` with the players spread
   round-robin over the nodes (N = 1,000 and 5,000; quick: 1,000), compared with the
   single-node quizd of the same run; then the takeover time after ``kill -9`` of a quiz's
   owner with a few hundred players in a live question (no target).

Writes bench/results/<date>[-quick].json, .md (the table) and .png (the plot), and with
``--update-docs`` puts the table and plot into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from quizd.client import ControlClient  # noqa: E402
from quizd.loadgen.stats import median  # noqa: E402

PY = str(ROOT / ".venv" / "bin" / "python")
RECEIVER = ROOT / "bench" / "receiver" / "build" / "receiver"
RESULTS = ROOT / "bench" / "results"
DOCS = ROOT / "docs" / "benchmarks.md"
SERVER_CPU, CLIENT_CPU = "0", "1"
TOKEN = "bench-admin-token"
SERVERS = ("quizd", "asyncio", "node")
LABELS = {"quizd": "quizd", "asyncio": "asyncio websockets", "node": "Node ws"}
QUESTION_FRAME_TARGET = 600  # bytes of the quizd question frame's JSON


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------- questions
def question_text(i: int, length: int) -> str:
    words = ("Which word is closest in meaning to the one in capitals: the committee's decision was "
             "CAPRICIOUS, changing from one week to the next without any reason that the members could "
             "explain to the staff, the press or the public who had followed the debate for months? ")
    text = f"Q{i}. "
    while len(text) < length:
        text += words
    return text[:length]


def make_questions(count: int, time_limit_ms: int, text_len: int) -> list[dict[str, Any]]:
    return [{"text": question_text(i, text_len), "choices": ["whimsical", "careful", "generous", "steady"],
             "answer": i % 4, "timeLimitMs": time_limit_ms} for i in range(count)]


def definition_toml(quiz_id: str, questions: list[dict[str, Any]], time_limit_ms: int) -> str:
    lines = [f'id = "{quiz_id}"', f'title = "Bench {quiz_id}"', 'reveal = "on_answer"',
             f"time_limit_ms = {time_limit_ms}", "reveal_ms = 600000", "countdown_ms = 0"]
    for q in questions:
        choices = ", ".join(json.dumps(c) for c in q["choices"])
        lines += ["", "[[questions]]", f"text = {json.dumps(q['text'])}", f"choices = [{choices}]",
                  f"answer = {q['answer']}"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- processes
# nice -20: other processes on a shared machine get ~1% of a core the benchmark is busy
# on.  (Real-time priority, chrt -f, was tried and rejected: Node's helper threads pinned
# to the same core as its main thread livelock under SCHED_FIFO and the baseline slows.)
NICE: int | None = -20


def pinned(cpu: str, argv: list[str]) -> list[str]:
    nice = ["nice", "-n", str(NICE)] if NICE is not None else []
    return [*nice, "taskset", "-c", cpu, *argv]


def nice_available() -> bool:
    try:
        out = subprocess.run(["nice", "-n", str(NICE), "nice"], capture_output=True, text=True, timeout=10)
        return out.returncode == 0 and out.stdout.strip() == str(NICE)
    except (OSError, subprocess.TimeoutExpired):
        return False


def core_times() -> dict[str, tuple[int, int]]:
    """Per core (busy, total) jiffies from /proc/stat."""
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu") and line[3].isdigit():
            name, *vals = line.split()
            v = [int(x) for x in vals]
            idle = v[3] + v[4]
            out[name] = (sum(v[:8]) - idle, sum(v[:8]))
    return out


def core_busy(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> dict[str, float]:
    return {k: round((after[k][0] - before[k][0]) / max(1, after[k][1] - before[k][1]), 3) for k in after if k in before}


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def read_line(proc: subprocess.Popen[str], prefix: str, timeout: float) -> str:
    """The next complete stdout line of ``proc`` that starts with ``prefix``.

    Only whole lines count: a long line (the receiver's ``done`` report) can arrive in
    several reads, and its first 4,096 bytes are not JSON yet.  What was read after the
    line is kept for the next call.
    """
    import select

    assert proc.stdout is not None
    end = time.monotonic() + timeout
    buf: str = getattr(proc, "_bench_rest", "")
    fd = proc.stdout.fileno()
    while True:
        while "\n" in buf:
            line, buf = buf.split("\n", 1)
            if line.startswith(prefix):
                proc._bench_rest = buf  # type: ignore[attr-defined]
                return line
        if time.monotonic() >= end:
            break
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            chunk = os.read(fd, 65536).decode()
            if not chunk:
                break
            buf += chunk
        elif proc.poll() is not None:
            break
    proc._bench_rest = buf  # type: ignore[attr-defined]
    raise RuntimeError(f"no {prefix!r} line within {timeout}s; got {buf[-2000:]!r}")


class Server:
    kind = ""

    def __init__(self, work: Path, settings: argparse.Namespace) -> None:
        self.work = work
        self.settings = settings
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.profiler: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def start(self) -> None:
        raise NotImplementedError

    def new_quiz(self, definition: str) -> tuple[str, str]:
        return "bench", "bench-host"

    def load_args(self, definition: str) -> list[str]:
        quiz_id, host_token = self.new_quiz(definition)
        return ["--quiz-id", quiz_id, "--host-token", host_token]

    def start_profiler(self, out: Path) -> None:
        py_spy = shutil.which("py-spy") or str(ROOT / ".venv" / "bin" / "py-spy")
        self.profiler = subprocess.Popen(
            pinned(CLIENT_CPU, [py_spy, "record", "--pid", str(self.pid), "--nonblocking", "-r", "100",
                                "-o", str(out)]),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        if self.profiler is not None:
            self.profiler.send_signal(signal.SIGINT)
            try:
                self.profiler.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.profiler.kill()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=8)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def write_definitions(settings: argparse.Namespace, defs: Path) -> None:
    """The bench quizzes, written once per run and shared by every quizd (single node and cluster)."""
    s = settings
    defs.mkdir(parents=True, exist_ok=True)
    (defs / "bench-fanout.toml").write_text(definition_toml("bench-fanout", s.questions_fanout, 600_000))
    (defs / "bench-burst.toml").write_text(definition_toml("bench-burst", s.questions_burst, 20_000))
    (defs / "bench-steady.toml").write_text(definition_toml("bench-steady", s.questions_steady, s.steady_ms))
    # The takeover quiz: one long question, so that it is still open after the kill.
    (defs / "bench-takeover.toml").write_text(
        definition_toml("bench-takeover", make_questions(2, 120_000, 400), 120_000))


class QuizdServer(Server):
    kind = "quizd"
    node_id = "bench"
    drain_timeout_s = 1
    cluster_toml = ""

    def start(self) -> None:
        self.launch()
        self.wait_ready()

    def launch(self) -> None:
        defs = self.settings.defs_dir
        config = self.work / "quizd.toml"
        config.write_text(f"""
[node]
id = "{self.node_id}"
drain_timeout_s = {self.drain_timeout_s}
[websocket]
host = "127.0.0.1"
port = 0
max_connections = 30000
[http]
host = "127.0.0.1"
port = 0
[auth]
admin_token = "{TOKEN}"
[quizzes]
definitions_dir = "{defs}"
max_players = 20000
[logging]
level = "warning"
{self.cluster_toml}""")
        self.stderr = open(self.work / "quizd.stderr.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(pinned(SERVER_CPU, [PY, "-m", "quizd", "serve", "--config", str(config)]),
                                     stdout=subprocess.PIPE, stderr=self.stderr, text=True, cwd=ROOT)

    def wait_ready(self, timeout: float = 30) -> None:
        assert self.proc is not None
        line = read_line(self.proc, "quizd ready ", timeout)
        fields = dict(part.split("=", 1) for part in line.split()[2:])
        self.port = int(fields["ws"].rsplit(":", 1)[1])
        self.http_url = f"http://{fields['http']}"
        self.control = ControlClient(self.http_url, TOKEN)

    def new_quiz(self, definition: str) -> tuple[str, str]:
        status, body = self.control.request_sync("POST", "/api/quizzes", {"definitionId": definition})
        if status != 201:
            raise RuntimeError(f"create quiz: {status} {body}")
        return body["quizId"], body["hostToken"]

    def load_args(self, definition: str) -> list[str]:
        return ["--http", self.http_url, "--token", TOKEN, "--definition", definition]

    def slow_consumer_disconnects(self) -> float | None:
        t0 = time.monotonic()
        try:
            status, text = ControlClient(self.http_url, TOKEN, timeout=60).request_sync("GET", "/metrics", raw=True)
        except OSError as exc:
            log(f"quizd /metrics did not answer: {exc}")
            return None
        self.metrics_wait_s = round(time.monotonic() - t0, 2)
        for line in text.decode().splitlines():
            if line.startswith("quizd_slow_consumer_disconnects_total"):
                return float(line.split()[-1])
        return None


class PeerServer(Server):
    def __init__(self, kind: str, work: Path, settings: argparse.Namespace) -> None:
        super().__init__(work, settings)
        self.kind = kind

    def start(self) -> None:
        qfile = self.work / "questions.json"
        qfile.write_text(json.dumps(self.settings.questions_fanout))
        if self.kind == "asyncio":
            argv = [PY, str(ROOT / "bench" / "peers" / "asyncio_peer.py"), "--port", "0", "--questions", str(qfile)]
        else:
            argv = ["node", str(ROOT / "bench" / "peers" / "node" / "peer.js"), "--port", "0",
                    "--questions", str(qfile)]
        self.stderr = open(self.work / f"{self.kind}.stderr.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(pinned(SERVER_CPU, argv), stdout=subprocess.PIPE, stderr=self.stderr,
                                     text=True, cwd=ROOT)
        line = read_line(self.proc, "peer ready ", 30)
        self.port = int(line.split("port=")[1])


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
    join = json.dumps({"type": "join", "payload": {"quizId": quiz_id, "name": "r{i}"}}, separators=(",", ":"))
    host_join = json.dumps({"type": "join", "payload": {"quizId": quiz_id, "hostToken": host_token}},
                           separators=(",", ":"))
    time.sleep(0.5)
    rss_before = rss_kb(server.pid)
    proc = subprocess.Popen(
        pinned(CLIENT_CPU, [str(RECEIVER), "--port", str(server.port), "-n", str(n), "--join", join,
                            "--host-join", host_join, "--script", str(script), "--wait-stdin",
                            "--window", "256", "--round-timeout-ms", "30000", "--gap-ms", "150"]),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
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
    fan: dict[str, list[dict[str, Any]]] = {"question": [], "leaderboard": []}
    for r in done["rounds"]:
        kind = "question" if "question" in r["match"] else "leaderboard"
        window = (r["t_last"] - r["t_trigger"]) / 1e9 if r["receivers"] else None
        # A close round delivers two frames per player: question_closed, then leaderboard.
        per_player = 1 if kind == "question" else 2
        fan[kind].append({
            "receivers": r["receivers"],
            "msgs_per_s": round(per_player * r["receivers"] / window, 1) if window else None,
            "trigger_to_last_ms": round(window * 1e3, 3) if window else None,
            "skew_ms": round((r["t_last"] - r["t_first"]) / 1e6, 3) if r["receivers"] else None,
            "frame_bytes": round(r["bytes"] / r["frames"], 1) if r["frames"] else None,
            "receiver_busy": round(r["cpu_ms"] / r["wall_ms"], 3) if r["wall_ms"] else None,
            "timed_out": r["timed_out"],
        })
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
        "receiver": {k: done[k] for k in ("cpu_ms", "wall_ms", "rounds_cpu_ms", "rounds_wall_ms", "pings",
                                           "frames_total", "bytes_total", "closed_after_join", "resets")},
        "close_codes": done["close_codes"],
    }
    for kind, rs in fan.items():
        rates = [r["msgs_per_s"] for r in rs if r["msgs_per_s"]]
        result[f"fanout_{kind}"] = {
            "rounds": rs,
            "median_msgs_per_s": round(median(rates), 1) if rates else None,
            "median_trigger_to_last_ms": median([r["trigger_to_last_ms"] for r in rs if r["trigger_to_last_ms"]]),
            "frame_bytes": median([r["frame_bytes"] for r in rs if r["frame_bytes"]]),
            "receiver_busy_max": max((r["receiver_busy"] or 0 for r in rs), default=None),
            "all_received": all(r["receivers"] == connected["open"] and not r["timed_out"] for r in rs),
        }
    return result


def scenario_load(server: Server, n: int, definition: str, reaction: str, questions: int,
                  answer_key: list[int]) -> dict[str, Any]:
    urls = getattr(server, "ws_urls", None) or [server.ws_url]
    argv = [PY, "-m", "quizd.loadgen", *(a for url in urls for a in ("--ws", url)), *server.load_args(definition),
            "-n", str(n),
            "-w", "1", "--reaction", reaction, "--questions", str(questions), "--correct", "0.7",
            "--answer-key", ",".join(map(str, answer_key[:questions])), "--timeout", "300", "--json",
            "--name-prefix", "b"]
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
        "p50_ms": lat["p50_ms"], "p95_ms": lat["p95_ms"], "p99_ms": lat["p99_ms"], "max_ms": lat["max_ms"],
        "connect_s": report["connect"]["duration_s"],
        "fanout_median_msgs_per_s": report["fanout"]["median_msgs_per_s"],
        "fanout_median_trigger_to_last_ms": median(
            [q["trigger_to_last_ms"] for q in report["fanout"]["questions"] if q.get("trigger_to_last_ms")]),
        "quiz_id": report.get("quiz_id"),
        "leaderboard_frames": report["leaderboard_frames"],
        "errors": report["errors"],
        "close_codes": report["close_codes"],
        "client_cpu_util": report["client"]["cpu_util"],
        "client_send_lag_p99_ms": report["client"]["send_lag"]["p99_ms"],
        "client_saturated": report["client"]["saturated"],
        "warnings": report["warnings"],
    }


def run_server_block(kind: str, n: int, s: argparse.Namespace, work: Path, profile_dir: Path | None) -> dict[str, Any]:
    server: Server = QuizdServer(work, s) if kind == "quizd" else PeerServer(kind, work, s)
    server.start()
    block: dict[str, Any] = {"server": kind, "loadavg_start": Path("/proc/loadavg").read_text().split()[:3],
                             "errors": {}}
    cores0, cpu_server0, t0 = core_times(), cpu_s(server.pid), time.monotonic()

    def attempt(name: str, what: str, fn: Any) -> None:
        log(f"{kind} N={n}: {what}")
        try:
            block[name] = fn()
        except Exception as exc:  # noqa: BLE001 - one failed scenario must not lose the rest
            log(f"{kind} N={n}: {name} failed: {exc}")
            block["errors"][name] = str(exc)[-2000:]

    try:
        block["rss_start_kb"] = rss_kb(server.pid)
        if profile_dir is not None and kind == "quizd":
            server.start_profiler(profile_dir / f"profile-quizd-{n}.svg")
        attempt("connect_fanout", f"connect + fan-out ({s.rounds} rounds)",
                lambda: scenario_connect_fanout(server, n, s.rounds))
        time.sleep(0.5)
        key = [q["answer"] for q in s.questions_burst]
        attempt("burst_1s", "burst, answers within 1 s",
                lambda: scenario_load(server, n, "bench-burst", "uniform:0-1000", s.burst_questions, key))
        try:
            fan_ms = block["connect_fanout"]["fanout_question"]["median_trigger_to_last_ms"] or 100
        except KeyError:
            fan_ms = 100
        sync_ms = int(max(300, 3 * fan_ms))
        attempt("burst_once", f"burst, all answers at once ({sync_ms} ms after the question is sent)",
                lambda: scenario_load(server, n, "bench-burst", f"sync:{sync_ms}", s.burst_questions, key))
        lo, hi = int(s.steady_ms * 0.05), int(s.steady_ms * 0.95)
        attempt("steady", f"steady answers over {s.steady_ms / 1000:g} s",
                lambda: scenario_load(server, n, "bench-steady", f"even:{lo}-{hi}", 1,
                                      [q["answer"] for q in s.questions_steady]))
        if isinstance(server, QuizdServer):
            # Right after N players left at once; how long /metrics takes is telling too.
            block["slow_consumer_disconnects"] = server.slow_consumer_disconnects()
            block["metrics_answer_s"] = getattr(server, "metrics_wait_s", None)
        block["rss_end_kb"] = rss_kb(server.pid)
        wall = time.monotonic() - t0
        block["server_cpu_s"] = round(cpu_s(server.pid) - cpu_server0, 2)
        block["wall_s"] = round(wall, 2)
        # Busy share of each core over the block (others' processes fill the idle time).
        block["core_busy"] = core_busy(cores0, core_times())
        block["server_core_share"] = round(block["server_cpu_s"] / wall, 3)
    finally:
        server.stop()
    return block


# ---------------------------------------------------------------------- cluster
# Three quizd nodes and one redis-server, all on the server core (core 0) like the single
# node, the clients on core 1: the same CPU budget, so cluster ÷ single node is the cost of
# the relay and the durable writes, not a scale-out figure (the nodes share one core).
CLUSTER_NODES = 3
CLUSTER_HEARTBEAT_MS = 200
CLUSTER_NODE_TIMEOUT_MS = 1000
CLUSTER_MAX_N = 5000  # the full run's time budget: 10,000 through the cluster would add minutes
PROBE_POLL_S = 0.05
REDIS_SERVER = shutil.which("redis-server")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def total_cpu_s(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += cpu_s(pid)
        except (OSError, IndexError, ValueError):
            pass
    return total


class RedisProc:
    """redis-server on a free loopback port, no persistence, started and stopped by us."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def ping(self) -> bool:
        import socket

        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> None:
        assert REDIS_SERVER is not None
        self.work.mkdir(parents=True, exist_ok=True)
        for _ in range(3):  # the free port can be taken by someone else before redis binds it
            self.port = free_port()
            self.log = open(self.work / "redis.log", "w")  # noqa: SIM115
            self.proc = subprocess.Popen(
                pinned(SERVER_CPU, [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                    "--appendonly", "no", "--dir", str(self.work), "--protected-mode", "yes",
                                    "--maxclients", "1000"]),
                stdout=self.log, stderr=subprocess.STDOUT)
            end = time.monotonic() + 10
            while time.monotonic() < end and self.proc.poll() is None:
                if self.ping():
                    return
                time.sleep(0.05)
            self.stop()
        raise RuntimeError(f"redis-server did not start: {(self.work / 'redis.log').read_text()[-1000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


class ClusterNode(QuizdServer):
    drain_timeout_s = 0

    def __init__(self, work: Path, settings: argparse.Namespace, node_id: str, redis_url: str) -> None:
        super().__init__(work, settings)
        self.node_id = node_id
        self.cluster_toml = (f'[cluster]\nredis_url = "{redis_url}"\nheartbeat_ms = {CLUSTER_HEARTBEAT_MS}\n'
                             f"node_timeout_ms = {CLUSTER_NODE_TIMEOUT_MS}\n")

    def metrics(self) -> dict[str, float]:
        status, text = ControlClient(self.http_url, TOKEN, timeout=20).request_sync("GET", "/metrics", raw=True)
        out = {}
        for line in text.decode().splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                try:
                    out[name] = float(value)
                except ValueError:
                    pass
        return out

    def metric(self, name: str) -> float | None:
        return self.metrics().get(name)

    def health(self) -> dict[str, Any]:
        """Moves and event-loop stalls so far: what a too-tight node_timeout_ms shows as."""
        out: dict[str, Any] = {}
        try:
            m = self.metrics()
            count = m.get("quizd_event_loop_lag_seconds_count", 0)
            out.update({
                "takeovers": m.get("quizd_cluster_takeovers_total"),
                "handovers": m.get("quizd_cluster_handovers_total"),
                "lag_samples": count,
                "lag_over_0_5s": count - m.get('quizd_event_loop_lag_seconds_bucket{le="0.5"}', count),
                "lag_over_1s": count - m.get('quizd_event_loop_lag_seconds_bucket{le="1.0"}', count),
            })
        except OSError as exc:
            out["metrics_error"] = str(exc)
        warnings: Counter[str] = Counter()
        try:
            for line in (self.work / "quizd.stderr.log").read_text().splitlines():
                try:
                    rec = json.loads(line)
                    warnings[rec.get("msg", "?")[:80]] += 1
                except ValueError:
                    warnings[line[:80]] += 1
        except OSError:
            pass
        out["log"] = dict(warnings)
        return out


class Cluster:
    """redis-server + three quizd nodes (cluster mode), every process started and stopped here."""

    kind = "cluster"

    def __init__(self, work: Path, settings: argparse.Namespace) -> None:
        self.work = work
        self.settings = settings
        self.redis = RedisProc(work / "redis")
        self.nodes: list[ClusterNode] = []

    @property
    def ws_urls(self) -> list[str]:
        return [n.ws_url for n in self.nodes]

    @property
    def pids(self) -> list[int]:
        return [self.redis.pid, *(n.pid for n in self.nodes if n.proc is not None and n.proc.poll() is None)]

    def start(self) -> None:
        t0 = time.monotonic()
        self.redis.start()
        for i in range(CLUSTER_NODES):
            work = self.work / f"node{i}"
            work.mkdir(parents=True, exist_ok=True)
            node = ClusterNode(work, self.settings, f"bench-c{i}", self.redis.url)
            self.nodes.append(node)
            node.launch()
        for node in self.nodes:
            node.wait_ready(45)
        end = time.monotonic() + 30
        for node in self.nodes:
            while True:
                members = node.metric("quizd_cluster_members")
                if members is not None and members >= CLUSTER_NODES:
                    break
                if time.monotonic() > end:
                    raise RuntimeError(f"{node.node_id} sees {members} cluster members, not {CLUSTER_NODES}")
                time.sleep(0.1)
        self.start_s = round(time.monotonic() - t0, 2)

    def health(self) -> dict[str, Any]:
        return {n.node_id: n.health() for n in self.nodes if n.proc is not None and n.proc.poll() is None}

    def node(self, node_id: str) -> ClusterNode:
        return next(n for n in self.nodes if n.node_id == node_id)

    def new_quiz(self, definition: str) -> tuple[str, str]:
        return self.nodes[0].new_quiz(definition)

    def load_args(self, definition: str) -> list[str]:
        return self.nodes[0].load_args(definition)

    def owner_of(self, quiz_id: str, via: ClusterNode | None = None) -> str | None:
        via = via or self.nodes[0]
        try:
            status, body = via.control.request_sync("GET", f"/api/quizzes/{quiz_id}")
        except OSError:
            return None
        return body.get("node") if status == 200 and isinstance(body, dict) else None

    def stop(self) -> None:
        # SIGTERM to every live node at once (drain_timeout_s = 0), then wait; Redis last.
        for node in self.nodes:
            if node.proc is not None and node.proc.poll() is None:
                node.proc.send_signal(signal.SIGTERM)
        for node in self.nodes:
            node.stop()
        self.redis.stop()


def scenario_takeover(cluster: Cluster, players: int) -> dict[str, Any]:
    """Players spread over the three nodes in a live question; ``kill -9`` of the quiz's owner.

    Measures (a) kill → the first resume ``join`` that succeeds on a survivor (a probe that
    was connected to the owner, polling every 50 ms through ``server_busy``), and (b) kill →
    every player resumed (each reconnects when its connection closes and honours
    ``retryAfterMs``, as a client would).
    """
    import trio
    from trio_websocket import ConnectionClosed, HandshakeError

    from quizd.client import connect

    quiz_id, host_token = cluster.new_quiz("bench-takeover")
    owner_id = cluster.owner_of(quiz_id)
    if owner_id is None:
        raise RuntimeError(f"GET /api/quizzes/{quiz_id} did not name an owner")
    owner = cluster.node(owner_id)
    survivors = [n for n in cluster.nodes if n is not owner]
    surv_urls = [n.ws_url for n in survivors]
    recs: list[dict[str, Any]] = []
    out: dict[str, Any] = {"players": players, "owner": owner_id, "survivors": [n.node_id for n in survivors]}

    async def read_until(conn: Any, msg_id: Any, timeout: float) -> dict[str, Any]:
        with trio.fail_after(timeout):
            while True:
                reply = await conn.recv(timeout)
                if reply.get("re") == msg_id:
                    return reply

    async def drain(conn: Any, scopes: list[trio.CancelScope]) -> int | None:
        """Read (and drop) until the connection closes or the scope is cancelled; the close code."""
        with trio.CancelScope() as scope:
            scopes.append(scope)
            try:
                while True:
                    await conn.ws.get_message()
            except ConnectionClosed as closed:
                return closed.reason.code if closed.reason else None
        return None

    async def main() -> None:
        state: dict[str, Any] = {"joined": 0, "ready": 0, "resumed": 0, "kill_at": None}
        all_joined, all_ready, kill_done, all_resumed = trio.Event(), trio.Event(), trio.Event(), trio.Event()
        hold_scopes: list[trio.CancelScope] = []
        connect_limit = trio.Semaphore(64)

        def since_kill() -> float | None:
            return None if state["kill_at"] is None else round(trio.current_time() - state["kill_at"], 3)

        async def resume(rec: dict[str, Any], token: str, first: int, poll_s: float | None) -> None:
            """join with the token on the survivors until it succeeds; then stay connected."""
            deadline = trio.current_time() + 30
            attempt = 0
            while trio.current_time() < deadline:
                url = surv_urls[(first + attempt) % len(surv_urls)]
                attempt += 1
                rec["attempts"] = attempt
                wait_s = 0.1
                try:
                    async with connect(url) as conn:
                        msg_id = await conn.send("join", {"quizId": quiz_id, "resumeToken": token})
                        reply = await read_until(conn, msg_id, 15)
                        if reply["type"] == "joined":
                            rec["resumed_s"] = since_kill()
                            p = reply["payload"]
                            q = p.get("question") or {}
                            rec["phase"] = p.get("quiz", {}).get("phase")
                            rec["answered_after"] = q.get("answered")
                            rec["score_after"] = p.get("score")
                            state["resumed"] += 1
                            if state["resumed"] == players + 1:  # the probe too
                                all_resumed.set()
                            await drain(conn, hold_scopes)
                            return
                        code = reply["payload"].get("code")
                        rec.setdefault("refusals", Counter())[code] += 1
                        if code != "server_busy":
                            rec["error"] = reply["payload"]
                            return
                        retry = reply["payload"].get("details", {}).get("retryAfterMs", 500) / 1000
                        wait_s = poll_s if poll_s is not None else retry
                except (OSError, HandshakeError, ConnectionClosed, trio.TooSlowError) as exc:
                    rec.setdefault("refusals", Counter())[type(exc).__name__] += 1
                await trio.sleep(wait_s)
            rec["error"] = "not resumed within 30 s"

        async def player(nursery: trio.Nursery, i: int, url: str, answer: bool, probe: bool = False) -> None:
            rec: dict[str, Any] = {"i": i, "gateway": cluster.nodes[i % CLUSTER_NODES].node_id if not probe
                                   else owner_id, "probe": probe}
            recs.append(rec)
            async with connect_limit:
                cm = connect(url)
                conn = await cm.__aenter__()
            try:
                joined = await conn.join(quiz_id, name=("probe" if probe else f"t{i}"))
                if joined["type"] != "joined":
                    raise RuntimeError(f"join refused: {joined}")
                token = joined["payload"]["resumeToken"]
                state["joined"] += 1
                if state["joined"] == players + 1:
                    all_joined.set()
                question = await conn.expect("question", 60)
                if answer:
                    result = await conn.request(
                        "answer", {"questionId": question["payload"]["questionId"], "choice": 0}, 60)
                    rec["acked"] = result["type"] == "answer_result"
                    rec["score_before"] = result["payload"].get("score")
                state["ready"] += 1
                if state["ready"] == players + 1:
                    all_ready.set()
                if probe:
                    # Resumes from the moment of the kill, polling; its old connection just goes.
                    await kill_done.wait()
                    nursery.start_soon(resume, rec, token, 0, PROBE_POLL_S)
                else:
                    rec["close_code"] = await drain(conn, [])
                    rec["closed_s"] = since_kill()
                    # Reconnect at once (the old connection's clean-up must not delay it).
                    nursery.start_soon(resume, rec, token, i, None)
            finally:
                with trio.move_on_after(2) as cleanup:
                    cleanup.shield = True
                    try:
                        await cm.__aexit__(None, None, None)
                    except Exception:  # noqa: BLE001 - the connection is gone either way
                        pass

        with trio.fail_after(120):
            async with connect(surv_urls[0]) as host:
                reply = await host.join(quiz_id, hostToken=host_token)
                if reply["type"] != "joined":
                    raise RuntimeError(f"host join refused: {reply}")
                async with trio.open_nursery() as nursery:
                    t_join = trio.current_time()
                    # The probe is a player connected to the owner: its connection dies with it.
                    nursery.start_soon(player, nursery, -1, owner.ws_url, False, True)
                    for i in range(players):
                        # Round-robin over the nodes; two players in three answer before the kill.
                        nursery.start_soon(player, nursery, i, cluster.nodes[i % CLUSTER_NODES].ws_url,
                                           (i // 3) % 3 != 2)
                    await all_joined.wait()  # start once everyone is in the quiz
                    out["join_s"] = round(trio.current_time() - t_join, 2)
                    await host.request("start", {}, 30)
                    nursery.start_soon(drain, host, hold_scopes)
                    await all_ready.wait()
                    out["ready_s"] = round(trio.current_time() - t_join, 2)
                    await trio.sleep(0.5)  # every ack is durable already; let the relay go quiet
                    state["kill_at"] = trio.current_time()
                    os.kill(owner.pid, signal.SIGKILL)
                    out["killed"] = True
                    kill_done.set()
                    with trio.move_on_after(40):
                        await all_resumed.wait()
                    out["wait_s"] = since_kill()
                    for scope in hold_scopes:
                        scope.cancel()
                    nursery.cancel_scope.cancel()

    try:
        trio.run(main)
    finally:
        if out.get("killed"):
            owner.proc.wait(timeout=10)  # reap the killed node
    out["new_owner"] = cluster.owner_of(quiz_id, survivors[0])
    probe = next((r for r in recs if r["probe"]), {})
    ps = [r for r in recs if not r["probe"]]
    resumed = sorted(r["resumed_s"] for r in ps if "resumed_s" in r)
    closes: Counter[str] = Counter(str(r.get("close_code")) for r in ps)
    by_gateway_closed = {}
    for gw in {r["gateway"] for r in ps}:
        times = [r["closed_s"] for r in ps if r["gateway"] == gw and r.get("closed_s") is not None]
        by_gateway_closed[gw] = median(times)
    acked = [r for r in ps if r.get("acked")]
    busy = sum(r.get("refusals", {}).get("server_busy", 0) for r in ps)
    out.update({
        "first_resume_s": probe.get("resumed_s"),
        "probe_attempts": probe.get("attempts"),
        "probe_refusals": dict(probe.get("refusals", {})),
        "all_resumed_s": resumed[-1] if len(resumed) == players else None,
        "resumed": len(resumed),
        "first_player_resumed_s": resumed[0] if resumed else None,
        "median_player_resumed_s": median(resumed),
        "close_codes": dict(closes),
        "median_closed_s_by_gateway": by_gateway_closed,
        "server_busy_replies": busy,
        "acked_before_kill": len(acked),
        "acks_kept": sum(1 for r in acked if r.get("answered_after") is True and r.get("score_after") == r.get("score_before")),
        "phase_after": dict(Counter(str(r.get("phase")) for r in ps if "resumed_s" in r)),
        "errors": [f"t{r['i']}: {r['error']}" for r in recs if "error" in r][:10],
    })
    return out


def run_cluster_scenarios(settings: argparse.Namespace, results: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """Cluster mode: three quizd nodes + Redis, players spread round-robin over the nodes.

    For each cluster N: the burst scenarios with ``quizd-load`` (three ``--ws`` URLs), to
    compare with the single-node quizd of the same run.  Then the takeover after ``kill -9``
    of a quiz's owner, ``settings.takeover_trials`` times on a fresh cluster each.
    """
    s = settings
    if REDIS_SERVER is None:
        return {"skipped": "redis-server is not installed (apt-get install redis-server)"}
    t0 = time.monotonic()
    out: dict[str, Any] = {
        "nodes": CLUSTER_NODES, "ns": s.cluster_ns,
        "config": {"heartbeat_ms": CLUSTER_HEARTBEAT_MS, "node_timeout_ms": CLUSTER_NODE_TIMEOUT_MS,
                   "drain_timeout_s": 0, "redis": "--save '' --appendonly no"},
        "pinning": f"3 nodes and redis-server: taskset -c {SERVER_CPU}; quizd-load and the takeover driver: "
                   f"taskset -c {CLIENT_CPU}",
        "redis_version": subprocess.run([REDIS_SERVER, "--version"], capture_output=True, text=True).stdout.strip(),
        "runs": {}, "takeover": {"players": s.takeover_players, "trials": []},
    }
    key = [q["answer"] for q in s.questions_burst]
    for n in s.cluster_ns:
        block: dict[str, Any] = {"errors": {}}
        out["runs"][str(n)] = block
        cluster = Cluster(tmp / f"cluster-{n}", s)

        def attempt(name: str, what: str, fn: Any) -> None:
            # Once more after a failure: with node_timeout_ms 1000 and three nodes on one core,
            # a stalled node can lose a lease under load and the quiz moves mid-run (quizd-load
            # does not survive its host being moved).  The failure stays in the results.
            for tries in (1, 2):
                log(f"cluster N={n}: {what}" + (" (again)" if tries > 1 else ""))
                try:
                    block[name] = fn()
                    block[name]["tries"] = tries
                    block[name]["cluster_health"] = cluster.health()
                    return
                except Exception as exc:  # noqa: BLE001 - one failed scenario must not lose the rest
                    log(f"cluster N={n}: {name} failed: {str(exc)[-300:]}")
                    block["errors"][name if tries == 1 else f"{name} (2nd try)"] = str(exc)[-2000:]
                    block.setdefault("health_after_failure", {})[name] = cluster.health()

        try:
            log(f"cluster N={n}: starting redis-server and {CLUSTER_NODES} nodes")
            cluster.start()
            block["start_s"] = cluster.start_s
            cores0, cpu0, w0 = core_times(), total_cpu_s(cluster.pids), time.monotonic()
            attempt("burst_1s", "burst, answers within 1 s (players spread over 3 nodes)",
                    lambda: scenario_load(cluster, n, "bench-burst", "uniform:0-1000", s.burst_questions, key))
            fan_ms = (block.get("burst_1s") or {}).get("fanout_median_trigger_to_last_ms") or 100
            sync_ms = int(max(300, 3 * fan_ms))
            attempt("burst_once", f"burst, all answers at once ({sync_ms} ms after the question is sent)",
                    lambda: scenario_load(cluster, n, "bench-burst", f"sync:{sync_ms}", s.burst_questions, key))
            block["sync_ms"] = sync_ms
            for sc in ("burst_1s", "burst_once"):
                if sc in block and block[sc].get("quiz_id"):
                    block[sc]["owner"] = cluster.owner_of(block[sc]["quiz_id"])
            wall = time.monotonic() - w0
            block["wall_s"] = round(wall, 2)
            block["server_cpu_s"] = round(total_cpu_s(cluster.pids) - cpu0, 2)
            block["server_core_share"] = round(block["server_cpu_s"] / wall, 3)
            block["core_busy"] = core_busy(cores0, core_times())
        except Exception as exc:  # noqa: BLE001
            log(f"cluster N={n}: failed: {exc}")
            block["errors"]["cluster"] = str(exc)[-2000:]
        finally:
            cluster.stop()
        single = results["runs"].get(str(n), {}).get("quizd", {})
        try:
            log(f"cluster N={n}: within 1 s p50/p99 {block['burst_1s']['p50_ms']}/{block['burst_1s']['p99_ms']} ms "
                f"(single node {single.get('burst_1s', {}).get('p50_ms')}/{single.get('burst_1s', {}).get('p99_ms')}), "
                f"at once {block['burst_once']['p50_ms']}/{block['burst_once']['p99_ms']} ms "
                f"(single node {single.get('burst_once', {}).get('p50_ms')}/{single.get('burst_once', {}).get('p99_ms')})")
        except KeyError:
            pass
    for trial in range(s.takeover_trials):
        cluster = Cluster(tmp / f"cluster-takeover-{trial}", s)
        log(f"cluster takeover {trial + 1}/{s.takeover_trials}: {s.takeover_players} players, kill -9 of the owner")
        try:
            cluster.start()
            res = scenario_takeover(cluster, s.takeover_players)
            log(f"cluster takeover {trial + 1}: first resume {res['first_resume_s']} s, all {res['resumed']} "
                f"resumed {res['all_resumed_s']} s, acks kept {res['acks_kept']}/{res['acked_before_kill']}")
        except Exception as exc:  # noqa: BLE001
            log(f"cluster takeover {trial + 1}: failed: {exc!r}")
            res = {"error": repr(exc)[-2000:]}
        finally:
            cluster.stop()
        out["takeover"]["trials"].append(res)
    trials = out["takeover"]["trials"]
    out["takeover"]["median_first_resume_s"] = median([t.get("first_resume_s") for t in trials])
    out["takeover"]["median_all_resumed_s"] = median([t.get("all_resumed_s") for t in trials])
    out["duration_s"] = round(time.monotonic() - t0, 1)
    return out


# ---------------------------------------------------------------------- table and plot
# (key, label, unit, higher_is_better, getter)
def _fan(kind: str):
    return lambda b: b["connect_fanout"][f"fanout_{kind}"]["median_msgs_per_s"]


METRICS = [
    ("fanout_question", "fan-out, ~600-byte question", "msgs/s", True, _fan("question")),
    ("fanout_leaderboard", "fan-out, question_closed + leaderboard", "msgs/s", True, _fan("leaderboard")),
    ("burst_1s_p50", "burst within 1 s, p50", "ms", False, lambda b: b["burst_1s"]["p50_ms"]),
    ("burst_1s_p99", "burst within 1 s, p99", "ms", False, lambda b: b["burst_1s"]["p99_ms"]),
    ("burst_once_p50", "burst all at once, p50", "ms", False, lambda b: b["burst_once"]["p50_ms"]),
    ("burst_once_p99", "burst all at once, p99", "ms", False, lambda b: b["burst_once"]["p99_ms"]),
    ("steady_p99", "steady answers, p99", "ms", False, lambda b: b["steady"]["p99_ms"]),
    ("kb_per_idle_conn", "RSS per idle connection", "KB", False,
     lambda b: b["connect_fanout"]["kb_per_idle_conn"]),
    ("connect_s", "time to connect N", "s", False, lambda b: b["connect_fanout"]["connect_s"]),
]


def figures(results: dict[str, Any]) -> dict[str, dict[str, dict[str, float | None]]]:
    """{N: {metric: {server: value}}}"""
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for n, blocks in results["runs"].items():
        out[n] = {}
        for key, _, _, _, get in METRICS:
            out[n][key] = {}
            for kind, block in blocks.items():
                try:
                    out[n][key][kind] = get(block)
                except (KeyError, TypeError):
                    out[n][key][kind] = None
    return out


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt(v: float | None, unit: str = "") -> str:
    if v is None:
        return "–"
    if unit == "msgs/s":
        return f"{v / 1000:.1f}k"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def markdown_table(results: dict[str, Any]) -> str:
    figs = figures(results)
    kinds = [k for k in SERVERS if k in results["servers"]]
    if not kinds:
        return "(no single-node server in this run)"
    base = [k for k in kinds if k != "quizd"]
    head = ["N", "figure", *(LABELS[k] for k in kinds), *(f"quizd ÷ {LABELS[k]}" for k in base if "quizd" in kinds)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for n, metrics in figs.items():
        for key, label, unit, higher, _ in METRICS:
            vals = metrics[key]
            row = [f"{int(n):,}", f"{label} ({unit}, {'↑' if higher else '↓'} better)"]
            row += [fmt(vals.get(k), unit) for k in kinds]
            if "quizd" in kinds:
                for k in base:
                    r = ratio(vals.get("quizd"), vals.get(k))
                    row.append("–" if r is None else f"{r:.2f}×")
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


# (key, label, unit, getter): the same getter reads a single-node quizd block and a cluster block.
CLUSTER_METRICS = [
    ("burst_1s_p50", "burst within 1 s, p50", "ms", lambda b: b["burst_1s"]["p50_ms"]),
    ("burst_1s_p99", "burst within 1 s, p99", "ms", lambda b: b["burst_1s"]["p99_ms"]),
    ("burst_once_p50", "burst all at once, p50", "ms", lambda b: b["burst_once"]["p50_ms"]),
    ("burst_once_p99", "burst all at once, p99", "ms", lambda b: b["burst_once"]["p99_ms"]),
    ("load_connect_s", "quizd-load: connect and join N", "s", lambda b: b["burst_1s"]["connect_s"]),
]


def cluster_figures(results: dict[str, Any]) -> dict[str, dict[str, dict[str, float | None]]]:
    """{N: {metric: {"quizd": single node, "cluster": cluster}}} for the cluster's Ns."""
    cl = results.get("cluster") or {}
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for n, block in (cl.get("runs") or {}).items():
        single = results["runs"].get(n, {}).get("quizd", {})
        out[n] = {}
        for key, _, _, get in CLUSTER_METRICS:
            out[n][key] = {}
            for kind, b in (("quizd", single), ("cluster", block)):
                try:
                    out[n][key][kind] = get(b)
                except (KeyError, TypeError):
                    out[n][key][kind] = None
    return out


def cluster_markdown(results: dict[str, Any]) -> str:
    cl = results.get("cluster") or {}
    if "runs" not in cl:
        return f"Cluster: skipped ({cl.get('skipped', 'not run')})."
    cfg = cl["config"]
    lines = [f"Cluster: {cl['nodes']} quizd nodes + redis-server ({cl.get('redis_version', '').split(' sha')[0]}, "
             f"no persistence), heartbeat_ms {cfg['heartbeat_ms']}, node_timeout_ms {cfg['node_timeout_ms']}; "
             f"nodes and Redis share core {SERVER_CPU}, clients on core {CLIENT_CPU}; players spread round-robin "
             "over the three nodes. Reported, no target.", "",
             "| N | figure | quizd, 1 node | quizd cluster, 3 nodes + Redis | cluster ÷ 1 node |",
             "|---|---|---|---|---|"]
    for n, metrics in cluster_figures(results).items():
        for key, label, unit, _ in CLUSTER_METRICS:
            v = metrics[key]
            r = ratio(v.get("cluster"), v.get("quizd"))
            lines.append(f"| {int(n):,} | cluster: {label} ({unit}, ↓ better) | {fmt(v.get('quizd'))} | "
                         f"{fmt(v.get('cluster'))} | {'–' if r is None else f'{r:.2f}×'} |")
    tk = cl.get("takeover") or {}
    trials = tk.get("trials") or []
    if trials:
        def sec(v: Any) -> str:
            return "–" if v is None else f"{v:.2f}"

        def closed_1012(t: dict[str, Any]) -> float | None:
            by_gw = t.get("median_closed_s_by_gateway") or {}
            return median([v for gw, v in by_gw.items() if gw != t.get("owner")])

        head = [f"takeover after `kill -9` of the owner ({tk['players']} players + a probe)",
                *(f"trial {i + 1}" for i in range(len(trials))), "median"]
        lines += ["", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        rows: list[tuple[str, Any, bool]] = [
            ("cluster: kill → first resume `joined` on a survivor (probe retrying every 50 ms), s",
             lambda t: t.get("first_resume_s"), True),
            ("cluster: kill → survivors close their players with 1012 (median), s", closed_1012, True),
            ("cluster: kill → every player resumed (each honouring `retryAfterMs`), s",
             lambda t: t.get("all_resumed_s"), True),
            ("cluster: kill → median player resumed, s", lambda t: t.get("median_player_resumed_s"), True),
        ]
        for label, get, med in rows:
            vals = [get(t) if "error" not in t else None for t in trials]
            lines.append(f"| {label} | " + " | ".join(sec(v) for v in vals)
                         + f" | {sec(median(vals)) if med else ''} |")
        lines.append("| players resumed; acknowledged answers kept | " + " | ".join(
            f"{t.get('resumed', '–')}/{tk['players']}; {t.get('acks_kept', '–')}/{t.get('acked_before_kill', '–')}"
            if "error" not in t else "failed" for t in trials) + " | |")
        lines.append("| `server_busy` replies to the players' resumes | " + " | ".join(
            str(t.get("server_busy_replies", "–")) for t in trials) + " | |")
    return "\n".join(lines)


def health_summary(health: dict[str, Any]) -> str:
    """Totals over the nodes of ``Cluster.health()``: quiz moves and event-loop stalls."""
    tot: Counter[str] = Counter()
    for h in (health or {}).values():
        for k in ("takeovers", "handovers", "lag_over_1s"):
            tot[k] += int(h.get(k) or 0)
        for msg, c in (h.get("log") or {}).items():
            if msg.startswith(("lease was gone", "quiz lost here", "lease lost", "member gone")):
                tot[msg.split(";")[0]] += c
    parts = [f"{tot['takeovers']} takeovers, {tot['handovers']} hand-overs",
             f"{tot['lag_over_1s']} event-loop lag samples > 1 s"]
    parts += [f"{c}× \"{k}\"" for k, c in tot.items() if k not in ("takeovers", "handovers", "lag_over_1s")]
    return ", ".join(parts)


def cluster_notes(results: dict[str, Any]) -> list[str]:
    cl = results.get("cluster") or {}
    notes = []
    for n, b in (cl.get("runs") or {}).items():
        if any(k not in b for k in ("burst_1s", "burst_once")):
            notes.append(f"N={int(n):,} quizd cluster: scenarios failed: {', '.join(b.get('errors', {})) or '?'}")
            continue
        cores = b.get("core_busy", {})
        owners = {b[sc].get("owner") for sc in ("burst_1s", "burst_once")} - {None}
        notes.append(
            f"N={int(n):,} quizd cluster: core 0 busy {cores.get('cpu0', 0):.0%} (the 3 nodes + Redis "
            f"{b.get('server_core_share', 0):.0%}), core 1 busy {cores.get('cpu1', 0):.0%}; quiz owners "
            f"{', '.join(sorted(owners)) or '?'}; quizd-load CPU / answer send lag p99: " + ", ".join(
                f"{sc} {b[sc]['client_cpu_util']:.0%} / {b[sc]['client_send_lag_p99_ms']:.0f} ms"
                for sc in ("burst_1s", "burst_once"))
            + f"; all-at-once answers {b.get('sync_ms')} ms after the question; over the block: "
            + health_summary(b["burst_once"].get("cluster_health", {}))
            + ("; failed first and were run again: " + ", ".join(b["errors"]) if b.get("errors") else ""))
    return notes


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    figs = figures(results)
    targets = []

    def get(n: int, key: str, kind: str) -> float | None:
        return figs.get(str(n), {}).get(key, {}).get(kind)

    for n in (5000, 10000):
        if str(n) in figs:
            q, a = get(n, "fanout_question", "quizd"), get(n, "fanout_question", "asyncio")
            r = ratio(q, a)
            targets.append({"target": f"fan-out at {n:,} ≥ 1.2× asyncio websockets",
                            "value": None if r is None else f"{r:.3f}×", "met": r is not None and r >= 1.2})
    if "5000" in figs:
        q, nd = get(5000, "burst_once_p99", "quizd"), get(5000, "burst_once_p99", "node")
        targets.append({"target": "answer-to-result p99, 5,000 answering at once ≤ Node ws",
                        "value": f"{fmt(q)} vs {fmt(nd)} ms", "met": q is not None and nd is not None and q <= nd})
    for n in figs:
        q = get(int(n), "steady_p99", "quizd")
        targets.append({"target": f"steady p99 < 5 ms at {int(n):,}", "value": q, "met": q is not None and q < 5})
    if "10000" in results["runs"] and "quizd" in results["runs"]["10000"]:
        b = results["runs"]["10000"]["quizd"]
        codes: dict[str, int] = {}
        joined_all = True
        for sc in ("burst_1s", "burst_once", "steady"):
            if sc not in b:
                joined_all = False
                continue
            for code, count in b[sc]["close_codes"].items():
                codes[code] = codes.get(code, 0) + count
            joined_all = joined_all and b[sc]["joined"] == 10000 and b[sc]["replies"] == b[sc]["answers_sent"]
        slow = b.get("slow_consumer_disconnects")
        targets.append({"target": "10,000 players play a whole quiz, no slow-consumer disconnect",
                        "value": f"slow-consumer disconnects {slow}, close codes {codes or 'none'}",
                        "met": joined_all and not slow and not codes})
    for n in figs:
        q, a = get(int(n), "kb_per_idle_conn", "quizd"), get(int(n), "kb_per_idle_conn", "asyncio")
        r = ratio(q, a)
        targets.append({"target": f"RSS per idle connection at {int(n):,} ≤ 0.8× asyncio websockets",
                        "value": None if r is None else f"{r:.3f}×", "met": r is not None and r <= 0.8})
    return targets


def saturation_notes(results: dict[str, Any]) -> list[str]:
    notes = []
    for n, blocks in results["runs"].items():
        for kind, b in blocks.items():
            if any(k not in b for k in ("connect_fanout", "burst_1s", "burst_once", "steady")):
                notes.append(f"N={int(n):,} {LABELS[kind]}: scenarios failed: {', '.join(b.get('errors', {})) or '?'}")
                continue
            cf = b["connect_fanout"]
            busy_all = [r["receiver_busy"] for k in ("fanout_question", "fanout_leaderboard")
                        for r in cf[k]["rounds"] if r["receiver_busy"] is not None]
            busy = median(busy_all) or 0
            busy_max = max(busy_all, default=0)
            cores = b.get("core_busy", {})
            notes.append(f"N={int(n):,} {LABELS[kind]}: core 0 busy {cores.get('cpu0', 0):.0%} "
                         f"(the server's own share {b.get('server_core_share', 0):.0%}), core 1 busy "
                         f"{cores.get('cpu1', 0):.0%}; C receiver busy {busy:.0%} of its core in the median round "
                         f"({busy_max:.0%} in the busiest; rounds of a few ms are coarse); "
                         f"server CPU {cf['server_cpu_during_rounds_s']:.2f} s over {cf['rounds_wall_s']:.2f} s of rounds; "
                         "quizd-load CPU / answer send lag p99: " + ", ".join(
                             f"{sc} {b[sc]['client_cpu_util']:.0%} / {b[sc]['client_send_lag_p99_ms']:.0f} ms"
                             for sc in ("burst_1s", "burst_once", "steady"))
                         + ("; quizd-load SATURATED in " + ", ".join(
                             sc for sc in ("burst_1s", "burst_once", "steady") if b[sc]["client_saturated"])
                            if any(b[sc]["client_saturated"] for sc in ("burst_1s", "burst_once", "steady")) else ""))
    return notes + cluster_notes(results)


def plot(results: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs = figures(results)
    ns = sorted(int(n) for n in figs)
    kinds = [k for k in SERVERS if k in results["servers"]]
    colors = {"quizd": "tab:blue", "asyncio": "tab:orange", "node": "tab:green"}
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    panels = [
        (axes[0], "burst_once", "All players answer at once"),
        (axes[1], "burst_1s", "All players answer within 1 s"),
    ]
    cfigs = cluster_figures(results)
    bars = [(k, LABELS[k], colors[k], figs) for k in kinds]
    if any(cfigs.get(str(n), {}).get("burst_1s_p50", {}).get("cluster") for n in ns):
        bars.append(("cluster", "quizd cluster (3 nodes)", "tab:purple", cfigs))
    width = 0.8 / max(1, len(bars))
    for ax, scen, title in panels:
        for i, (kind, label, color, src) in enumerate(bars):
            p50 = [src.get(str(n), {}).get(f"{scen}_p50", {}).get(kind) or 0 for n in ns]
            p99 = [src.get(str(n), {}).get(f"{scen}_p99", {}).get(kind) or 0 for n in ns]
            xs = [j + (i - (len(bars) - 1) / 2) * width for j in range(len(ns))]
            ax.bar(xs, p99, width, color=color, alpha=0.35, label=f"{label} p99")
            ax.bar(xs, p50, width, color=color, label=f"{label} p50")
        ax.set_yscale("log")
        ax.set_xticks(range(len(ns)), [f"{n:,}" for n in ns])
        ax.set_xlabel("players")
        ax.set_ylabel("answer → answer_result (ms, log)")
        ax.set_title(title)
    ax = axes[2]
    for kind in kinds:
        ax.plot(ns, [figs[str(n)]["steady_p99"].get(kind) for n in ns], "o-", color=colors[kind],
                label=f"{LABELS[kind]} steady p99")
    ax.axhline(5, color="grey", ls=":", lw=1, label="target 5 ms")
    ax.set_yscale("log")
    ax.set_xscale("log")
    ax.set_xticks(ns, [f"{n:,}" for n in ns])
    ax.set_xlabel("players")
    ax.set_ylabel("answer → answer_result (ms, log)")
    ax.set_title("Steady answers over the question, p99")
    ax.legend(fontsize=7)
    handles, labels = axes[0].get_legend_handles_labels()
    if labels:
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 8), fontsize=8, frameon=False)
    fig.suptitle(f"quizd benchmark {results['date']} ({'quick' if results['quick'] else 'full'}; "
                 "server on core 0, client on core 1)")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(out, dpi=110)
    plt.close(fig)


def update_docs(results: dict[str, Any], table: str, png: Path, targets_md: str, cluster_md: str) -> None:
    start, end = "<!-- bench:latest:start -->", "<!-- bench:latest:end -->"
    text = DOCS.read_text()
    if start not in text or end not in text:
        log("docs/benchmarks.md has no bench:latest markers; not updated")
        return
    rel = os.path.relpath(png, DOCS.parent)
    body = (f"{start}\nRun: {results['date']}, `scripts/bench{' --quick' if results['quick'] else ''}` "
            f"({results['duration_s']:.0f} s), {results['machine']}.\n\n{table}\n\n{targets_md}\n\n{cluster_md}\n\n"
            f"![latency plot]({rel})\n\nSaturation notes:\n\n"
            + "\n".join(f"- {x}" for x in results.get("saturation", [])) + f"\n{end}")
    before, rest = text.split(start, 1)
    after = rest.split(end, 1)[1]
    DOCS.write_text(before + body + after)


def targets_markdown(targets: list[dict[str, Any]]) -> str:
    lines = ["| target | value | met |", "|---|---|---|"]
    for t in targets:
        v = t["value"]
        met = "–" if v is None else ("yes" if t["met"] else "**no**")
        v = fmt(v) if isinstance(v, float) else ("– (not measured)" if v is None else v)
        lines.append(f"| {t['target']} | {v} | {met} |")
    return "\n".join(lines)


def write_outputs(results: dict[str, Any], stem: Path, docs: bool) -> None:
    results["figures"] = figures(results)
    results["targets"] = evaluate_targets(results) if "quizd" in results["servers"] else []
    results["saturation"] = saturation_notes(results)
    table = markdown_table(results)
    targets_md = targets_markdown(results["targets"])
    cluster_md = cluster_markdown(results)
    json_path, md_path, png_path = (stem.with_suffix(".json"), stem.with_suffix(".md"), stem.with_suffix(".png"))
    json_path.write_text(json.dumps(results, indent=1))
    md_path.write_text(f"# Benchmark {results['date']}{' (quick)' if results['quick'] else ''}\n\n{table}\n\n"
                       f"{targets_md}\n\n{cluster_md}\n\n" + "\n".join(f"- {x}" for x in results["saturation"]) + "\n")
    plot(results, png_path)
    if docs:
        update_docs(results, table, png_path, targets_md, cluster_md)
    print(table)
    print()
    print(targets_md)
    print()
    print(cluster_md)
    print()
    for note in results["saturation"]:
        print(f"- {note}")
    print(f"\nwrote {json_path}, {md_path}, {png_path} in {results['duration_s']:.0f} s")


def replot(json_path: Path, docs: bool) -> int:
    results = json.loads(json_path.read_text())
    write_outputs(results, json_path.with_suffix(""), docs)
    return 0


# ---------------------------------------------------------------------- main
def main() -> int:
    global NICE
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="N=1,000 only, fewer rounds, a 5 s steady question")
    p.add_argument("--n", help="comma-separated player counts (default 1000,5000,10000; quick: 1000)")
    p.add_argument("--servers", default=",".join(SERVERS), help="comma-separated subset of quizd,asyncio,node")
    p.add_argument("--rounds", type=int, help="fan-out rounds of each kind (default 10; quick: 5)")
    p.add_argument("--profile", action="store_true", help="record a py-spy flame graph of quizd per N")
    p.add_argument("--cluster", action="store_true",
                   help="run the cluster scenarios (3 nodes + Redis) even with --n or --servers; a plain "
                        "full or --quick run includes them")
    p.add_argument("--no-cluster", action="store_true", help="skip the cluster scenarios")
    p.add_argument("--cluster-n", help="comma-separated player counts for the cluster bursts "
                   f"(default 1000,5000; quick: 1000; with --n: its values up to {CLUSTER_MAX_N:,})")
    p.add_argument("--takeover-players", type=int, default=300, help="players in the takeover scenario (default 300)")
    p.add_argument("--takeover-trials", type=int, help="kill -9 takeovers, each on a fresh cluster (default 3; quick: 1)")
    p.add_argument("--update-docs", action="store_true", help="put the table and plot into docs/benchmarks.md")
    p.add_argument("--out", help="result file stem (default bench/results/<date>[-quick])")
    p.add_argument("--replot", metavar="JSON", help="only redo the table, plot (and --update-docs) of a results file")
    p.add_argument("--no-nice", action="store_true",
                   help="do not raise the priority of the server and clients (nice -n %d)" % NICE)
    s = p.parse_args()
    if s.no_nice or not nice_available():
        if not s.no_nice:
            log(f"nice -n {NICE} is not permitted here; running at normal priority (expect more noise)")
        NICE = None
    if s.replot:
        return replot(Path(s.replot), s.update_docs)
    s.ns = [int(x) for x in s.n.split(",")] if s.n else ([1000] if s.quick else [1000, 5000, 10000])
    s.rounds = s.rounds or (5 if s.quick else 10)
    s.burst_questions = 2 if s.quick else 3
    s.steady_ms = 5000 if s.quick else 20000
    s.run_cluster = (s.cluster or (s.n is None and s.servers == ",".join(SERVERS))) and not s.no_cluster
    if s.cluster_n:
        s.cluster_ns = [int(x) for x in s.cluster_n.split(",")]
    elif s.n:
        s.cluster_ns = [n for n in s.ns if n <= CLUSTER_MAX_N]
    else:
        s.cluster_ns = [1000] if s.quick else [1000, 5000]
    s.takeover_trials = s.takeover_trials if s.takeover_trials is not None else (1 if s.quick else 3)
    servers = [k.strip() for k in s.servers.split(",") if k.strip()]
    for k in servers:
        if k not in SERVERS:
            p.error(f"unknown server {k!r}")
    if len(os.sched_getaffinity(0)) < 2 and os.cpu_count() and os.cpu_count() < 2:
        log("warning: fewer than 2 cores; server and client will share one")
    try:
        os.sched_setaffinity(0, {int(CLIENT_CPU)})
    except OSError:
        pass
    if NICE is not None:
        # This process is a client too (the cluster takeover driver runs in it): same priority
        # as quizd-load and the C receiver.  ``nice -n`` of the children is clamped at -20.
        try:
            os.setpriority(os.PRIO_PROCESS, 0, NICE)
        except OSError:
            pass
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < max(s.ns) + 1000:
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
        "date": date, "quick": s.quick, "ns": s.ns, "servers": servers, "rounds": s.rounds,
        "burst_questions": s.burst_questions, "steady_ms": s.steady_ms,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
                   f"node {subprocess.run(['node', '--version'], capture_output=True, text=True).stdout.strip()}",
        "pinning": {"server": f"taskset -c {SERVER_CPU}", "client": f"taskset -c {CLIENT_CPU}",
                    "priority": f"nice -n {NICE}" if NICE is not None else None},
        "runs": {},
    }
    with tempfile.TemporaryDirectory(prefix="quizd-bench-") as tmp:
        s.defs_dir = Path(tmp) / "quizzes"
        write_definitions(s, s.defs_dir)
        for n in s.ns:
            results["runs"][str(n)] = {}
            for kind in servers:
                work = Path(tmp) / f"{kind}-{n}"
                work.mkdir()
                results["runs"][str(n)][kind] = run_server_block(
                    kind, n, s, work, stem.parent if s.profile else None)
                f = results["runs"][str(n)][kind]
                try:
                    log(f"{kind} N={n}: fan-out {f['connect_fanout']['fanout_question']['median_msgs_per_s']} "
                        f"msgs/s, at-once p50/p99 {f['burst_once']['p50_ms']}/{f['burst_once']['p99_ms']} ms, "
                        f"steady p99 {f['steady']['p99_ms']} ms, {f['connect_fanout']['kb_per_idle_conn']} KB/conn")
                except KeyError:
                    log(f"{kind} N={n}: some scenarios failed: {', '.join(f['errors'])}")
        results["cluster"] = (run_cluster_scenarios(s, results, Path(tmp)) if s.run_cluster
                              else {"skipped": "not requested (--n/--servers without --cluster, or --no-cluster)"})
    results["duration_s"] = round(time.monotonic() - t0, 1)
    write_outputs(results, stem, s.update_docs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
