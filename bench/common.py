"""What every part of the benchmark shares: paths, the admin token, the cores, priority.

The server under test runs on ``SERVER_CPU`` and every client on ``CLIENT_CPU``;
``pinned`` prefixes a command line with ``taskset`` (and ``nice -n -20`` unless
``disable_nice`` was called).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path



ROOT = Path(__file__).resolve().parent.parent
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
