"""One ``quizd-load`` run: create the quiz, host it, spread the players over workers, merge.

``Run`` is the parent process of a run: it creates (or takes) the quiz, joins as its
``Host``, starts the worker processes (``quizd.loadgen.worker``), drives the quiz
question by question from one epoll loop over the host socket and the workers' pipes,
and merges what the workers measured into the report (``quizd.loadgen.stats``).
The command line that builds its arguments is ``quizd.loadgen.cli``.
"""

from __future__ import annotations

import argparse
import ipaddress
import multiprocessing
import os
import random
import resource
import select
import socket
import string
import sys
import time
from array import array
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
from wsproto.events import AcceptConnection, CloseConnection, RejectConnection

from quizd.client import ControlClient
from quizd.loadgen.answers import AnswersError, Echo, key_from_choices, load_answers
from quizd.loadgen.players import Conn, Reaction, feed, parse_ws_url
from quizd.loadgen.stats import (
    LATENCY_CLOCK,
    client_saturation,
    fanout_figures,
    latency_stamp,
    median,
    merge_counters,
    merge_kind_counts,
    summarize_ns,
)
from quizd.loadgen.worker import worker_main

#: The workers' reply stamp counts (quizd.loadgen.worker): kernel stamps, userspace
#: fall-backs, and kernel stamps that were a later frame's in the same read.
STAMP_COUNTS = ("kernel", "userspace", "followed")
MAX_PLAYERS = 50_000
MAX_WORKERS = 32
QUESTION_GRACE_S = 3.0
CLOSE_WAIT_S = 10.0


class LoadError(Exception):
    """A run that cannot start or went wrong as a whole (exit 2)."""


def check_loopback(urls: list[str], allow_remote: bool) -> None:
    if allow_remote:
        return
    for url in urls:
        host = urlsplit(url).hostname or ""
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except socket.gaierror as exc:
            raise LoadError(f"cannot resolve {host!r} in {url}: {exc}") from None
        for info in infos:
            addr = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            if not addr.is_loopback:
                raise LoadError(
                    f"{url} resolves to {addr}, which is not a loopback address; "
                    "the load generator only targets this machine unless --allow-remote is given"
                )


# ---------------------------------------------------------------------- the host
class Host:
    """The quiz host: one blocking-connected WebSocket, then read in the parent's epoll loop."""

    def __init__(self, url: str, quiz_id: str, host_token: str, timeout: float = 10.0) -> None:
        host, port, target = parse_ws_url(url)
        self.conn = Conn(-1, "host", (host, port), f"{host}:{port}", target)
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn.sock = sock
        self.conn.fd = sock.fileno()
        sock.sendall(self.conn.handshake_bytes())
        self.messages: list[tuple[int, dict[str, Any]]] = []
        self.close_code: int | None = None
        self.joined: dict[str, Any] | None = None
        deadline = time.monotonic() + timeout
        accepted = False
        while not accepted:
            data = sock.recv(65536)
            if not data:
                raise LoadError(f"{url}: connection closed during the WebSocket handshake")
            for event in self._events(data):
                if isinstance(event, AcceptConnection):
                    accepted = True
                elif isinstance(event, RejectConnection):
                    raise LoadError(f"{url}: WebSocket upgrade refused with HTTP {event.status_code}")
            if time.monotonic() > deadline:
                raise LoadError(f"{url}: WebSocket handshake timed out")
        self.send({"type": "join", "payload": {"quizId": quiz_id, "hostToken": host_token}, "id": "host-join"})
        while self.joined is None:
            self.pump(blocking=True)
            for _, msg in self.messages:
                if msg["type"] == "joined":
                    self.joined = msg["payload"]
                elif msg["type"] == "error" and msg.get("re") == "host-join":
                    raise LoadError(f"host join refused: {msg['payload']}")
            if self.close_code is not None:
                raise LoadError(f"host connection closed with {self.close_code} while joining")
            if time.monotonic() > deadline:
                raise LoadError("host join timed out")
        sock.setblocking(False)

    def _events(self, data: bytes | None) -> list[Any]:
        events: list[Any] = []
        feed(self.conn, data, lambda _c, text: self._on_text(text), lambda _c, ev: events.append(ev))
        for event in events:
            if isinstance(event, CloseConnection):
                self.close_code = event.code
        return events

    def _on_text(self, text: str) -> None:
        self.messages.append((time.monotonic_ns(), orjson.loads(text)))

    def pump(self, blocking: bool = False) -> None:
        try:
            data = self.conn.sock.recv(65536)  # type: ignore[union-attr]
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            if self.close_code is None:
                self.close_code = -1
            return
        self._events(data)

    def send(self, obj: dict[str, Any]) -> int:
        """Send a command; returns the monotonic time just before the write."""
        frame = self.conn.text_frame(obj)
        t = time.monotonic_ns()
        if not self.conn.send(frame):
            # A host command is tiny; if the socket is full, finish it blocking.
            self.conn.sock.setblocking(True)  # type: ignore[union-attr]
            self.conn.sock.sendall(self.conn.out)  # type: ignore[union-attr]
            self.conn.out = b""
            self.conn.sock.setblocking(False)  # type: ignore[union-attr]
        return t

    def close(self) -> None:
        try:
            self.conn.send(self.conn.ws.send(CloseConnection(code=1000)))
        except Exception:  # best effort
            pass
        self.conn.close()


