"""The results as a table, notes, target checks and a plot; written to bench/results and the docs."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import CLIENT_CPU, DOCS, LABELS, SERVER_CPU, SERVERS, log
from quizd.loadgen.stats import median


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
    ("kb_per_idle_conn", "RSS per idle connection", "KB", False, lambda b: b["connect_fanout"]["kb_per_idle_conn"]),
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
    lines = [
        f"Cluster: {cl['nodes']} quizd nodes + redis-server ({cl.get('redis_version', '').split(' sha')[0]}, "
        f"no persistence), heartbeat_ms {cfg['heartbeat_ms']}, node_timeout_ms {cfg['node_timeout_ms']}; "
        f"nodes and Redis share core {SERVER_CPU}, clients on core {CLIENT_CPU}; players spread round-robin "
        "over the three nodes. Reported, no target.",
        "",
        "| N | figure | quizd, 1 node | quizd cluster, 3 nodes + Redis | cluster ÷ 1 node |",
        "|---|---|---|---|---|",
    ]
    for n, metrics in cluster_figures(results).items():
        for key, label, unit, _ in CLUSTER_METRICS:
            v = metrics[key]
            r = ratio(v.get("cluster"), v.get("quizd"))
            lines.append(
                f"| {int(n):,} | cluster: {label} ({unit}, ↓ better) | {fmt(v.get('quizd'))} | "
                f"{fmt(v.get('cluster'))} | {'–' if r is None else f'{r:.2f}×'} |"
            )
    tk = cl.get("takeover") or {}
    trials = tk.get("trials") or []
    if trials:

        def sec(v: Any) -> str:
            return "–" if v is None else f"{v:.2f}"

        def closed_1012(t: dict[str, Any]) -> float | None:
            by_gw = t.get("median_closed_s_by_gateway") or {}
            return median([v for gw, v in by_gw.items() if gw != t.get("owner")])

        head = [
            f"takeover after `kill -9` of the owner ({tk['players']} players + a probe)",
            *(f"trial {i + 1}" for i in range(len(trials))),
            "median",
        ]
        lines += ["", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        rows: list[tuple[str, Any, bool]] = [
            (
                "cluster: kill → first resume `joined` on a survivor (probe retrying every 50 ms), s",
                lambda t: t.get("first_resume_s"),
                True,
            ),
            ("cluster: kill → survivors close their players with 1012 (median), s", closed_1012, True),
            (
                "cluster: kill → every player resumed (each honouring `retryAfterMs`), s",
                lambda t: t.get("all_resumed_s"),
                True,
            ),
            ("cluster: kill → median player resumed, s", lambda t: t.get("median_player_resumed_s"), True),
        ]
        for label, get, med in rows:
            vals = [get(t) if "error" not in t else None for t in trials]
            lines.append(
                f"| {label} | " + " | ".join(sec(v) for v in vals) + f" | {sec(median(vals)) if med else ''} |"
            )
        lines.append(
            "| players resumed; acknowledged answers kept | "
            + " | ".join(
                f"{t.get('resumed', '–')}/{tk['players']}; {t.get('acks_kept', '–')}/{t.get('acked_before_kill', '–')}"
                if "error" not in t
                else "failed"
                for t in trials
            )
            + " | |"
        )
        lines.append(
            "| `server_busy` replies to the players' resumes | "
            + " | ".join(str(t.get("server_busy_replies", "–")) for t in trials)
            + " | |"
        )
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
    parts = [
        f"{tot['takeovers']} takeovers, {tot['handovers']} hand-overs",
        f"{tot['lag_over_1s']} event-loop lag samples > 1 s",
    ]
    parts += [f'{c}× "{k}"' for k, c in tot.items() if k not in ("takeovers", "handovers", "lag_over_1s")]
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
            f"{', '.join(sorted(owners)) or '?'}; quizd-load CPU / answer send lag p99: "
            + ", ".join(
                f"{sc} {b[sc]['client_cpu_util']:.0%} / {b[sc]['client_send_lag_p99_ms']:.0f} ms"
                for sc in ("burst_1s", "burst_once")
            )
            + f"; all-at-once answers {b.get('sync_ms')} ms after the question; over the block: "
            + health_summary(b["burst_once"].get("cluster_health", {}))
            + ("; failed first and were run again: " + ", ".join(b["errors"]) if b.get("errors") else "")
        )
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
            targets.append(
                {
                    "target": f"fan-out at {n:,} ≥ 1.2× asyncio websockets",
                    "value": None if r is None else f"{r:.3f}×",
                    "met": r is not None and r >= 1.2,
                }
            )
    for n in (5000, 10000):
        if str(n) not in figs:
            continue
        q, a, nd = (get(n, "burst_once_p99", k) for k in ("quizd", "asyncio", "node"))
        targets.append(
            {
                "target": f"answer-to-result p99, {n:,} answering at once ≤ asyncio websockets",
                "value": f"{fmt(q)} vs {fmt(a)} ms",
                "met": q is not None and a is not None and q <= a,
            }
        )
        targets.append(
            {
                "target": f"(stretch) answer-to-result p99, {n:,} answering at once within 2× Node ws",
                "value": f"{fmt(q)} vs {fmt(nd)} ms",
                "met": q is not None and nd is not None and q <= 2 * nd,
            }
        )
    if "5000" in figs:
        q, a = get(5000, "connect_s", "quizd"), get(5000, "connect_s", "asyncio")
        targets.append(
            {
                "target": "time to connect and join 5,000 ≤ asyncio websockets",
                "value": f"{fmt(q)} vs {fmt(a)} s",
                "met": q is not None and a is not None and q <= a,
            }
        )
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
        targets.append(
            {
                "target": "10,000 players play a whole quiz, no slow-consumer disconnect",
                "value": f"slow-consumer disconnects {slow}, close codes {codes or 'none'}",
                "met": joined_all and not slow and not codes,
            }
        )
    for n in figs:
        q, a = get(int(n), "kb_per_idle_conn", "quizd"), get(int(n), "kb_per_idle_conn", "asyncio")
        r = ratio(q, a)
        targets.append(
            {
                "target": f"RSS per idle connection at {int(n):,} ≤ 0.8× asyncio websockets",
                "value": None if r is None else f"{r:.3f}×",
                "met": r is not None and r <= 0.8,
            }
        )
    return targets


# ---------------------------------------------------------------------- kinds and storage rows
KINDS_TARGET = STORAGE_TARGET = 1.1  # at most this times the reference's p99
DB_LABELS = {"none": "none", "sqlite": "SQLite", "postgres": "PostgreSQL", "control": "none again (control)"}


def rows_markdown(results: dict[str, Any]) -> str:
    """The kinds and storage rows: one table, each row with its in-run reference and ratio."""
    kinds, storage = results.get("kinds") or {}, results.get("storage") or {}
    lines = ["| N | figure | value | reference (same run) | ratio |", "|---|---|---|---|---|"]

    def row(n: Any, label: str, value: float | None, ref: str, r: float | None) -> None:
        lines.append(f"| {int(n):,} | {label} | {fmt(value)} | {ref} | {'–' if r is None else f'{r:.2f}×'} |")

    if "players" in kinds:
        n = kinds["players"]
        for p in ("p50", "p99"):
            mixed, single = kinds.get(f"mixed_{p}_ms"), kinds.get(f"single_{p}_ms")
            row(
                n,
                f"kinds: mixed quiz (every kind), answers within 1 s, {p} (ms, ↓ better)",
                mixed,
                f"all-`single` quiz {fmt(single)} ms",
                ratio(mixed, single),
            )
    if "players" in storage:
        n = storage["players"]
        backends = storage.get("backends") or {}
        base = (backends.get("none") or {}).get("burst_1s", {}).get("p99_ms")
        for name, b in backends.items():
            p99 = (b.get("burst_1s") or {}).get("p99_ms")
            row(
                n,
                f"storage {DB_LABELS[name]}: burst within 1 s, p99 (ms, ↓ better)"
                + ("; its ratio is the run's noise floor, not a target" if name == "control" else ""),
                p99,
                f"storage none {fmt(base)} ms",
                ratio(p99, base) if name != "none" else None,
            )
        for name, b in backends.items():
            if "writer" in b:
                w = b["writer"]
                row(
                    w["answers"],
                    f"storage {DB_LABELS[name]}: batch writer, answers written/s (↑ better; "
                    f"a timed drain of {w['answers']:,})",
                    w["answers_per_s"],
                    "–",
                    None,
                )
        for name, b in backends.items():
            if "end_write" in b:
                e = b["end_write"]
                row(
                    e["players"],
                    f"storage {DB_LABELS[name]}: end-of-quiz write, host's `end` → results in the "
                    f"database (ms, ↓ better; {e['player_rows']:,} player rows)",
                    e["end_to_written_ms"],
                    f"`quiz_ended` at the host {fmt(e['end_to_quiz_ended_ms'])} ms",
                    None,
                )
    if len(lines) == 2:
        reasons = [x.get("skipped", "failed") for x in (kinds, storage) if x]
        return "Kinds and storage rows: not run" + (f" ({'; '.join(reasons)})" if reasons else "") + "."
    errors = {
        **{f"kinds {k}": v for k, v in (kinds.get("errors") or {}).items()},
        **{f"storage {k}": v for k, v in (storage.get("errors") or {}).items()},
    }
    if errors:
        lines += ["", "Failed: " + ", ".join(errors) + " (the errors are in the results JSON)."]
    return "\n".join(lines)


def rows_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The kinds and storage targets, from the ratios computed in-run."""
    targets = []
    kinds, storage = results.get("kinds") or {}, results.get("storage") or {}
    if "players" in kinds:
        r = kinds.get("p99_ratio")
        targets.append(
            {
                "target": f"mixed quiz p99 at {kinds['players']:,} ≤ {KINDS_TARGET}× all-single",
                "value": None if r is None else f"{r:.3f}×",
                "met": r is not None and r <= KINDS_TARGET,
            }
        )
    if "players" in storage:
        for name, r in (storage.get("p99_ratio") or {}).items():
            targets.append(
                {
                    "target": f"storage {DB_LABELS[name]}: burst p99 at {storage['players']:,} "
                    f"≤ {STORAGE_TARGET}× storage none",
                    "value": None if r is None else f"{r:.3f}×",
                    "met": r is not None and r <= STORAGE_TARGET,
                }
            )
    return targets


