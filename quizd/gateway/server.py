"""The WebSocket listener: accepts TCP, runs the handshake, hands each connection a session.

We own the accept loop (:meth:`Gateway._accept`: up to ``ACCEPT_BATCH`` connections per
wake-up, as asyncio and Node accept, where ``trio.serve_listeners`` takes one per turn of
the scheduler); each connection is one task from accept to close, speaking WebSocket
through websockets' sans-I/O protocol (:mod:`quizd.gateway.websocket`), read once joined
by the node's one read poller (:mod:`quizd.gateway.poller`), and writing through a stream we own
(``OutboundStream``), which is what lets the broadcast hot path write pre-framed bytes.
The tasks an ``OutboundStream`` starts to drain a full socket run in the listener's
nursery, so a connection needs no nursery of its own.  Keepalive is one node-wide task
rather than one per connection: every ``ping_interval_s`` it sends each connection a
ping frame, spread over the interval, and closes those that have sent nothing (no pong,
no data) since their previous ping.

Admission (the caps, the descriptor budget) is decided at TCP accept, before any byte of
the handshake is read: see :mod:`quizd.gateway.admission`.
"""

from __future__ import annotations

import errno
import functools
import itertools
import logging
import math
import os
import socket
import ssl
import weakref
from collections.abc import Callable

import trio

from quizd.config import Config
from quizd.gateway.admission import (
    HANDSHAKE_TIMEOUT_S,
    REFUSAL_HANDSHAKE_TIMEOUT_S,
    Admission,
    Verdict,
    raise_descriptor_limit,
)
from quizd.gateway.framing import ping_frame
from quizd.gateway.outbound import OutboundStream
from quizd.gateway.poller import ReadPoller
from quizd.gateway.session import CLOSE_TIMEOUT_S, Session
from quizd.gateway.websocket import Messages, Reader, Upgrade, handshake
from quizd.ops import metrics
from quizd.protocol import errors as E
from quizd.router import Router

log = logging.getLogger("quizd.gateway")

WS_PATH = "/ws"
# The keepalive's pings go out a slice every this often, spread over the interval, not
# all at once: 5,000 pings in one step and the 5,000 pongs right after held the event
# loop about 300 ms every 20 s, which was the steady-answer p99 at 5,000 players.
KEEPALIVE_TICK_S = 0.1
# Connections accepted each time the listening socket is readable.  Trio's own listener
# accepts one and yields to the scheduler, so during a connection storm one connection
# came in per turn of a loop busy with the handshakes and joins of the others.
ACCEPT_BATCH = 64
# accept() errors that say the process or the system is out of descriptors or memory:
# wait a moment for some to be freed (as trio.SocketListener does), then accept again.
ACCEPT_CAPACITY_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})
ACCEPT_CAPACITY_SLEEP_S = 0.1


