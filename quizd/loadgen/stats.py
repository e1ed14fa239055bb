"""Numbers for ``quizd-load``: percentiles, the run report and its text form.

Pure functions over plain data (lists of nanosecond durations, dicts of counts), so the
report is unit-testable without sockets and can be built from what several worker
processes send back.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

NS_PER_MS = 1_000_000
#: What an answer latency is (the report's ``answers.latency_clock``).
LATENCY_CLOCK = (
    "CLOCK_REALTIME: the kernel's receive stamp (SO_TIMESTAMPNS) of the read that completed the reply "
    "(its last bytes), minus time.time_ns() right after the answer's send"
)


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0..100) of already sorted values, nearest-rank method.

    Nearest rank keeps every reported figure an actually observed value: p100 is the
    maximum, p0 the minimum, and the p99 of 100 samples is the 99th smallest.
    """
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    n = len(sorted_values)
    if n == 0:
        return None
    rank = max(1, math.ceil(q / 100 * n))
    return sorted_values[rank - 1]


def summarize_ns(values_ns: Iterable[int], percentiles: Sequence[float] = (50, 95, 99)) -> dict[str, Any]:
    """``{count, min, mean, p50, p95, p99, max}`` in milliseconds (floats, 3 decimals)."""
    values = sorted(values_ns)
    out: dict[str, Any] = {"count": len(values)}
    if not values:
        out.update({"min_ms": None, "mean_ms": None, "max_ms": None})
        out.update({f"p{_pname(q)}_ms": None for q in percentiles})
        return out
    out["min_ms"] = _ms(values[0])
    out["mean_ms"] = _ms(sum(values) / len(values))
    for q in percentiles:
        out[f"p{_pname(q)}_ms"] = _ms(percentile(values, q))
    out["max_ms"] = _ms(values[-1])
    return out


def _pname(q: float) -> str:
    return str(int(q)) if float(q).is_integer() else str(q).replace(".", "_")


def _ms(ns: float | None) -> float | None:
    return None if ns is None else round(ns / NS_PER_MS, 3)


def fanout_figures(trigger_ns: int | None, receipts_ns: Sequence[int]) -> dict[str, Any]:
    """One broadcast: how many got it, first-to-last skew and delivered messages/s.

    The delivery window runs from the trigger (the host command that caused the
    broadcast) to the last receipt; without a known trigger it starts at the first
    receipt, which makes the rate an upper bound (said by ``window_from``).
    """
    if not receipts_ns:
        return {
            "receivers": 0,
            "skew_ms": None,
            "trigger_to_first_ms": None,
            "trigger_to_last_ms": None,
            "msgs_per_s": None,
            "window_from": None,
        }
    first, last = min(receipts_ns), max(receipts_ns)
    start = trigger_ns if trigger_ns is not None and trigger_ns <= first else first
    window = last - start
    rate = len(receipts_ns) / (window / 1e9) if window > 0 else None
    return {
        "receivers": len(receipts_ns),
        "skew_ms": _ms(last - first),
        "trigger_to_first_ms": _ms(first - start) if trigger_ns is not None else None,
        "trigger_to_last_ms": _ms(last - start) if trigger_ns is not None else None,
        "msgs_per_s": round(rate, 1) if rate is not None else None,
        "window_from": "trigger" if start == trigger_ns else "first_receipt",
    }


def latency_stamp(kernel: int, userspace: int) -> str | None:
    """Which receive times the latencies used: ``kernel`` (every reply had the kernel's
    stamp), ``userspace`` (none had: the worker's read time), ``mixed``; None without replies."""
    if kernel and userspace:
        return "mixed"
    if kernel:
        return "kernel"
    return "userspace" if userspace else None