def saturation_notes(results: dict[str, Any]) -> list[str]:
    notes = []
    for n, blocks in results["runs"].items():
        for kind, b in blocks.items():
            if any(k not in b for k in ("connect_fanout", "burst_1s", "burst_once", "steady")):
                notes.append(f"N={int(n):,} {LABELS[kind]}: scenarios failed: {', '.join(b.get('errors', {})) or '?'}")
                continue
            cf = b["connect_fanout"]
            busy_all = [
                r["receiver_busy"]
                for k in ("fanout_question", "fanout_leaderboard")
                for r in cf[k]["rounds"]
                if r["receiver_busy"] is not None
            ]
            busy = median(busy_all) or 0
            busy_max = max(busy_all, default=0)
            cores = b.get("core_busy", {})
            notes.append(
                f"N={int(n):,} {LABELS[kind]}: core 0 busy {cores.get('cpu0', 0):.0%} "
                f"(the server's own share {b.get('server_core_share', 0):.0%}), core 1 busy "
                f"{cores.get('cpu1', 0):.0%}; C receiver busy {busy:.0%} of its core in the median round "
                f"({busy_max:.0%} in the busiest; rounds of a few ms are coarse); "
                f"server CPU {cf['server_cpu_during_rounds_s']:.2f} s "
                f"over {cf['rounds_wall_s']:.2f} s of rounds; "
                "quizd-load CPU / answer send lag p99: "
                + ", ".join(
                    f"{sc} {b[sc]['client_cpu_util']:.0%} / {b[sc]['client_send_lag_p99_ms']:.0f} ms"
                    for sc in ("burst_1s", "burst_once", "steady")
                )
                + (
                    "; quizd-load SATURATED in "
                    + ", ".join(sc for sc in ("burst_1s", "burst_once", "steady") if b[sc]["client_saturated"])
                    if any(b[sc]["client_saturated"] for sc in ("burst_1s", "burst_once", "steady"))
                    else ""
                )
                + stamps_note(b)
            )
    return notes + repeats_notes(results) + rows_notes(results) + cluster_notes(results)


