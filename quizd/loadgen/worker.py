"""The lean side of ``quizd-load``: WebSocket players on raw sockets and epoll.

One worker process owns a slice of the players.  Each player is a non-blocking socket
plus a wsproto ``WSConnection`` (the sans-IO library does the HTTP upgrade and all the
framing; nothing here parses WebSocket bytes by hand).  The loop is a plain
``select.epoll`` with a timer heap, no coroutines:

* receiving is two passes: first every ready socket is read, then the bytes are parsed.
  Each read carries ``time.monotonic_ns()`` when it was read (joins, question receipts
  and reaction timers run on it) and, when the player awaits a reply, the kernel's
  receive stamp of its last bytes (``quizd.loadgen.stamps``, CLOCK_REALTIME) that the
  answer latencies are taken from.  The worker's own backlog (parsing a broadcast to every player, sending a burst of
  answers) delays when it reads a reply, but not that stamp: a latency is the reply's
  arrival at this machine's network stack minus ``time.time_ns()`` right after the
  answer's ``send``.  The stamp of a read is that of its last bytes, so a reply followed
  in the same read by another frame is stamped with that frame's arrival: later than the
  truth, never earlier (counted as ``followed``).  A read without a kernel stamp falls back
  to ``time.time_ns()`` when it was read (counted as ``userspace``);
* answers are encoded and masked when the question arrives and only ``send`` is left
  for their due time; due answers go out in chunks, with a non-blocking read pass
  between chunks, so a burst of thousands of answers does not hide the first replies;
* every answer's scheduling lag (actual send minus due time) is recorded: it is how the
  parent tells that the generator, not the server, was the bottleneck.

CLOCK_MONOTONIC is system-wide on Linux, so the parent's trigger times and the
workers' receipt times are comparable; the latencies' two ends are both CLOCK_REALTIME
(what the kernel stamps with), taken on this machine microseconds to seconds apart.
"""

from __future__ import annotations

import gc
import heapq
import os
import random
import resource
import select
import socket
import time
from array import array
from collections import Counter
from typing import Any

import orjson
from wsproto.events import AcceptConnection, CloseConnection, RejectConnection, RejectData
from wsproto.utilities import LocalProtocolError

from quizd.loadgen.answers import Kind, pick_answer
from quizd.loadgen.players import (
    CLOSED,
    CONNECTING,
    HANDSHAKE,
    JOINED,
    JOINING,
    Conn,
    Reaction,
    feed,
    parse_ws_url,
)
from quizd.loadgen.stamps import recv_stamped

#: One read: the player, its bytes, when it was read (CLOCK_MONOTONIC, then
#: CLOCK_REALTIME) and the kernel's receive stamp of its last bytes (CLOCK_REALTIME; None
#: when the read carried none).
Read = tuple[Conn, bytes, int, int, int | None]

EPOLLIN, EPOLLOUT = select.EPOLLIN, select.EPOLLOUT
EPOLLERR, EPOLLHUP = select.EPOLLERR, select.EPOLLHUP
RECV_BYTES = 65536
FIRE_CHUNK = 128  # due answers sent between two non-blocking read passes

# Server messages a player only counts (no JSON decoding needed).
COUNT_ONLY = frozenset(
    {
        "leaderboard",
        "participants",
        "question_closed",
        "quiz_starting",
        "pong",
        "player_joined",
        "player_left",
        "host_state",
    }
)