def merge_counters(parts: Iterable[Mapping[Any, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for part in parts:
        for key, value in part.items():
            total[str(key)] += value
    return dict(sorted(total.items()))


#: What is counted for each question kind, in this order: answers sent, of those chosen
#: without a usable key (guessed), replies to them, their results (``answer_result``
#: ``correct`` true, false or null for a poll) and error replies (refused).
KIND_COUNTS = ("sent", "guessed", "replies", "correct", "wrong", "unscored", "refused")


def merge_kind_counts(parts: Iterable[Mapping[str, Mapping[str, int]]]) -> dict[str, dict[str, int]]:
    """The workers' per-kind answer counts summed: ``{kind: {count: n}}`` with every count
    of ``KIND_COUNTS`` present (0 when none), kinds sorted."""
    total: dict[str, Counter[str]] = {}
    for part in parts:
        for kind, counts in part.items():
            total.setdefault(kind, Counter()).update(counts)
    return {kind: {name: total[kind][name] for name in KIND_COUNTS} for kind in sorted(total)}


def median(values: Sequence[float]) -> float | None:
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return None
    mid = len(vals) // 2
    return vals[mid] if len(vals) % 2 else (vals[mid - 1] + vals[mid]) / 2


def client_saturation(
    cpu_s: float,
    wall_s: float,
    cores: int,
    send_lag_p99_ms: float | None,
    cpu_threshold: float = 0.85,
    lag_threshold_ms: float = 10.0,
) -> tuple[float, list[str]]:
    """The client's CPU share of what it may use, and warnings when it was the bottleneck."""
    usable = max(1, cores) * max(wall_s, 1e-9)
    util = cpu_s / usable
    warnings = []
    if util >= cpu_threshold:
        warnings.append(
            f"load generator used {util:.0%} of its {cores} core(s): it may have been the "
            "bottleneck (add cores/workers, or use the C receiver for fan-out figures)"
        )
    if send_lag_p99_ms is not None and send_lag_p99_ms > lag_threshold_ms:
        warnings.append(
            f"answers went out late (p99 {send_lag_p99_ms:.1f} ms after their scheduled time): "
            "the load generator's loop was saturated"
        )
    return util, warnings


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        text = f"{value:,.1f}" if abs(value) >= 100 else f"{value:.2f}"
    else:
        text = f"{value:,}" if isinstance(value, int) else str(value)
    return text + unit


def render_text(report: Mapping[str, Any]) -> str:
    """The human summary of a report built by ``quizd.loadgen.run``."""
    lines: list[str] = []
    players = report["players"]
    connect = report["connect"]
    target = ", ".join(report.get("targets", []))
    lines.append(f"quizd-load: quiz {report.get('quiz_id')} on {target}")
    lines.append(
        f"players     joined {players['joined']:,} of {players['requested']:,}"
        f" (failed {players['failed']:,}); connected in {_fmt(connect['duration_s'], ' s')}"
        f" = {_fmt(connect['rate_per_s'], ' joins/s')}; join p50/p99 "
        f"{_fmt(connect['join_latency']['p50_ms'])}/{_fmt(connect['join_latency']['p99_ms'])} ms"
    )
    fan = report["fanout"]
    lines.append(
        f"fan-out     question: median {_fmt(fan['median_msgs_per_s'], ' msgs/s')}, "
        f"worst skew {_fmt(fan['max_skew_ms'], ' ms')} over {len(fan['questions'])} question(s)"
    )
    for q in fan["questions"]:
        lines.append(
            f"              q{q['index']}: {q['receivers']:,} got it, skew {_fmt(q['skew_ms'], ' ms')}, "
            f"trigger->last {_fmt(q['trigger_to_last_ms'], ' ms')}, {_fmt(q['msgs_per_s'], ' msgs/s')}"
        )
    ans = report["answers"]
    lat = ans["latency"]
    lines.append(
        f"answers     sent {ans['sent']:,}, replies {ans['replies']:,} ({ans['reply_type']}),"
        f" correct {ans['correct']:,}, late {ans['late']:,}"
    )
    stamps = ans.get("latency_stamps") or {}
    lines.append(
        f"latency     answer->{ans['reply_type']} p50 {_fmt(lat['p50_ms'])} / p95 {_fmt(lat['p95_ms'])}"
        f" / p99 {_fmt(lat['p99_ms'])} / max {_fmt(lat['max_ms'])} ms"
        + (
            f" (receive stamps: kernel {stamps.get('kernel', 0):,}, of which a later frame's "
            f"{stamps.get('followed', 0):,}; userspace {stamps.get('userspace', 0):,})"
            if stamps
            else ""
        )
    )
    at_read = ans.get("latency_at_read")
    if at_read:
        lines.append(
            f"            timed when read instead (the client's backlog included): p50 {_fmt(at_read['p50_ms'])}"
            f" / p95 {_fmt(at_read['p95_ms'])} / p99 {_fmt(at_read['p99_ms'])} / max {_fmt(at_read['max_ms'])} ms"
        )
    delay = ans.get("read_delay")
    if delay and delay["count"]:
        lines.append(
            f"            a reply's wait to be read, after its arrival: p50 {_fmt(delay['p50_ms'])}"
            f" / p99 {_fmt(delay['p99_ms'])} / max {_fmt(delay['max_ms'])} ms"
        )
    kind_latency = ans.get("latency_by_kind") or {}
    for kind, counts in (ans.get("by_kind") or {}).items():
        lat_k = kind_latency.get(kind) or {}
        lines.append(
            f"  {kind:<13} "
            + ", ".join(f"{name} {counts.get(name, 0):,}" for name in KIND_COUNTS)
            + (f"; p50/p99 {_fmt(lat_k.get('p50_ms'))}/{_fmt(lat_k.get('p99_ms'))} ms" if lat_k else "")
        )
    lines.append(f"leaderboard {report['leaderboard_frames']:,} frames received")
    recv = report["received"]
    lines.append("received    " + (", ".join(f"{k} {v:,}" for k, v in recv.items()) or "-"))
    lines.append("errors      " + (", ".join(f"{k} {v:,}" for k, v in report["errors"].items()) or "none"))
    after_end = report.get("close_codes_after_end") or {}
    lines.append(
        "close codes "
        + (", ".join(f"{k}x{v:,}" for k, v in report["close_codes"].items()) or "none")
        + ("; after quiz_ended " + ", ".join(f"{k}x{v:,}" for k, v in after_end.items()) if after_end else "")
    )
    client = report["client"]
    lines.append(
        f"client      {client['workers']} worker(s) on {client['cores']} core(s): cpu {_fmt(client['cpu_s'], ' s')}"
        f" over {_fmt(client['wall_s'], ' s')} = {client['cpu_util']:.0%}; answer send lag p99 "
        f"{_fmt(client['send_lag']['p99_ms'], ' ms')}"
    )
    for warning in report.get("warnings", []):
        lines.append(f"WARNING     {warning}")
    return "\n".join(lines)