def repeats_notes(results: dict[str, Any]) -> list[str]:
    """Each repeat's figure behind a median (the servers took turns), so that the spread
    says how far a ratio of medians can be read; empty for results without repeats."""
    notes = []
    for n, blocks in results["runs"].items():
        repeats = {b.get("repeats") for b in blocks.values()} - {None}
        if not repeats or max(repeats) < 2:
            continue
        parts = []
        for what, get in (
            ("burst all at once p99 (ms)", lambda b: (b.get("burst_once") or {}).get("p99_ms_reps")),
            ("burst within 1 s p99 (ms)", lambda b: (b.get("burst_1s") or {}).get("p99_ms_reps")),
            ("time to connect N (s)", lambda b: (b.get("connect_fanout") or {}).get("connect_s_reps")),
        ):
            per = [(LABELS[k], get(b)) for k, b in blocks.items() if get(b)]
            if per:
                shown = [(k, ", ".join("-" if v is None else f"{v:g}" for v in vs)) for k, vs in per]
                parts.append(what + ": " + "; ".join(f"{k} {vs}" for k, vs in shown))
        notes.append(
            f"N={int(n):,}: {max(repeats)} repeats per server, the servers taking turns (the others stopped); "
            "each figure above is their median. Every repeat: " + "; ".join(parts)
        )
    return notes