def make_ssl_context(cert: str, key: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


class Gateway:
    def __init__(self, config: Config, router: Router) -> None:
        self.config = config
        self.router = router
        self.draining = False
        self.sessions: set[Session] = set()
        # Sized in serve(), once the descriptor limit is raised and measured.
        self.admission = Admission(websocket_budget=config.websocket.max_connections)
        ws = config.websocket
        self._ssl = make_ssl_context(ws.tls_cert, ws.tls_key) if ws.tls_cert and ws.tls_key else None
        self._ping_frame = ping_frame(b"quizd")
        self._conn_ids = itertools.count(1)
        self.address: tuple[str, int] | None = None
        # The listener nursery's start_soon (one bound method shared by every connection).
        self._spawn: Callable[..., None] | None = None
        # Reads every joined plain-socket connection from one task (quizd.gateway.poller).
        self.poller = ReadPoller()
        # When the accept loop last took connections: players arriving are waiting for
        # their ``joined`` (``arriving``).
        self._accepted_at = -math.inf

    def arriving(self, within_s: float) -> bool:
        """Whether connections were accepted within the last ``within_s`` seconds."""
        return trio.current_time() - self._accepted_at < within_s

    def new_conn_id(self) -> int:
        return next(self._conn_ids)

    @property
    def scheme(self) -> str:
        return "wss" if self._ssl is not None else "ws"

    async def serve(self, task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED) -> None:
        ws = self.config.websocket
        self.admission.websocket_budget = raise_descriptor_limit().websocket_budget
        listeners = await trio.open_tcp_listeners(ws.port, host=ws.host or None, backlog=4096)
        host, port = listeners[0].socket.getsockname()[:2]
        self.address = (host, port)
        async with trio.open_nursery() as nursery:
            self._spawn = nursery.start_soon
            nursery.start_soon(self._keepalive)
            nursery.start_soon(self.poller.run)
            task_status.started((host, port))
            for listener in listeners:
                nursery.start_soon(self._accept, listener)

    async def _accept(self, listener: trio.SocketListener) -> None:
        """Accept on ``listener`` until cancelled: every connection waiting, up to
        ``ACCEPT_BATCH`` of them, each time it is readable; one task each."""
        # A second descriptor of the listening socket, for plain non-blocking accept()
        # calls; Trio keeps its own (``listener``), which nothing here waits on.
        raw = socket.socket(fileno=os.dup(listener.socket.fileno()))
        raw.setblocking(False)
        spawn = self._spawn
        assert spawn is not None  # serve() set it before starting this task
        try:
            while True:
                await trio.lowlevel.wait_readable(raw)
                self._accepted_at = trio.current_time()
                for _ in range(ACCEPT_BATCH):
                    try:
                        conn, address = raw.accept()
                    except BlockingIOError:
                        break
                    except OSError as exc:
                        if exc.errno in ACCEPT_CAPACITY_ERRNOS:
                            log.error("accept: %s; waiting %g s", os.strerror(exc.errno), ACCEPT_CAPACITY_SLEEP_S)
                            await trio.sleep(ACCEPT_CAPACITY_SLEEP_S)
                            break
                        continue  # that one connection went away before it was accepted
                    # accept() names the peer: no getpeername() call per connection.
                    remote = str(address[0])
                    spawn(self._handle_stream, trio.SocketStream(trio.socket.from_stdlib_socket(conn)), remote)
        finally:
            raw.close()
            await listener.aclose()

    async def _keepalive(self) -> None:
        """A ping to every connection each ``ping_interval_s``, spread over the interval.

        Each interval, the connections open at its start are put in slots by their id,
        one slot a tick: a connection keeps its slot, so its pings are one interval
        apart, and a connection that sent nothing since its previous ping is dropped at
        its next.  One that opens during an interval has its first ping in the next.

        Held up (a paused VM, a stopped process, a long stall), the loop does not make
        up for the pings it missed: a slot reached more than half an interval late is
        skipped, and whole intervals missed are skipped at once.  Made up for, every
        connection was pinged once per missed interval in the same instant and dropped
        at the second, before it could answer the first."""
        interval = self.config.websocket.ping_interval_s
        ticks = max(1, round(interval / KEEPALIVE_TICK_S))
        tick = interval / ticks
        start = trio.current_time()
        while True:
            slots: list[list[weakref.ref[Session]]] = [[] for _ in range(ticks)]
            for session in self.sessions:
                slots[session.conn_id % ticks].append(weakref.ref(session))
            for i, slot in enumerate(slots):
                due = start + (i + 1) * tick
                await trio.sleep_until(due)
                now = trio.current_time()
                if now - due <= interval / 2:
                    self._ping(slot, now)
            start += interval
            # Each slot keeps its place in the interval, so pings stay an interval apart.
            start += interval * max(0, (trio.current_time() - start) // interval)

    def _ping(self, slot: list[weakref.ref[Session]], now: float) -> None:
        for ref in slot:
            session = ref()
            if session is None or session not in self.sessions:
                continue  # closed since the interval began
            if session.out.last_received_at < session.last_ping_at:
                log.info("no pong since the last ping; dropping", extra={"remote": session.remote})
                session.out.abort()
                continue
            session.last_ping_at = now
            session.out.push(self._ping_frame)

    async def _handle_stream(self, stream: trio.SocketStream, remote: str) -> None:
        """Admission, the handshake, then a session: a player's, or one that only says 1013.

        One task for the whole connection, and few frames on its stack while it waits
        (this one, the session's reading, the read): every idle player holds them for as
        long as it stays, so each extra one costs memory, and one more object for every
        collection of the old generation to walk.  The socket is closed at the end."""
        decision = self.admission.admit(
            remote, self.config.websocket.max_connections, self.config.limits.connections_per_ip
        )
        try:
            if decision.verdict is Verdict.DROP:
                assert decision.cap is not None
                metrics.count_refused(decision.cap.value, "dropped")
                await trio.aclose_forcefully(stream)
                return
            transport: trio.abc.Stream = stream
            if self._ssl is not None:
                transport = trio.SSLStream(stream, self._ssl, server_side=True)
            refused = decision.verdict is Verdict.REFUSE
            assert self._spawn is not None  # serve() set it before accepting
            out = OutboundStream(
                transport,
                max_queue_bytes=self.config.websocket.send_queue_bytes,
                spawn=self._spawn,
                on_slow_consumer=functools.partial(self._slow_consumer, remote),
            )
            try:
                reader = Reader(out)
                timeout = REFUSAL_HANDSHAKE_TIMEOUT_S if refused else HANDSHAKE_TIMEOUT_S
                early = await handshake(reader, self._refusal, timeout)
                if early is None:
                    return
                messages = Messages(out, self.config.websocket.max_message_bytes, early)
                session = Session(self, messages, reader, remote)
                self.sessions.add(session)
                metrics.CONNECTIONS_OPEN.inc()
                try:
                    if refused:
                        assert decision.cap is not None
                        metrics.count_refused(decision.cap.value, "refused")
                        session.close_soon(E.CLOSE_NODE_FULL, decision.close_reason)
                    await session.run()
                finally:
                    self.sessions.discard(session)
                    metrics.CONNECTIONS_OPEN.dec()
                    session.close_soon(E.CLOSE_NORMAL, "")
            finally:
                # Let the close (or the refusal) and the last queued bytes go, but not forever.
                await out.finish(CLOSE_TIMEOUT_S)
        finally:
            self.admission.release(remote)
            await trio.aclose_forcefully(stream)

    def _refusal(self, upgrade: Upgrade) -> tuple[int, str] | None:
        path, headers = upgrade.path, upgrade.headers
        if path.split("?", 1)[0] != WS_PATH:
            return 404, f"not found: connect to {WS_PATH}"
        allowed = self.config.websocket.allowed_origins
        # Every Origin the request carries must be allowed (a browser sends one).
        if allowed and any(origin not in allowed for origin in headers.get_all("Origin")):
            return 403, "origin not allowed"
        return None

    def _slow_consumer(self, remote: str) -> None:
        metrics.SLOW_CONSUMER_DISCONNECTS.inc()
        log.warning("slow consumer: send queue full; closing", extra={"remote": remote})

    def close_all(self, code: int, reason: str) -> None:
        for session in list(self.sessions):
            session.close_soon(code, reason)
