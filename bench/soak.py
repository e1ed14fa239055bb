"""The soak: one quizd node under a mixed, ever-changing load for minutes, watched from /proc.

Not a speed test: the question is whether the node *holds*.  For ``--soak-minutes`` (10
by default) a few ``quizd-load`` runs at a time each create a quiz, join their players,
play every question (answers at random moments, the host moving on once all are in) and
leave; as soon as one finishes another one starts with a different player count, so
quizzes are created, played and ended, and players join and leave, all the time.  Ended
quizzes linger only ``SOAK_LINGER_S`` so that the node reaches a steady state within the
run instead of holding every quiz of the last ten minutes by design.

Every ``SAMPLE_S`` seconds the node's RSS (VmRSS) and open descriptors (/proc/PID/fd)
are sampled, and once more at idle before the load starts and after it has finished.  The
report gives, for the samples under load after the warm-up (the first 2 minutes, or the
first half of a shorter run), the least-squares slope per minute and the max.  RSS is
called flat when the slope of the *second half* of that window adds up to under 5 % of
its mean over that half: the allocator keeps the high-water mark of the busiest moment
(three 200-player quizzes at once), which shows as one step early on and lifts the slope
of the whole window, while a leak keeps climbing to the end.  The
descriptors under load follow the player count of the quizzes in play (20 to 200 each,
at random), so their slope is mostly that noise: they are called flat when the node is
back within 8 descriptors of where it started once the load has gone, which is what a
leaked socket or file would break.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import CLIENT_CPU, PY, RESULTS, ROOT, log, pinned, rss_kb
from bench.servers import QuizdServer, definition_toml, make_questions

SAMPLE_S = 5.0
WARMUP_S = 120.0
SOAK_LINGER_S = 20
CONCURRENT_RUNS = 3
PLAYERS = (20, 50, 100, 200)
SOAK_QUESTIONS = 4
FLAT_SHARE = 0.05
FLAT_FDS = 8


class SoakServer(QuizdServer):
    """The bench's quizd with short-lived ended quizzes (see the module docstring)."""

    node_id = "soak"
    quizzes_toml = f"linger_s = {SOAK_LINGER_S}\n"


def run_soak(minutes: float, out_stem: Path | None = None) -> dict[str, Any]:
    """Run the soak for ``minutes``, write ``<stem>.json`` and ``.md``; return the results."""
    duration_s = minutes * 60
    rng = random.Random(1)
    with tempfile.TemporaryDirectory(prefix="quizd-soak-") as tmp:
        work = Path(tmp)
        settings = argparse.Namespace(defs_dir=work / "quizzes")
        settings.defs_dir.mkdir()
        questions = make_questions(SOAK_QUESTIONS, 4000, 200)
        (settings.defs_dir / "soak.toml").write_text(
            definition_toml("soak", questions, 4000).replace("reveal_ms = 600000", "reveal_ms = 1000")
        )
        answer_key = ",".join(str(q["answer"]) for q in questions)
        server = SoakServer(work, settings)
        server.start()
        log(f"soak: quizd pid {server.pid}, {minutes:g} min, {CONCURRENT_RUNS} load runs at a time")
        samples: list[dict[str, float]] = []
        runs: list[subprocess.Popen[str]] = []
        finished: list[dict[str, Any]] = []
        t0 = time.monotonic()
        idle_before = _sample(server.pid, 0.0)
        next_sample = t0
        try:
            while time.monotonic() - t0 < duration_s:
                for proc in [p for p in runs if p.poll() is not None]:
                    runs.remove(proc)
                    finished.append(_load_result(proc))
                while len(runs) < CONCURRENT_RUNS:
                    runs.append(_start_load(server, rng, answer_key))
                if time.monotonic() >= next_sample:
                    samples.append(_sample(server.pid, time.monotonic() - t0))
                    next_sample += SAMPLE_S
                time.sleep(0.2)
            for proc in runs:
                proc.wait(timeout=120)
                finished.append(_load_result(proc))
            runs.clear()
            time.sleep(2 * SAMPLE_S)  # let the last closes finish
            idle_after = _sample(server.pid, time.monotonic() - t0)
        finally:
            for proc in runs:
                if proc.poll() is None:
                    proc.kill()
            server.stop()
    results = summarize(samples, finished, duration_s, idle_before, idle_after)
    stem = out_stem or RESULTS / f"{dt.date.today().isoformat()}-soak"
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    stem.with_suffix(".md").write_text(render(results))
    log(f"soak: wrote {stem}.json and .md")
    print(render(results))
    return results