# ---------------------------------------------------------------------- the run
class Run:
    # Set when the host's quiz_ended arrives (None until then); declared here because the
    # host's reader assigns it before __init__'s own block reads it back.
    quiz_ended_ns: int | None

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.urls = args.ws or ["ws://127.0.0.1:8765/ws"]
        self.deadline = time.monotonic() + args.timeout
        self.deadline_ns = time.monotonic_ns() + int(args.timeout * 1e9)
        self.warnings: list[str] = []
        self.errors: Counter[str] = Counter()

    # ------------------------------------------------------------------ set-up
    def create_quiz(self) -> tuple[str, str, int | None]:
        a = self.args
        if a.quiz_id:
            if not a.host_token:
                raise LoadError("--quiz-id needs --host-token")
            return a.quiz_id, a.host_token, None
        control = ControlClient(a.http, a.token)
        status, definitions = control.request_sync("GET", "/api/definitions")
        if status != 200:
            raise LoadError(f"GET /api/definitions answered {status}: {definitions}")
        if not definitions:
            raise LoadError("the node has no quiz definitions")
        chosen = definitions[0]
        if a.definition:
            matches = [d for d in definitions if d["id"] == a.definition]
            if not matches:
                raise LoadError(
                    f"no definition {a.definition!r}; the node has " + ", ".join(d["id"] for d in definitions)
                )
            chosen = matches[0]
        status, body = control.request_sync("POST", "/api/quizzes", {"definitionId": chosen["id"]})
        if status != 201:
            raise LoadError(f"POST /api/quizzes answered {status}: {body}")
        return body["quizId"], body["hostToken"], chosen.get("questionCount")

    def spawn_workers(self, quiz_id: str) -> None:
        a = self.args
        prefix = (
            a.name_prefix
            if a.name_prefix is not None
            else ("L" + "".join(random.choice(string.ascii_lowercase) for _ in range(3)) + "-")
        )
        slices: list[list[tuple[int, str, str]]] = [[] for _ in range(a.workers)]
        for i in range(a.players):
            slices[i % a.workers].append((i, f"{prefix}{i}", self.urls[i % len(self.urls)]))
        ctx = multiprocessing.get_context("spawn")
        self.pipes: list[Any] = []
        self.host_closed_noted = False
        self.procs: list[Any] = []
        answers = self.answer_key()
        for wid, players in enumerate(slices):
            parent_end, child_end = ctx.Pipe(duplex=True)
            cfg = {
                "wid": wid,
                "players": players,
                "total_players": a.players,
                "seed": a.seed * 1000 + wid,
                "reaction": a.reaction,
                "correct": a.correct,
                "answers": answers,
                "answer_fraction": a.answer_fraction,
                "connect_window": a.connect_window,
                "connect_rate": (a.connect_rate / a.workers) if a.connect_rate else None,
                "deadline_ns": self.deadline_ns,
                "join": {"type": "join", "payload": {"quizId": quiz_id}},
            }
            proc = ctx.Process(target=worker_main, args=(cfg, child_end), daemon=True, name=f"quizd-load-{wid}")
            proc.start()
            child_end.close()
            self.pipes.append(parent_end)
            self.procs.append(proc)

    def answer_key(self) -> dict[int, Echo | None]:
        """The correct answers the players aim at: ``--answers FILE`` or ``--answer-key``."""
        a = self.args
        if a.answers and a.answer_key:
            raise LoadError("give --answers or --answer-key, not both")
        if a.answers:
            try:
                return load_answers(Path(a.answers))
            except AnswersError as exc:
                raise LoadError(f"--answers {exc}") from None
        return key_from_choices([int(x) for x in a.answer_key.split(",")]) if a.answer_key else {}

    # ------------------------------------------------------------------ the loop
    def _wait(self, until: Any, timeout: float, what: str) -> bool:
        """Serve the host socket and the worker pipes until ``until()`` or the timeout."""
        end = min(time.monotonic() + timeout, self.deadline)
        while not until():
            left = end - time.monotonic()
            if left <= 0:
                if time.monotonic() >= self.deadline:
                    self.warnings.append(f"run --timeout reached while waiting for {what}")
                    raise TimeoutError(what)
                return False
            for fd, _ in self.ep.poll(min(left, 0.1)):
                if fd == self.host.conn.fd:
                    self.host.pump()
                    self._host_messages()
                else:
                    self._pipe_messages(self.pipe_by_fd[fd])
            if self.host.close_code is not None and not self.host_closed_noted:
                self.host_closed_noted = True
                self.warnings.append(f"the host connection was closed ({self.host.close_code})")
        return True

    def _host_messages(self) -> None:
        for t, msg in self.host.messages:
            mtype = msg["type"]
            self.host_received[mtype] += 1
            payload = msg.get("payload") or {}
            if mtype == "question":
                index = payload.get("index", 0)
                self.host_question[index] = t
                self.time_limit_ms[index] = payload.get("timeLimitMs")
                if index not in self.trigger_sent:
                    # Opened without our trigger (countdown, auto-advance): tell sync players now.
                    self.trigger_sent[index] = None
                    self._broadcast(("trigger", index, t))
            elif mtype == "quiz_starting" and payload.get("countdownMs"):
                # The first question opens after the countdown: that is its trigger.
                t0 = t + int(payload["countdownMs"]) * 1_000_000
                self.trigger_sent[0] = t0
                self._broadcast(("trigger", 0, t0))
            elif mtype == "question_closed":
                self.closed_seen.add(payload.get("questionId"))
                self.closed_count += 1
            elif mtype == "quiz_ended":
                self.quiz_ended = True
                self.quiz_ended_ns = t
            elif mtype == "error":
                self.errors[f"host: {payload.get('code')}"] += 1
        self.host.messages.clear()

    def _pipe_messages(self, pipe: Any) -> None:
        while pipe.poll():
            try:
                msg = pipe.recv()
            except EOFError:
                self.ep.unregister(pipe.fileno())
                self.dead_pipes += 1
                return
            kind, wid = msg[0], msg[1]
            if kind == "ready":
                self.ready[wid] = (msg[2], msg[3])
            elif kind == "qdone":
                self.qdone.setdefault(msg[2], set()).add(wid)
            elif kind == "ended":
                self.ended.add(wid)
            elif kind == "result":
                self.results[wid] = msg[2]
            elif kind == "crashed":
                self.results[wid] = None
                self.warnings.append(f"worker {wid} crashed: {msg[2].strip().splitlines()[-1]}")
                print(msg[2], file=sys.stderr)

    def _broadcast(self, msg: tuple[Any, ...]) -> None:
        for pipe in self.pipes:
            try:
                pipe.send(msg)
            except (BrokenPipeError, OSError):
                pass

    # ------------------------------------------------------------------ driving the quiz
    def run(self) -> dict[str, Any]:
        a = self.args
        if not 1 <= a.players <= MAX_PLAYERS:
            raise LoadError(f"--players must be within 1..{MAX_PLAYERS}")
        if not 1 <= a.workers <= MAX_WORKERS:
            raise LoadError(f"--workers must be within 1..{MAX_WORKERS}")
        a.workers = min(a.workers, a.players)
        Reaction(a.reaction)  # validate early
        if not 0 <= a.correct <= 1:
            raise LoadError("--correct-share must be within 0..1")
        self.answer_key()  # validate early, before a quiz is created
        check_loopback(self.urls + ([] if a.quiz_id else [a.http]), a.allow_remote)
        _raise_nofile(a.players // a.workers + 512)
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        t_wall0 = time.monotonic_ns()
        quiz_id, host_token, question_count = self.create_quiz()
        self.quiz_id = quiz_id
        self.host = Host(self.urls[0], quiz_id, host_token)
        quiz_info = (self.host.joined or {}).get("quiz") or {}
        question_count = quiz_info.get("questionCount", question_count) or 3
        questions = min(a.questions, question_count) if a.questions else question_count
        self.ep = select.epoll()
        self.ep.register(self.host.conn.fd, select.EPOLLIN)
        self.host_received: Counter[str] = Counter()
        self.host_question: dict[int, int] = {}
        self.time_limit_ms: dict[int, int | None] = {}
        self.trigger_sent: dict[int, int | None] = {}
        self.closed_seen: set[Any] = set()
        self.closed_count = 0
        self.quiz_ended = False
        self.end_sent_ns: int | None = None
        self.quiz_ended_ns = None
        self.ready: dict[int, tuple[int, int]] = {}
        self.qdone: dict[int, set[int]] = {}
        self.ended: set[int] = set()
        self.results: dict[int, Any] = {}
        self.dead_pipes = 0
        self.host_closed_noted = False
        self.spawn_workers(quiz_id)
        self.pipe_by_fd: dict[int, Any] = {p.fileno(): p for p in self.pipes}
        for fd in self.pipe_by_fd:
            self.ep.register(fd, select.EPOLLIN)
        played = 0
        try:
            self._wait(lambda: len(self.ready) == a.workers or self.dead_pipes, a.timeout, "players to join")
            joined = sum(j for j, _ in self.ready.values())
            if joined:
                played = self._play(questions)
        except TimeoutError:
            pass
        finally:
            self._broadcast(("finish",))
            try:
                self._wait(
                    lambda: len(self.results) == a.workers or self.dead_pipes >= a.workers, 60.0, "worker results"
                )
            except TimeoutError:
                pass
            self.host.close()
            for proc in self.procs:
                proc.join(timeout=5)
                if proc.is_alive():
                    proc.kill()
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        parent_cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        wall = (time.monotonic_ns() - t_wall0) / 1e9
        return self.report(questions, played, parent_cpu, wall)

    def _play(self, questions: int) -> int:
        a = self.args
        played = 0
        for q in range(questions):
            if q == 0 and 0 not in self.host_question:
                t0 = self.host.send({"type": "start", "payload": {}, "id": "start"})
                self.trigger_sent[0] = t0
                self._broadcast(("trigger", 0, t0))
            if not self._wait(lambda q=q: q in self.host_question, 30.0, f"question {q}"):
                self.warnings.append(f"question {q} never arrived at the host")
                break
            played += 1
            limit = (self.time_limit_ms.get(q) or 20000) / 1000
            if a.advance == "answered":
                done = self._wait(
                    lambda q=q: len(self.qdone.get(q, ())) == a.workers,
                    limit + QUESTION_GRACE_S,
                    f"answers to question {q}",
                )
                if not done:
                    self.warnings.append(f"question {q}: not every answer had its reply within the time limit")
                if self.closed_count <= q:
                    self.host.send({"type": "next", "payload": {"questionIndex": q}, "id": f"close-{q}"})
            if not self._wait(lambda q=q: self.closed_count > q, limit + CLOSE_WAIT_S, f"question {q} to close"):
                self.warnings.append(f"question {q} did not close")
                break
            if a.reveal_wait:
                self._wait(lambda: False, a.reveal_wait, "reveal")
            if q + 1 < questions and q + 1 not in self.host_question:
                t0 = self.host.send({"type": "next", "payload": {"questionIndex": q}, "id": f"open-{q + 1}"})
                if q + 1 not in self.trigger_sent:
                    self.trigger_sent[q + 1] = t0
                    self._broadcast(("trigger", q + 1, t0))
        if not self.quiz_ended:
            self.end_sent_ns = self.host.send({"type": "end", "payload": {}, "id": "end"})
        self._wait(lambda: self.quiz_ended and len(self.ended) == a.workers, CLOSE_WAIT_S, "quiz_ended")
        return played

    # ------------------------------------------------------------------ the report
    def report(self, questions: int, played: int, parent_cpu: float, wall: float) -> dict[str, Any]:
        a = self.args
        results = [r for r in self.results.values() if r]
        if len(results) < a.workers:
            self.warnings.append(f"only {len(results)} of {a.workers} workers reported")

        def cat(key: str) -> array[int]:
            out = array("q")
            for r in results:
                out.frombytes(r[key])
            return out

        joined = sum(r["joined"] for r in results)
        failed = a.players - joined
        starts = [r["t_connect_start"] for r in results]
        ends = [r["t_connect_end"] for r in results if r["t_connect_end"]]
        duration = (max(ends) - min(starts)) / 1e9 if ends and starts and len(ends) == len(results) else None
        fan_questions = []
        for q in range(played):
            receipts = array("q")
            for r in results:
                if q in r["receipts"]:
                    receipts.frombytes(r["receipts"][q])
            fig = fanout_figures(self.trigger_sent.get(q), receipts)
            fig["index"] = q
            fan_questions.append(fig)
        answer_latency = cat("answer_latency")
        send_lag = summarize_ns(cat("send_lag"))
        reply_types = merge_counters(r["reply_types"] for r in results)
        cpu_workers = sum(r["cpu_s"] for r in results)
        cores = len(os.sched_getaffinity(0))
        usable = min(cores, a.workers)
        util, sat_warnings = client_saturation(
            cpu_workers, max((r["wall_s"] for r in results), default=wall), usable, send_lag["p99_ms"]
        )
        per_worker = [round(r["cpu_s"] / r["wall_s"], 3) if r["wall_s"] else None for r in results]
        for r in results:
            if r["wall_s"] and r["cpu_s"] / r["wall_s"] >= 0.85 and not sat_warnings:
                sat_warnings.append(f"worker {r['wid']} was busy {r['cpu_s'] / r['wall_s']:.0%} of the run")
        warnings = self.warnings + sat_warnings
        if failed:
            reasons = merge_counters(r["fail_reasons"] for r in results)
            warnings.append(f"{failed} player(s) did not join: " + ", ".join(f"{k} x{v}" for k, v in reasons.items()))
        errors = merge_counters([*(r["errors"] for r in results), self.errors])
        stamps = {name: sum(r.get("stamps", {}).get(name, 0) for r in results) for name in STAMP_COUNTS}
        if stamps["userspace"]:
            warnings.append(
                f"{stamps['userspace']:,} of {stamps['kernel'] + stamps['userspace']:,} replies came without a kernel "
                "receive stamp: their latency runs to when the worker read them"
            )
        return {
            "tool": "quizd-load",
            "quiz_id": getattr(self, "quiz_id", None),
            "targets": self.urls,
            "config": {
                "players": a.players,
                "workers": a.workers,
                "reaction": a.reaction,
                "correct": a.correct,
                "answer_key": a.answer_key,
                "answer_fraction": a.answer_fraction,
                "advance": a.advance,
                "questions": questions,
                "connect_window": a.connect_window,
                "connect_rate": a.connect_rate,
                "seed": a.seed,
                "answers": a.answers,
            },
            "players": {"requested": a.players, "joined": joined, "failed": failed},
            "connect": {
                "duration_s": round(duration, 3) if duration else None,
                "rate_per_s": round(joined / duration, 1) if duration else None,
                "join_latency": summarize_ns(cat("join_latency")),
            },
            "fanout": {
                "questions": fan_questions,
                "median_msgs_per_s": median([f["msgs_per_s"] for f in fan_questions]),
                "max_skew_ms": max((f["skew_ms"] for f in fan_questions if f["skew_ms"] is not None), default=None),
            },
            "answers": {
                "sent": sum(r["sent"] for r in results),
                "replies": sum(r["replies"] for r in results),
                "reply_type": "answer_result"
                if reply_types.get("answer_result", 0) >= reply_types.get("answer_accepted", 0)
                else "answer_accepted",
                "reply_types": reply_types,
                "by_kind": merge_kind_counts(r.get("by_kind", {}) for r in results),
                "correct": sum(r["correct"] for r in results),
                "late": sum(r["late"] for r in results),
                "without_reply": sum(r["unanswered_at_end"] for r in results),
                "latency": summarize_ns(answer_latency),
                "latency_by_kind": self.latency_by_kind(results),
                # Which receive times the latencies used: "kernel", "userspace" or "mixed",
                # the clock and both ends (LATENCY_CLOCK), and how many replies of each.
                "latency_stamp": latency_stamp(stamps["kernel"], stamps["userspace"]),
                "latency_clock": LATENCY_CLOCK,
                "latency_stamps": stamps,
                # The same replies timed when the worker read them (the worker's own backlog
                # included), for comparison: before kernel stamps this was "latency".
                "latency_at_read": summarize_ns(cat("latency_at_read")),
                # Each kernel-stamped reply's wait in its socket for the worker to read it.
                "read_delay": summarize_ns(cat("read_delay")),
            },
            "leaderboard_frames": sum(r["leaderboard"] for r in results),
            "received": merge_counters(r["received"] for r in results),
            "host_received": dict(sorted(self.host_received.items())),
            # CLOCK_MONOTONIC, system-wide on Linux: another process on this machine (the
            # bench, timing the end-of-quiz write) can compare its own clock with these.
            "end": {
                "end_sent_ns": getattr(self, "end_sent_ns", None),
                "quiz_ended_ns": getattr(self, "quiz_ended_ns", None),
            },
            "errors": errors,
            "close_codes": merge_counters(r["close_codes"] for r in results),
            "close_codes_after_end": merge_counters(r["close_codes_after_end"] for r in results),
            "client": {
                "workers": a.workers,
                "cores": cores,
                "cpu_s": round(cpu_workers + parent_cpu, 3),
                "worker_cpu_s": round(cpu_workers, 3),
                "parent_cpu_s": round(parent_cpu, 3),
                "wall_s": round(wall, 3),
                "cpu_util": round(util, 3),
                "worker_util": per_worker,
                "send_lag": send_lag,
                "saturated": bool(sat_warnings),
            },
            "warnings": warnings,
        }

    @staticmethod
    def latency_by_kind(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Answer-to-reply latency of each question kind, over every worker."""
        merged: dict[str, array[int]] = {}
        for r in results:
            for kind, raw in (r.get("latency_by_kind") or {}).items():
                merged.setdefault(kind, array("q")).frombytes(raw)
        return {kind: summarize_ns(values) for kind, values in sorted(merged.items())}


def _raise_nofile(want: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
        except (ValueError, OSError):
            pass
