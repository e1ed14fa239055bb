"""What every part of the benchmark shares: paths, the admin token, the cores, priority.

The server under test runs on ``SERVER_CPU`` and every client on ``CLIENT_CPU``;
``pinned`` prefixes a command line with ``taskset`` (and ``nice -n -20`` unless
``disable_nice`` was called).  What the benchmark reads from /proc (core busy time, a
process's RSS and CPU time) is here too: it is how the cores' budget is checked.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# scripts/bench makes .venv; run without it (bench/run.py by another venv's python), the
# servers and clients use the running interpreter.
PY = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
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


def disable_nice() -> None:
    """Run every child at normal priority (``--no-nice``, or nice -20 is not permitted)."""
    global NICE
    NICE = None


# ---------------------------------------------------------------------- /proc
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
    return {
        k: round((after[k][0] - before[k][0]) / max(1, after[k][1] - before[k][1]), 3) for k in after if k in before
    }


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cpu_times_s(pid: int) -> tuple[float, float]:
    """The process's user and system CPU so far, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tck = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tck, int(fields[12]) / tck


def cpu_s(pid: int) -> float:
    return sum(cpu_times_s(pid))


def total_cpu_s(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += cpu_s(pid)
        except (OSError, IndexError, ValueError):
            pass
    return total
