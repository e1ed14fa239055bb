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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from quizd.client import ControlClient  # noqa: E402
from quizd.load_stats import median  # noqa: E402

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
    import select

    assert proc.stdout is not None
    end = time.monotonic() + timeout
    buf = ""
    fd = proc.stdout.fileno()
    while time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            chunk = os.read(fd, 65536).decode()
            if not chunk:
                break
            buf += chunk
            for line in buf.splitlines():
                if line.startswith(prefix):
                    return line
        elif proc.poll() is not None:
            break
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


class QuizdServer(Server):
    kind = "quizd"

    def start(self) -> None:
        s = self.settings
        defs = self.work / "quizzes"
        defs.mkdir(parents=True, exist_ok=True)
        (defs / "bench-fanout.toml").write_text(
            definition_toml("bench-fanout", s.questions_fanout, 600_000))
        (defs / "bench-burst.toml").write_text(definition_toml("bench-burst", s.questions_burst, 20_000))
        (defs / "bench-steady.toml").write_text(
            definition_toml("bench-steady", s.questions_steady, s.steady_ms))
        config = self.work / "quizd.toml"
        config.write_text(f"""
[node]
id = "bench"
drain_timeout_s = 1
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
""")
        self.stderr = open(self.work / "quizd.stderr.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(pinned(SERVER_CPU, [PY, "-m", "quizd", "serve", "--config", str(config)]),
                                     stdout=subprocess.PIPE, stderr=self.stderr, text=True, cwd=ROOT)
        line = read_line(self.proc, "quizd ready ", 30)
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
    argv = [PY, "-m", "quizd.load", "--ws", server.ws_url, *server.load_args(definition), "-n", str(n),
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


def run_cluster_scenarios(settings: argparse.Namespace) -> dict[str, Any]:
    """Hook for cluster mode (several quizd nodes behind Redis): not implemented yet."""
    return {"skipped": "cluster mode is not benchmarked yet (bench/run.py: run_cluster_scenarios)"}


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
    return notes


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
    width = 0.8 / max(1, len(kinds))
    for ax, scen, title in panels:
        for i, kind in enumerate(kinds):
            p50 = [figs[str(n)][f"{scen}_p50"].get(kind) or 0 for n in ns]
            p99 = [figs[str(n)][f"{scen}_p99"].get(kind) or 0 for n in ns]
            xs = [j + (i - (len(kinds) - 1) / 2) * width for j in range(len(ns))]
            ax.bar(xs, p99, width, color=colors[kind], alpha=0.35, label=f"{LABELS[kind]} p99")
            ax.bar(xs, p50, width, color=colors[kind], label=f"{LABELS[kind]} p50")
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
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
    fig.suptitle(f"quizd benchmark {results['date']} ({'quick' if results['quick'] else 'full'}; "
                 "server on core 0, client on core 1)")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(out, dpi=110)
    plt.close(fig)


def update_docs(results: dict[str, Any], table: str, png: Path, targets_md: str) -> None:
    start, end = "<!-- bench:latest:start -->", "<!-- bench:latest:end -->"
    text = DOCS.read_text()
    if start not in text or end not in text:
        log("docs/benchmarks.md has no bench:latest markers; not updated")
        return
    rel = os.path.relpath(png, DOCS.parent)
    body = (f"{start}\nRun: {results['date']}, `scripts/bench{' --quick' if results['quick'] else ''}` "
            f"({results['duration_s']:.0f} s), {results['machine']}.\n\n{table}\n\n{targets_md}\n\n"
            f"![latency plot]({rel})\n\nSaturation notes:\n\n"
            + "\n".join(f"- {x}" for x in results.get("saturation", [])) + f"\n{end}")
    before, rest = text.split(start, 1)
    after = rest.split(end, 1)[1]
    DOCS.write_text(before + body + after)


def targets_markdown(targets: list[dict[str, Any]]) -> str:
    lines = ["| target | value | met |", "|---|---|---|"]
    for t in targets:
        v = t["value"]
        lines.append(f"| {t['target']} | {fmt(v) if isinstance(v, float) else v} | {'yes' if t['met'] else '**no**'} |")
    return "\n".join(lines)


def write_outputs(results: dict[str, Any], stem: Path, docs: bool) -> None:
    results["figures"] = figures(results)
    results["targets"] = evaluate_targets(results) if "quizd" in results["servers"] else []
    results["saturation"] = saturation_notes(results)
    table = markdown_table(results)
    targets_md = targets_markdown(results["targets"])
    json_path, md_path, png_path = (stem.with_suffix(".json"), stem.with_suffix(".md"), stem.with_suffix(".png"))
    json_path.write_text(json.dumps(results, indent=1))
    md_path.write_text(f"# Benchmark {results['date']}{' (quick)' if results['quick'] else ''}\n\n{table}\n\n"
                       f"{targets_md}\n\n" + "\n".join(f"- {x}" for x in results["saturation"]) + "\n")
    plot(results, png_path)
    if docs:
        update_docs(results, table, png_path, targets_md)
    print(table)
    print()
    print(targets_md)
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
    p.add_argument("--cluster", action="store_true", help="cluster scenarios (not implemented yet: recorded as skipped)")
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
    results["cluster"] = run_cluster_scenarios(s) if s.cluster else {"skipped": "not requested (--cluster)"}
    results["duration_s"] = round(time.monotonic() - t0, 1)
    write_outputs(results, stem, s.update_docs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