# ---------------------------------------------------------------------- the worker
class Worker:
    """Owns a slice of the players; talks to the parent over a multiprocessing pipe."""

    def __init__(self, cfg: dict[str, Any], pipe: Any) -> None:
        self.cfg = cfg
        self.pipe = pipe
        self.wid = cfg["wid"]
        self.rng = random.Random(cfg["seed"])
        self.reaction = Reaction(cfg["reaction"])
        self.total_players = cfg["total_players"]
        self.answers: dict[int, Any] = cfg.get("answers") or {}
        self.correct_p: float = cfg.get("correct", 0.7)
        self.answer_fraction: float = cfg.get("answer_fraction", 1.0)
        self.window = max(1, cfg.get("connect_window", 256))
        self.connect_rate = cfg.get("connect_rate")  # per second, this worker's share
        self.deadline_ns = cfg["deadline_ns"]
        self.join_template: dict[str, Any] = cfg["join"]
        self.players: list[Conn] = []
        for idx, name, url in cfg["players"]:
            host, port, target = parse_ws_url(url)
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            self.players.append(
                Conn(
                    idx,
                    name,
                    (host, port),
                    f"{host}:{port}" if family == socket.AF_INET else f"[{host}]:{port}",
                    target,
                )
            )
        self.family = {p.idx: (socket.AF_INET6 if ":" in p.addr[0] else socket.AF_INET) for p in self.players}
        self.by_fd: dict[int, Conn] = {}
        self.ep = select.epoll()
        self.timers: list[tuple[int, int, Conn, int, Any]] = []
        self.seq = 0
        self.sync_waiting: dict[int, list[tuple[Conn, int, bytes]]] = {}
        self.triggers: dict[int, int] = {}
        # connect bookkeeping
        self.next_connect = 0
        self.inflight = 0
        self.joined = 0
        self.failed = 0
        self.live = 0
        self.ready_sent = False
        self.t_connect_start = 0
        self.t_connect_end = 0
        self.tokens = 0.0
        self.t_tokens = 0
        # question bookkeeping
        self.settled_count: Counter[int] = Counter()
        self.qdone_sent: set[int] = set()
        self.max_q = -1
        self.ended_count = 0
        self.ended_sent = False
        # what is reported
        self.join_latency = array("q")
        self.receipts: dict[int, array[int]] = {}
        self.answer_latency = array("q")
        # The same replies timed when the worker read them (what quizd-load measured before
        # kernel stamps): the difference is the worker's own backlog.
        self.latency_at_read = array("q")
        # Per kernel-stamped reply, read time minus arrival: how long it waited for the worker.
        self.read_delay = array("q")
        self.send_lag = array("q")
        # Where each reply's receive time came from: the kernel's stamp or the worker's
        # clock (no stamp with the read), and how many kernel stamps were another frame's
        # (bytes after the reply in the same read), so late by up to that frame's delay.
        self.stamp_counts: Counter[str] = Counter()
        self.sent = 0
        self.replies = 0
        self.correct = 0
        self.late = 0
        self.reply_types: Counter[str] = Counter()
        # per question kind: sent, guessed, replies, correct, wrong, unscored, refused
        self.kind_of: dict[int, Kind] = {}
        self.kind_by_qid: dict[str, Kind] = {}
        self.by_kind: dict[str, Counter[str]] = {}
        self.latency_by_kind: dict[str, array[int]] = {}
        self.leaderboard = 0
        self.received: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.close_codes: Counter[str] = Counter()
        self.close_codes_after_end: Counter[str] = Counter()
        self.fail_reasons: Counter[str] = Counter()
        self.finished = False
        self.dirty = False

    # ------------------------------------------------------------------ plumbing
    def _register(self, conn: Conn, events: int) -> None:
        self.by_fd[conn.fd] = conn
        self.ep.register(conn.fd, events)

    def _modify(self, conn: Conn, events: int) -> None:
        try:
            self.ep.modify(conn.fd, events)
        except OSError:
            pass

    def _write(self, conn: Conn, data: bytes) -> None:
        if not conn.send(data):
            self._modify(conn, EPOLLIN | EPOLLOUT)

    def _drop(self, conn: Conn, reason: str | None) -> None:
        if conn.state == CLOSED:
            return
        was = conn.state
        if conn.fd in self.by_fd:
            try:
                self.ep.unregister(conn.fd)
            except OSError:
                pass
            del self.by_fd[conn.fd]
        conn.close()
        if was in (CONNECTING, HANDSHAKE, JOINING):
            self.inflight -= 1
            self.failed += 1
            self.fail_reasons[reason or "closed"] += 1
        elif was == JOINED:
            self.live -= 1
            # A player that goes away no longer holds its questions back.
            for q in (self.max_q,):
                if q >= 0 and conn.settled >= q:
                    self.settled_count[q] -= 1
            if conn.close_code is None:
                self._count_close(conn, "no_close_frame")
            self.dirty = True

    # ------------------------------------------------------------------ connect
    def _start_connects(self, now: int) -> None:
        if self.next_connect >= len(self.players):
            return
        if self.connect_rate:
            self.tokens = min(
                self.tokens + (now - self.t_tokens) / 1e9 * self.connect_rate, max(1.0, self.connect_rate / 20)
            )
            self.t_tokens = now
        while self.next_connect < len(self.players) and self.inflight < self.window:
            if self.connect_rate:
                if self.tokens < 1:
                    break
                self.tokens -= 1
            conn = self.players[self.next_connect]
            self.next_connect += 1
            self.inflight += 1
            try:
                conn.start_connect(self.family[conn.idx])
            except OSError as exc:
                conn.state = CLOSED
                self.inflight -= 1
                self.failed += 1
                self.fail_reasons[f"connect: {exc.strerror or exc}"] += 1
                continue
            self._register(conn, EPOLLOUT)

    def _on_connected(self, conn: Conn) -> None:
        err = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)  # type: ignore[union-attr]
        if err:
            self._drop(conn, f"connect: {os.strerror(err)}")
            return
        conn.state = HANDSHAKE
        self._modify(conn, EPOLLIN)
        self._write(conn, conn.handshake_bytes())

    # ------------------------------------------------------------------ receiving
    def _on_event(self, conn: Conn, event: Any) -> None:
        if isinstance(event, AcceptConnection):
            conn.state = JOINING
            join = dict(self.join_template)
            join["payload"] = {**join["payload"], "name": conn.name}
            join["id"] = "j"
            self._write(conn, conn.text_frame(join))
        elif isinstance(event, (RejectConnection, RejectData)):
            status = getattr(event, "status_code", None)
            if status is not None or getattr(event, "body_finished", True):
                self._drop(conn, f"handshake rejected {status}" if status else "handshake rejected")
        elif isinstance(event, CloseConnection):
            conn.close_code = event.code
            self._count_close(conn, str(event.code))
            try:
                self._write(conn, conn.ws.send(event.response()))
            except LocalProtocolError:
                pass
            self._drop(conn, f"closed {event.code} during join")
        elif isinstance(event, Exception):
            self._drop(conn, f"protocol: {event}")

    def _count_close(self, conn: Conn, code: str) -> None:
        # After quiz_ended the server closing the connection (4004) is the normal end.
        (self.close_codes_after_end if conn.ended else self.close_codes)[code] += 1

    def _on_text(self, conn: Conn, text: str) -> None:
        t = self._t_now
        self._texts_in_read += 1
        # Broadcasts that are only counted skip JSON decoding: quizd (orjson) and the
        # baselines put "type" first, so it can be read off the start of the frame.
        if text.startswith('{"type":"'):
            mtype = text[9 : text.find('"', 9)]
            if mtype in COUNT_ONLY:
                self.received[mtype] += 1
                if mtype == "leaderboard":
                    self.leaderboard += 1
                return
        try:
            msg = orjson.loads(text)
            mtype = msg["type"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            self.errors["client: undecodable frame"] += 1
            return
        self.received[mtype] += 1
        if mtype == "question":
            self._on_question(conn, msg["payload"], t)
        elif mtype == "answer_result" or mtype == "answer_accepted":
            self._on_reply(conn, mtype, msg)
        elif mtype == "leaderboard":
            self.leaderboard += 1
        elif mtype == "joined":
            if conn.state == JOINING:
                conn.state = JOINED
                self.inflight -= 1
                self.joined += 1
                self.live += 1
                self.join_latency.append(t - conn.t_start)
                if self.joined + self.failed == len(self.players):
                    self.t_connect_end = t
                # Joined mid-question: the current question is already out for it.
                q = (msg.get("payload") or {}).get("question")
                if q and not q.get("answered"):
                    self._on_question(conn, q, t)
        elif mtype == "error":
            payload = msg.get("payload") or {}
            code = payload.get("code", "?")
            self.errors[code] += 1
            if conn.state == JOINING:
                self._drop(conn, f"join error {code}")
            elif msg.get("re") is not None and msg.get("re") == conn.pending_id and conn.pending_q >= 0:
                self._tally(self.kind_of.get(conn.pending_q, "unknown"), "refused")
                if code == "question_closed":
                    self.late += 1
                self._settle(conn, conn.pending_q)
                conn.pending_q = -1
        elif mtype == "quiz_ended" and not conn.ended:
            conn.ended = True
            self.ended_count += 1
            self.dirty = True

    def _on_question(self, conn: Conn, payload: dict[str, Any], t: int) -> None:
        index = payload["index"]
        if index in self.receipts:
            self.receipts[index].append(t)
        else:
            self.receipts[index] = array("q", [t])
        if index > self.max_q:
            self.max_q = index
            self.dirty = True
        if conn.scheduled_q >= index or conn.state != JOINED:
            return
        conn.scheduled_q = index
        rng = self.rng
        if rng.random() >= self.answer_fraction:
            self._settle(conn, index)
            return
        picked = pick_answer(payload, self.answers.get(index), self.correct_p, rng)
        self.kind_of[index] = picked.kind
        self.kind_by_qid[payload["questionId"]] = picked.kind
        if picked.aimed is None and picked.kind is not Kind.POLL:
            self._tally(picked.kind, "guessed")
        answer = {"type": "answer", "payload": {"questionId": payload["questionId"], **picked.fields}, "id": index}
        if self.reaction.is_sync:
            # Everyone at one instant: encode and mask now, so only send() is left then.
            frame: Any = conn.text_frame(answer)
            trigger = self.triggers.get(index)
            if trigger is None:
                self.sync_waiting.setdefault(index, []).append((conn, index, frame))
                return
            due = trigger + int(self.reaction.params[0] * 1e6)
        else:
            # Spread out: encode when due, which keeps the work off the question's arrival.
            frame = answer
            due = t + int(self.reaction.delay_ms(rng, conn.idx, self.total_players) * 1e6)
        self.seq += 1
        heapq.heappush(self.timers, (due, self.seq, conn, index, frame))

    def _tally(self, kind: str, what: str) -> None:
        counts = self.by_kind.get(kind)
        if counts is None:
            counts = self.by_kind[kind] = Counter()
        counts[what] += 1

    def _on_reply(self, conn: Conn, mtype: str, msg: dict[str, Any]) -> None:
        self.reply_types[mtype] += 1
        payload = msg.get("payload") or {}
        if mtype == "answer_result":
            # Judged: at once (reveal on_answer), or at the close after an answer_accepted.
            kind = self.kind_by_qid.get(str(payload.get("questionId")), "unknown")
            correct = payload.get("correct")
            self._tally(kind, "unscored" if correct is None else ("correct" if correct else "wrong"))
        if conn.pending_q < 0:
            return  # a later answer_result (reveal on_close) after its answer_accepted
        kind = self.kind_of.get(conn.pending_q, "unknown")
        self._tally(kind, "replies")
        self.replies += 1
        # The reply's arrival (kernel stamp, CLOCK_REALTIME) minus the answer's send.
        latency = self._t_arrival - conn.t_sent
        self.answer_latency.append(latency)
        self.latency_at_read.append(self._t_read - conn.t_sent)
        latencies = self.latency_by_kind.get(kind)
        if latencies is None:
            latencies = self.latency_by_kind[kind] = array("q")
        latencies.append(latency)
        if self._arrival_by_kernel:
            self.stamp_counts["kernel"] += 1
            self.read_delay.append(self._t_read - self._t_arrival)
            self._reply_text = self._texts_in_read
        else:
            self.stamp_counts["userspace"] += 1
        if payload.get("correct"):
            self.correct += 1
        self._settle(conn, conn.pending_q)
        conn.pending_q = -1

    def _settle(self, conn: Conn, q: int) -> None:
        if conn.settled < q:
            conn.settled = q
            self.settled_count[q] += 1
            self.dirty = True

    # ------------------------------------------------------------------ sending answers
    def _fire_due(self, now: int) -> bool:
        """Send up to FIRE_CHUNK due answers; True if more are due."""
        timers = self.timers
        n = 0
        while timers and timers[0][0] <= now and n < FIRE_CHUNK:
            due, _, conn, q, frame = heapq.heappop(timers)
            if conn.state != JOINED:
                continue
            if not isinstance(frame, bytes):
                frame = conn.text_frame(frame)
            t = time.monotonic_ns()
            conn.pending_q = q
            conn.pending_id = q
            self._write(conn, frame)
            conn.t_sent = time.time_ns()  # the latency's start, in the kernel stamps' clock
            self.sent += 1
            self._tally(self.kind_of.get(q, "unknown"), "sent")
            self.send_lag.append(t - due)
            n += 1
        return bool(timers) and timers[0][0] <= time.monotonic_ns()

    # ------------------------------------------------------------------ control
    def _on_control(self) -> None:
        while self.pipe.poll():
            try:
                msg = self.pipe.recv()
            except EOFError:
                self.finished = True
                return
            kind = msg[0]
            if kind == "trigger":
                _, q, t0 = msg
                self.triggers[q] = t0
                waiting = self.sync_waiting.pop(q, None)
                if waiting:
                    due = t0 + int(self.reaction.params[0] * 1e6)
                    for conn, index, frame in waiting:
                        self.seq += 1
                        heapq.heappush(self.timers, (due, self.seq, conn, index, frame))
            elif kind == "finish":
                self.finished = True

    def _report_progress(self) -> None:
        if not self.ready_sent and self.joined + self.failed >= len(self.players):
            self.ready_sent = True
            if not self.t_connect_end:
                self.t_connect_end = time.monotonic_ns()
            self.pipe.send(("ready", self.wid, self.joined, self.failed))
        if self.dirty:
            self.dirty = False
            q = self.max_q
            if q >= 0 and q not in self.qdone_sent and self.settled_count[q] >= self.live:
                self.qdone_sent.add(q)
                self.pipe.send(("qdone", self.wid, q))
            if not self.ended_sent and self.ready_sent and self.ended_count >= self.live:
                self.ended_sent = True
                self.pipe.send(("ended", self.wid))

    # ------------------------------------------------------------------ the loop
    def run(self) -> dict[str, Any]:
        pipe_fd = self.pipe.fileno()
        self.ep.register(pipe_fd, EPOLLIN)
        self.t_connect_start = self.t_tokens = time.monotonic_ns()
        if not self.players:
            self.t_connect_end = self.t_connect_start
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        t_wall0 = time.monotonic_ns()
        by_fd = self.by_fd
        batch: list[Read] = []
        while not self.finished:
            now = time.monotonic_ns()
            if now > self.deadline_ns:
                self.errors["client: run deadline reached"] += 1
                break
            self._start_connects(now)
            timeout = max(0.0, (self.timers[0][0] - now) / 1e9) if self.timers else 0.05
            if self.connect_rate and self.next_connect < len(self.players):
                timeout = min(timeout, 0.005)
            events = self.ep.poll(min(timeout, 0.25))
            self._io(events, by_fd, batch, pipe_fd)
            more = True
            while more:
                more = self._fire_due(time.monotonic_ns())
                if more:
                    self._io(self.ep.poll(0), by_fd, batch, pipe_fd)
            self._report_progress()
        # Goodbye: a close frame to every open connection, then the sockets.
        for conn in self.players:
            if conn.state in (JOINED, JOINING, HANDSHAKE):
                try:
                    conn.send(conn.ws.send(CloseConnection(code=1000)))
                except LocalProtocolError:
                    pass
            if conn.state != CLOSED:
                conn.close()
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        wall = (time.monotonic_ns() - t_wall0) / 1e9
        return {
            "wid": self.wid,
            "players": len(self.players),
            "joined": self.joined,
            "failed": self.failed,
            "fail_reasons": dict(self.fail_reasons),
            "t_connect_start": self.t_connect_start,
            "t_connect_end": self.t_connect_end,
            "join_latency": self.join_latency.tobytes(),
            "receipts": {q: a.tobytes() for q, a in self.receipts.items()},
            "answer_latency": self.answer_latency.tobytes(),
            "latency_at_read": self.latency_at_read.tobytes(),
            "read_delay": self.read_delay.tobytes(),
            "send_lag": self.send_lag.tobytes(),
            "stamps": dict(self.stamp_counts),
            "sent": self.sent,
            "replies": self.replies,
            "reply_types": dict(self.reply_types),
            "by_kind": {kind: dict(counts) for kind, counts in self.by_kind.items()},
            "latency_by_kind": {kind: a.tobytes() for kind, a in self.latency_by_kind.items()},
            "correct": self.correct,
            "late": self.late,
            "leaderboard": self.leaderboard,
            "received": dict(self.received),
            "errors": dict(self.errors),
            "close_codes": dict(self.close_codes),
            "close_codes_after_end": dict(self.close_codes_after_end),
            "unanswered_at_end": sum(1 for p in self.players if p.pending_q >= 0),
            "cpu_s": (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime),
            "wall_s": wall,
        }

    def _read_ready(
        self, events: list[tuple[int, int]], by_fd: dict[int, Conn], batch: list[Read], pipe_fd: int
    ) -> None:
        """Pass 1: read every ready socket; each read with its read times and, when the player
        awaits a reply, the kernel's receive stamp of its last bytes."""
        for fd, ev in events:
            if fd == pipe_fd:
                self._on_control()
                continue
            conn = by_fd.get(fd)
            if conn is None:
                continue
            if ev & EPOLLOUT:
                if conn.state == CONNECTING:
                    self._on_connected(conn)
                    continue
                if conn.out and conn.flush():
                    self._modify(conn, EPOLLIN)
            if ev & (EPOLLIN | EPOLLHUP | EPOLLERR):
                try:
                    if conn.pending_q >= 0:
                        data, arrival = recv_stamped(conn.sock, RECV_BYTES)  # type: ignore[arg-type]
                    else:
                        # No answer awaits its reply, so no stamp is needed: a plain recv
                        # spares the ~1 us recvmsg costs more, 5,000 times per broadcast.
                        data, arrival = conn.sock.recv(RECV_BYTES), None  # type: ignore[union-attr]
                except BlockingIOError:
                    continue
                except OSError:
                    data, arrival = b"", None
                batch.append((conn, data, time.monotonic_ns(), time.time_ns(), arrival))

    def _io(self, events: list[tuple[int, int]], by_fd: dict[int, Conn], batch: list[Read], pipe_fd: int) -> None:
        self._read_ready(events, by_fd, batch, pipe_fd)
        if not batch:
            return
        # Pass 2: parse, each read with its own stamps.  Every few frames, look again:
        # bytes that arrive while a big batch (a broadcast to every player) is being
        # parsed are read and stamped at once, and answers that fall due go out on time.
        timers = self.timers
        ep = self.ep
        i = 0
        while i < len(batch):
            if i & 31 == 31:
                if timers and timers[0][0] <= time.monotonic_ns():
                    self._fire_due(time.monotonic_ns())
                more = ep.poll(0)
                if more:
                    self._read_ready(more, by_fd, batch, pipe_fd)
            conn, data, stamp, read_at, arrival = batch[i]
            i += 1
            if conn.state == CLOSED:
                continue
            self._t_now = stamp
            self._t_read = read_at
            if arrival is None:
                self._t_arrival, self._arrival_by_kernel = read_at, False
            else:
                self._t_arrival, self._arrival_by_kernel = arrival, True
            if data:
                self._texts_in_read = self._reply_text = 0
                feed(conn, data, self._on_text, self._on_event)
                if self._reply_text and self._texts_in_read > self._reply_text:
                    self.stamp_counts["followed"] += 1  # its stamp is a later frame's
            else:
                feed(conn, None, self._on_text, self._on_event)
                if conn.state == JOINED and conn.close_code is None:
                    self._count_close(conn, "reset")
                    conn.close_code = -1
                self._drop(conn, "connection reset")
            if conn.state == JOINED and conn.close_code is not None:
                self._drop(conn, None)
        batch.clear()

    # The read being parsed: its read time (monotonic, then realtime), its arrival (the
    # kernel's stamp, or the realtime read time without one) and which of the two; the
    # frames completed in it so far, and the count at which a kernel-stamped reply
    # completed (0: none).
    _t_now = 0
    _t_read = 0
    _t_arrival = 0
    _arrival_by_kernel = False
    _texts_in_read = 0
    _reply_text = 0


def worker_main(cfg: dict[str, Any], pipe: Any) -> None:
    """Entry point of a worker process (multiprocessing, spawn)."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = min(hard, len(cfg["players"]) + 256)
        if soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (ValueError, OSError):
        pass
    # The players' objects live for the whole run: a cyclic collection pass over them
    # would stall the loop for milliseconds in the middle of a measurement.
    gc.disable()
    worker = Worker(cfg, pipe)
    try:
        result = worker.run()
    except Exception as exc:  # the parent must hear about it
        import traceback

        pipe.send(("crashed", cfg["wid"], "".join(traceback.format_exception(exc))))
        return
    pipe.send(("result", cfg["wid"], result))
