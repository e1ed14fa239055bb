"""One simulated player of ``quizd-load``: its reaction time and its WebSocket connection.

``Conn`` is a WebSocket client on a non-blocking socket that an epoll loop drives
(wsproto does the upgrade and the framing; ``feed`` hands wsproto the received bytes
and dispatches its events).  The worker processes use it for every player and the
parent for the host, so both speak WebSocket the same way.  ``Reaction`` says when a
player answers.
"""

from __future__ import annotations

import errno
import os
import random
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import orjson
from wsproto import ConnectionType, WSConnection
from wsproto.events import Ping, Request, TextMessage
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from quizd.loadgen import stamps

# Player states
CONNECTING, HANDSHAKE, JOINING, JOINED, CLOSED = range(5)


# ---------------------------------------------------------------------- reaction times
class Reaction:
    """When a player answers, from a spec string (milliseconds).

    ``fixed:MS`` | ``uniform:A-B`` | ``even:A-B`` (player i of n at A + (B-A)*i/(n-1):
    a steady, evenly spread stream) | ``normal:MEAN,SD`` | ``exp:MEAN`` |
    ``sync:MS`` (every player at the same instant, MS after the host's trigger).
    """

    KINDS = ("fixed", "uniform", "even", "normal", "exp", "sync")

    def __init__(self, spec: str) -> None:
        self.spec = spec
        kind, _, args = spec.partition(":")
        if kind not in self.KINDS or not args:
            raise ValueError(f"bad reaction spec {spec!r}: use one of " + ", ".join(f"{k}:..." for k in self.KINDS))
        self.kind = kind
        self.params: tuple[float, ...]
        try:
            if kind in ("uniform", "even"):
                a, b = (float(x) for x in args.split("-", 1))
                if not 0 <= a <= b:
                    raise ValueError
                self.params = (a, b)
            elif kind == "normal":
                m, s = (float(x) for x in args.split(",", 1))
                if m < 0 or s < 0:
                    raise ValueError
                self.params = (m, s)
            else:
                v = float(args)
                if v < 0:
                    raise ValueError
                self.params = (v,)
        except ValueError:
            raise ValueError(f"bad reaction spec {spec!r}") from None

    def delay_ms(self, rng: random.Random, index: int, total: int) -> float:
        """Delay from the player's own receipt of the question (not for ``sync``)."""
        kind, p = self.kind, self.params
        if kind == "fixed":
            return p[0]
        if kind == "uniform":
            return rng.uniform(p[0], p[1])
        if kind == "even":
            return p[0] + (p[1] - p[0]) * (index / max(1, total - 1))
        if kind == "normal":
            return max(0.0, rng.gauss(p[0], p[1]))
        if kind == "exp":
            return rng.expovariate(1.0 / p[0]) if p[0] > 0 else 0.0
        raise AssertionError(kind)

    @property
    def is_sync(self) -> bool:
        return self.kind == "sync"

    @property
    def max_ms(self) -> float | None:
        if self.kind in ("uniform", "even"):
            return self.params[1]
        if self.kind in ("fixed", "sync"):
            return self.params[0]
        return None


# ---------------------------------------------------------------------- one connection
class Conn:
    """A WebSocket client connection on a non-blocking socket, driven by an epoll loop."""

    __slots__ = (
        "idx",
        "name",
        "sock",
        "fd",
        "ws",
        "state",
        "out",
        "partial",
        "t_start",
        "host_header",
        "target",
        "addr",
        "settled",
        "pending_q",
        "pending_id",
        "t_sent",
        "close_code",
        "ended",
        "scheduled_q",
        "got_reply",
    )

    def __init__(self, idx: int, name: str, addr: tuple[str, int], host_header: str, target: str) -> None:
        self.idx = idx
        self.name = name
        self.addr = addr
        self.host_header = host_header
        self.target = target
        self.sock: socket.socket | None = None
        self.fd = -1
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.state = CONNECTING
        self.out = b""
        self.partial: list[str] | None = None
        self.t_start = 0
        self.settled = -1  # highest question index this player is done with
        self.pending_q = -1  # question of the answer awaiting its reply
        self.pending_id: Any = None
        self.t_sent = 0  # CLOCK_REALTIME (time.time_ns()) just after the pending answer's send
        self.close_code: int | None = None
        self.ended = False
        self.scheduled_q = -1
        self.got_reply = False

    def start_connect(self, family: int) -> None:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Before connecting, so that every reply carries its arrival time (quizd.loadgen.stamps).
        stamps.enable(sock)
        self.sock = sock
        self.fd = sock.fileno()
        self.t_start = time.monotonic_ns()
        err = sock.connect_ex(self.addr)
        if err not in (0, errno.EINPROGRESS):
            raise OSError(err, os.strerror(err))

    def handshake_bytes(self) -> bytes:
        return self.ws.send(Request(host=self.host_header, target=self.target))

    def text_frame(self, obj: Any) -> bytes:
        return self.ws.send(TextMessage(data=orjson.dumps(obj).decode()))

    def send(self, data: bytes) -> bool:
        """Write now; what the kernel does not take waits in ``out`` (caller arms EPOLLOUT)."""
        if self.out:
            self.out += data
            return False
        try:
            sent = self.sock.send(data)  # type: ignore[union-attr]
        except BlockingIOError:
            sent = 0
        except OSError:
            return True  # the read side will see the reset
        if sent < len(data):
            self.out = data[sent:]
            return False
        return True

    def flush(self) -> bool:
        try:
            sent = self.sock.send(self.out)  # type: ignore[union-attr]
        except BlockingIOError:
            return False
        except OSError:
            self.out = b""
            return True
        self.out = self.out[sent:]
        return not self.out

    def close(self) -> None:
        self.state = CLOSED
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass


def feed(conn: Conn, data: bytes | None, on_text: Any, on_event: Any) -> None:
    """Feed received bytes (None = EOF) to wsproto and dispatch its events."""
    ws = conn.ws
    try:
        ws.receive_data(data)
        for event in ws.events():
            if isinstance(event, TextMessage):
                if event.message_finished and conn.partial is None:
                    on_text(conn, event.data)
                else:
                    if conn.partial is None:
                        conn.partial = []
                    conn.partial.append(event.data)
                    if event.message_finished:
                        text = "".join(conn.partial)
                        conn.partial = None
                        on_text(conn, text)
            elif isinstance(event, Ping):
                conn.send(ws.send(event.response()))
            else:
                on_event(conn, event)
    except (RemoteProtocolError, LocalProtocolError) as exc:
        on_event(conn, exc)


def parse_ws_url(url: str) -> tuple[str, int, str]:
    parts = urlsplit(url)
    if parts.scheme != "ws":
        raise ValueError(f"only ws:// URLs are supported by the load generator, got {url!r}")
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 80
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return host, port, target
