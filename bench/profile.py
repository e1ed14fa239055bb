"""py-spy around one scenario, summarised as its top frames.

``Profiled(server, out)`` records the server with ``py-spy record --format raw`` (folded
stacks: one line per distinct stack and its sample count) while the ``with`` block runs,
then ``top_frames`` reads the file back: the frames where the samples were taken (self)
and the frames that were on the stack (total), each as a share of all samples.  The
report prints them under each burst, so a regression shows where it came from.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import Any

from bench.common import CLIENT_CPU, ROOT, pinned

RATE_HZ = 200
TOP = 12


def py_spy() -> str:
    return shutil.which("py-spy") or str(ROOT / ".venv" / "bin" / "py-spy")


class Profiled:
    """Samples ``pid`` for the length of the block into ``out`` (folded stacks)."""

    def __init__(self, pid: int, out: Path, rate_hz: int = RATE_HZ) -> None:
        self.pid = pid
        self.out = out
        self.rate_hz = rate_hz
        self.proc: subprocess.Popen[bytes] | None = None

    def _rate_and_out(self) -> list[str]:
        return ["-r", str(self.rate_hz), "-o", str(self.out)]

    def __enter__(self) -> Profiled:
        self.proc = subprocess.Popen(
            pinned(
                CLIENT_CPU,
                [py_spy(), "record", "--pid", str(self.pid), "--nonblocking", "--format", "raw", *self._rate_and_out()],
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _frame_name(frame: str) -> str:
    # py-spy raw frames read "function (path/to/module.py:line)"; keep module:function.
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/quizd/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    module = path.removesuffix(".py").replace("/", ".").lstrip(".")
    return f"{module}:{name}" if module else name


def top_frames(folded: Path, top: int = TOP) -> dict[str, Any]:
    """The ``top`` frames by self and by total share of the samples in ``folded``."""
    if not folded.exists():
        return {"samples": 0, "self": [], "total": []}
    self_counts: Counter[str] = Counter()
    total_counts: Counter[str] = Counter()
    samples = 0
    for line in folded.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_name(f) for f in stack.split(";")]
        if not frames:
            continue
        samples += count
        self_counts[frames[-1]] += count
        for name in set(frames):
            total_counts[name] += count

    def share(counter: Counter[str]) -> list[list[Any]]:
        return [[name, round(count / samples, 3)] for name, count in counter.most_common(top)]

    if samples == 0:
        return {"samples": 0, "self": [], "total": []}
    return {"samples": samples, "self": share(self_counts), "total": share(total_counts)}