def stamps_note(block: dict[str, Any]) -> str:
    """Which receive times the block's latencies used: the kernel's stamp of each reply
    (``quizd.loadgen.stamps``), or for some the worker's read time; empty for results
    written before the load generator recorded it."""
    scenarios = [sc for sc in ("burst_1s", "burst_once", "steady") if block[sc].get("latency_stamp")]
    if not scenarios:
        return ""
    fallbacks = [
        f"{sc} {block[sc]['latency_stamps'].get('userspace', 0):,}"
        for sc in scenarios
        if block[sc]["latency_stamp"] != "kernel"
    ]
    followed = ", ".join(f"{sc} {block[sc]['latency_stamps'].get('followed', 0):,}" for sc in scenarios)
    at_read = ", ".join(f"{sc} {block[sc]['at_read']['p99_ms']:.0f}" for sc in scenarios)
    waits = ", ".join(
        f"{sc} {block[sc]['read_delay']['p99_ms'] or 0:.1f} / {block[sc]['read_delay']['max_ms'] or 0:.1f}"
        for sc in scenarios
    )
    return (
        f"; reply receive times: kernel stamps (a later frame's, read with the reply: {followed}); "
        f"p99 if timed when read, as before kernel stamps: {at_read} ms; "
        f"a reply's wait to be read after its arrival, p99 / max: {waits} ms"
        + ("; without a kernel stamp, timed when read: " + ", ".join(fallbacks) if fallbacks else "")
    )


def rows_notes(results: dict[str, Any]) -> list[str]:
    notes = []
    kinds = results.get("kinds") or {}
    if "players" in kinds:
        runs = [*kinds.get("single", []), *kinds.get("mixed", [])]
        # Results from before bench/kinds.py gave each run its own node have no "order".
        how = (
            "each on a fresh node, in the order " + ", ".join(kinds["order"])
            if kinds.get("order")
            else "alternating single/mixed on one node"
        )
        notes.append(
            f"kinds N={kinds['players']:,}: {len(runs)} quizd-load runs {how}, "
            "p50/p99 the median of each quiz's runs; quizd-load CPU / answer send lag p99: "
            + ", ".join(f"{r['client_cpu_util']:.0%} / {r['client_send_lag_p99_ms']:.0f} ms" for r in runs)
            + ("; quizd-load SATURATED in some runs" if any(r["client_saturated"] for r in runs) else "")
            # Each run's p99, so that the spread says how far the ratio of the medians can be read.
            + "; p99 of each run (ms): "
            + "; ".join(
                f"{quiz} " + ", ".join(f"{r['p99_ms']:.0f}" for r in kinds.get(quiz, []))
                for quiz in ("single", "mixed")
            )
        )
    storage = results.get("storage") or {}
    for name, b in (storage.get("backends") or {}).items():
        burst = b.get("burst_1s")
        if burst:
            notes.append(
                f"storage {DB_LABELS[name]} N={storage['players']:,}: quizd-load CPU / answer send lag "
                f"p99 {burst['client_cpu_util']:.0%} / {burst['client_send_lag_p99_ms']:.0f} ms"
                + ("; quizd-load SATURATED" if burst["client_saturated"] else "")
            )
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
        ax.plot(
            ns,
            [figs[str(n)]["steady_p99"].get(kind) for n in ns],
            "o-",
            color=colors[kind],
            label=f"{LABELS[kind]} steady p99",
        )
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
    fig.suptitle(
        f"quizd benchmark {results['date']} ({'quick' if results['quick'] else 'full'}; "
        "server on core 0, client on core 1)"
    )
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(out, dpi=110)
    plt.close(fig)