def _start_load(server: QuizdServer, rng: random.Random, answer_key: str) -> subprocess.Popen[str]:
    """One quiz: create it, join N players, play it to the end, leave."""
    players = rng.choice(PLAYERS)
    argv = [
        PY,
        "-m",
        "quizd.loadgen",
        "--ws",
        server.ws_url,
        *server.load_args("soak"),
        "-n",
        str(players),
        "--reaction",
        "uniform:200-2500",
        "--answer-key",
        answer_key,
        "--answer-fraction",
        str(rng.choice((0.6, 0.9, 1.0))),
        "--reveal-wait",
        "0.5",
        "--connect-window",
        "32",
        "--timeout",
        "300",
        "--json",
        "--seed",
        str(rng.randrange(1 << 30)),
        "--name-prefix",
        f"s{rng.randrange(1 << 20)}-",
    ]
    return subprocess.Popen(
        pinned(CLIENT_CPU, argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT
    )


def _load_result(proc: subprocess.Popen[str]) -> dict[str, Any]:
    stdout, stderr = proc.communicate()
    try:
        report = json.loads(stdout)
    except ValueError:
        return {"ok": False, "returncode": proc.returncode, "stderr": stderr[-500:]}
    return {
        "ok": True,
        "joined": report["players"]["joined"],
        "failed": report["players"]["failed"],
        "answers": report["answers"]["sent"],
        "replies": report["answers"]["replies"],
        "errors": report["errors"],
    }


def _sample(pid: int, t: float) -> dict[str, float]:
    return {"t_s": round(t, 1), "rss_kb": rss_kb(pid), "fds": len(os.listdir(f"/proc/{pid}/fd"))}


def slope_per_minute(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, value) points, per minute; None under 3 points."""
    if len(points) < 3:
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return None
    return 60 * sum((t - mean_t) * (v - mean_v) for t, v in points) / var


def summarize(
    samples: list[dict[str, float]],
    runs: list[dict[str, Any]],
    duration_s: float,
    idle_before: dict[str, float],
    idle_after: dict[str, float],
) -> dict[str, Any]:
    """Slopes, maxima and the verdict per series, and what the load did."""
    warmup = min(WARMUP_S, duration_s / 2)
    after = [s for s in samples if s["t_s"] >= warmup]
    late = after[len(after) // 2 :]
    late_min = (late[-1]["t_s"] - late[0]["t_s"]) / 60 if len(late) > 1 else 0.0
    series: dict[str, Any] = {}
    for key in ("rss_kb", "fds"):
        values = [s[key] for s in after]
        slope = slope_per_minute([(s["t_s"], s[key]) for s in after])
        late_slope = slope_per_minute([(s["t_s"], s[key]) for s in late])
        if key == "rss_kb":
            late_mean = sum(s[key] for s in late) / len(late) if late else 0.0
            flat = late_slope is not None and abs(late_slope) * late_min <= FLAT_SHARE * late_mean
        else:
            flat = idle_after[key] - idle_before[key] <= FLAT_FDS
        series[key] = {
            "slope_per_min": None if slope is None else round(slope, 2),
            "slope_per_min_second_half": None if late_slope is None else round(late_slope, 2),
            "max_after_warmup": max(values, default=None),
            "max": max((s[key] for s in samples), default=None),
            "first_after_warmup": values[0] if values else None,
            "last": values[-1] if values else None,
            "idle_before": idle_before[key],
            "idle_after": idle_after[key],
            "flat": flat,
        }
    ok = [r for r in runs if r.get("ok")]
    errors: dict[str, int] = {}
    for r in ok:
        for code, count in r["errors"].items():
            errors[code] = errors.get(code, 0) + count
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "duration_s": round(duration_s),
        "warmup_s": round(warmup),
        "sample_s": SAMPLE_S,
        "concurrent_runs": CONCURRENT_RUNS,
        "linger_s": SOAK_LINGER_S,
        "quizzes_played": len(ok),
        "load_runs_failed": len(runs) - len(ok),
        "players_joined": sum(r["joined"] for r in ok),
        "players_failed": sum(r["failed"] for r in ok),
        "answers": sum(r["answers"] for r in ok),
        "replies": sum(r["replies"] for r in ok),
        "errors": errors,
        "series": series,
        "samples": samples,
    }


def render(r: dict[str, Any]) -> str:
    rss, fds = r["series"]["rss_kb"], r["series"]["fds"]

    def verdict(s: dict[str, Any]) -> str:
        return "flat" if s["flat"] else "NOT flat"

    return "\n".join(
        [
            f"## Soak ({r['duration_s'] / 60:g} min, {r['date']})",
            "",
            f"{r['quizzes_played']} quizzes played ({r['load_runs_failed']} load runs failed), "
            f"{r['players_joined']:,} players joined ({r['players_failed']} failed), {r['answers']:,} answers, "
            f"{r['replies']:,} replies; errors: {r['errors'] or 'none'}.  {r['concurrent_runs']} quizzes at a time, "
            f"ended quizzes linger {r['linger_s']} s; sampled every {r['sample_s']:g} s, "
            f"warm-up {r['warmup_s']} s.",
            "",
            "| series | idle before | under load after warm-up: first | last | max | slope per minute "
            "| its second half | overall max | idle after | verdict |",
            "|---|---|---|---|---|---|---|---|---|---|",
            *(
                f"| {label} | {s['idle_before']} | {s['first_after_warmup']} | {s['last']} | {s['max_after_warmup']} | "
                f"{s['slope_per_min']} | {s['slope_per_min_second_half']} | {s['max']} | {s['idle_after']} | "
                f"{verdict(s)} |"
                for label, s in (("RSS (KiB)", rss), ("descriptors", fds))
            ),
            "",
        ]
    )