def update_docs(
    results: dict[str, Any], table: str, png: Path, targets_md: str, cluster_md: str, rows_md: str = ""
) -> None:
    start, end = "<!-- bench:latest:start -->", "<!-- bench:latest:end -->"
    text = DOCS.read_text()
    if start not in text or end not in text:
        log("docs/benchmarks.md has no bench:latest markers; not updated")
        return
    rel = os.path.relpath(png, DOCS.parent)
    body = (
        f"{start}\nRun: {results['date']}, `scripts/bench{' --quick' if results['quick'] else ''}` "
        f"({results['duration_s']:.0f} s), {results['machine']}.\n\n{table}\n\n{rows_md}\n\n{targets_md}\n\n"
        f"{cluster_md}\n\n"
        f"![latency plot]({rel})\n\nSaturation notes:\n\n"
        + "\n".join(f"- {x}" for x in results.get("saturation", []))
        + f"\n{end}"
    )
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


def profiles_markdown(results: dict[str, Any], top: int = 8) -> str:
    """The top frames of each profiled burst (``--profile``), by self share of the samples."""
    lines: list[str] = []
    for n, blocks in results.get("runs", {}).items():
        for name, profile in blocks.get("quizd", {}).get("profiles", {}).items():
            if not profile.get("samples"):
                continue
            lines.append(
                f"**quizd N={int(n):,} {name}** ({profile['samples']} samples): "
                + "; ".join(f"`{frame}` {share:.1%}" for frame, share in profile["self"][:top])
            )
    if not lines:
        return ""
    return "Profiles (py-spy, top frames by self share; `--profile`):\n\n" + "\n\n".join(lines)


def write_outputs(results: dict[str, Any], stem: Path, docs: bool) -> None:
    results["figures"] = figures(results)
    results["targets"] = (evaluate_targets(results) if "quizd" in results["servers"] else []) + rows_targets(results)
    results["saturation"] = saturation_notes(results)
    table = markdown_table(results)
    rows_md = rows_markdown(results)
    targets_md = targets_markdown(results["targets"])
    cluster_md = cluster_markdown(results)
    profiles_md = profiles_markdown(results)
    json_path, md_path, png_path = (stem.with_suffix(".json"), stem.with_suffix(".md"), stem.with_suffix(".png"))
    json_path.write_text(json.dumps(results, indent=1))
    md_path.write_text(
        f"# Benchmark {results['date']}{' (quick)' if results['quick'] else ''}\n\n{table}\n\n"
        f"{rows_md}\n\n{targets_md}\n\n{cluster_md}\n\n"
        + "\n".join(f"- {x}" for x in results["saturation"])
        + "\n"
        + (f"\n{profiles_md}\n" if profiles_md else "")
    )
    if results["runs"]:
        try:
            plot(results, png_path)
        except ImportError:
            log("matplotlib is not installed: no plot (scripts/bench installs it)")
    if docs:
        update_docs(results, table, png_path, targets_md, cluster_md, rows_md)
    print(table)
    print()
    print(rows_md)
    print()
    print(targets_md)
    print()
    print(cluster_md)
    print()
    for note in results["saturation"]:
        print(f"- {note}")
    if profiles_md:
        print()
        print(profiles_md)
    wrote = ", ".join(str(p) for p in (json_path, md_path, png_path) if p.exists())
    print(f"\nwrote {wrote} in {results['duration_s']:.0f} s")


def replot(json_path: Path, docs: bool) -> int:
    results = json.loads(json_path.read_text())
    write_outputs(results, json_path.with_suffix(""), docs)
    return 0
