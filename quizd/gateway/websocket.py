"""The server side of one WebSocket on wsproto: the opening handshake, then frames.

trio-websocket (which quizd's client, tests and load generator use) gives each server
connection a reader task, a memory channel and a handful of events: every frame is
parsed in that task, queued, and taken by the session's task, and every idle connection
holds both tasks.  On the answer burst that was a task switch and a channel hop per
frame, and about half the memory of an idle connection (the measurements are in
docs/architecture.md, "The WebSocket path").  So the node's listener speaks WebSocket
through wsproto (the sans-IO library trio-websocket is built on) directly, in the
connection's one task:

* :func:`handshake` reads the HTTP upgrade with wsproto's ``H11Handshake`` (h11 bounds
  the request at 16 KiB) and answers it; once accepted, only wsproto's frame
  ``Connection`` is kept, the HTTP objects are dropped.
* :class:`Reader` reads the socket without a task of its own: it waits for the
  descriptor to be readable and reads it once, and waits again only when the last read
  did not fill its buffer (a second read would only say "nothing more").
* :class:`Messages` reassembles fragmented messages under the size limit and answers
  pings; the session gets whole text or binary messages and the close.

Everything written goes through the connection's :class:`OutboundStream` (handshake
response, pongs, close frames and the node's own pre-framed JSON), so writes interleave
only at frame boundaries.
"""

from __future__ import annotations

import enum
import itertools
import os
from collections.abc import Callable

import attrs
import trio
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.handshake import H11Handshake
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from quizd.gateway.outbound import OutboundStream

# Bytes asked of the socket per read: a frame of the wire protocol is a few hundred.
RECEIVE_BYTES = 16384
# Frames handled per call of ``Messages.feed``.  One read can hold thousands of small
# frames (16 KiB of empty ones is 2,730), each parsed by wsproto in tens of
# microseconds: the session lets the rest of the node run between batches, so one
# flooding peer holds the event loop for a batch, never for a whole read.
BATCH_EVENTS = 64


class Reader:
    """Reads a connection's bytes in the calling task (no reader task, no channel)."""

    __slots__ = ("out", "_fd", "_more")

    def __init__(self, out: OutboundStream) -> None:
        self.out = out
        self._fd = out.fd
        self._more = False  # the last read filled its buffer: read again before waiting

    async def receive(self) -> bytes:
        """The next bytes; ``b""`` when the peer closed or the connection is gone."""
        fd = self._fd
        if fd is None:  # TLS: the SSL stream reads (and decrypts) for us
            try:
                return bytes(await self.out.receive_some(RECEIVE_BYTES))
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return b""
        out = self.out
        while True:
            # Closed (a failed write, a slow consumer, keepalive): the descriptor's
            # number may already belong to a newer connection, so it is never touched
            # again; checked after every wait, with no await between check and read.
            if out.closed:
                return b""
            try:
                if self._more:
                    await trio.lowlevel.checkpoint()  # a flooding peer still lets others run
                else:
                    await trio.lowlevel.wait_readable(fd)
                if out.closed:
                    return b""
                data = os.read(fd, RECEIVE_BYTES)
            except BlockingIOError:
                self._more = False
                continue
            except (OSError, trio.ClosedResourceError):
                return b""
            self._more = len(data) == RECEIVE_BYTES
            out.last_received_at = trio.current_time()
            return data


@attrs.frozen(slots=True)
class Upgrade:
    """The accepted upgrade request: what the listener decides on."""

    path: str
    headers: dict[bytes, bytes]


#: Decides on an upgrade: (status, body) to refuse it, None to accept it.
Refusal = Callable[[Upgrade], "tuple[int, str] | None"]


async def handshake(reader: Reader, refusal: Refusal, timeout_s: float) -> tuple[Connection, Upgrade] | None:
    """Read the upgrade request and answer it: the frame connection once accepted.

    None when the request is refused (``refusal`` gives the status and body), is not a
    WebSocket upgrade (400), or does not arrive complete within ``timeout_s``.
    """
    out = reader.out
    shake = H11Handshake(ConnectionType.SERVER)
    with trio.move_on_after(timeout_s):
        while True:
            data = await reader.receive()
            if not data:
                return None
            try:
                shake.receive_data(data)
                request = next((e for e in shake.events() if isinstance(e, Request)), None)
            except RemoteProtocolError as err:
                if isinstance(err.event_hint, RejectConnection):
                    try:
                        out.push(_reject(shake, err.event_hint.status_code, f"{err}\n".encode()))
                    except LocalProtocolError:
                        pass  # not even a request line: h11 has nothing to answer
                return None
            if request is None:
                continue
            headers = {name.lower(): value for name, value in request.extra_headers}
            upgrade = Upgrade(request.target, headers)
            refused = refusal(upgrade)
            if refused is not None:
                out.push(_reject(shake, refused[0], refused[1].encode()))
                return None
            out.push(shake.send(AcceptConnection()))
            connection = shake.connection
            assert connection is not None  # accepted: wsproto made the frame connection
            return connection, upgrade
    return None


def _reject(shake: H11Handshake, status: int, body: bytes) -> bytes:
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    return shake.send(RejectConnection(status_code=status, headers=headers, has_body=True)) + shake.send(
        RejectData(data=body)
    )


class Kind(enum.Enum):
    """What :meth:`Messages.feed` found."""

    TEXT = "text"
    BINARY = "binary"
    TOO_BIG = "too_big"  # a message past the limit (the rest of it is dropped): close 1009
    CLOSED = "closed"  # the close handshake is over (or the peer broke the protocol)


class Messages:
    """Whole messages out of a wsproto frame connection, under ``max_bytes`` each.

    Pings are answered here; fragments are joined; a message larger than ``max_bytes``
    (text in UTF-8 bytes) ends the reading with ``TOO_BIG`` before it is all buffered.
    At most ``BATCH_EVENTS`` frames are handled per call: ``pending`` then says that
    bytes already received wait for the next call (``feed(b"")``), before any new read.
    """

    __slots__ = ("connection", "out", "max_bytes", "pending", "_parts", "_size", "_skipping")

    def __init__(self, connection: Connection, out: OutboundStream, max_bytes: int) -> None:
        self.connection = connection
        self.out = out
        self.max_bytes = max_bytes
        self._parts: list[str | bytes] | None = None
        self._size = 0
        self._skipping = False  # the rest of a message already found too big
        self.pending = False  # received bytes left for the next batch

    def feed(self, data: bytes) -> list[tuple[Kind, str | bytes]]:
        """The messages (and a final close) that ``data`` completes, in order: those of
        the next ``BATCH_EVENTS`` frames of what was received (see ``pending``)."""
        connection = self.connection
        found: list[tuple[Kind, str | bytes]] = []
        payload: str | bytes
        if connection.state is ConnectionState.CLOSED:
            self.pending = False
            return [(Kind.CLOSED, "")]
        if data:
            connection.receive_data(data)
        # wsproto parses a frame only when its event is asked for: stopping after a
        # batch leaves the rest of the bytes in its buffer, unparsed, for the next call.
        self.pending = False
        handled = 0
        for event in itertools.islice(connection.events(), BATCH_EVENTS):
            handled += 1
            if isinstance(event, (TextMessage, BytesMessage)):
                if self._skipping:
                    self._skipping = not event.message_finished
                    continue
                chunk: str | bytes = event.data if isinstance(event.data, str) else bytes(event.data)
                if self._parts is None and event.message_finished:
                    payload = chunk
                else:
                    if self._parts is None:
                        self._parts = []
                    self._parts.append(chunk)
                    self._size += len(chunk)
                    # A code point is at least one byte: past the limit in characters
                    # is past it in bytes, without encoding a partial message.
                    if self._size > self.max_bytes:
                        self._parts, self._size = None, 0
                        self._skipping = not event.message_finished
                        found.append((Kind.TOO_BIG, ""))
                        continue
                    if not event.message_finished:
                        continue
                    parts, self._parts, self._size = self._parts, None, 0
                    if isinstance(chunk, str):  # a message's fragments are all text or all binary
                        payload = "".join(p for p in parts if isinstance(p, str))
                    else:
                        payload = b"".join(p for p in parts if isinstance(p, bytes))
                if isinstance(payload, str):
                    too_big = len(payload) * 4 > self.max_bytes and len(payload.encode()) > self.max_bytes
                    found.append((Kind.TOO_BIG, "") if too_big else (Kind.TEXT, payload))
                else:
                    found.append((Kind.TOO_BIG, "") if len(payload) > self.max_bytes else (Kind.BINARY, payload))
            elif isinstance(event, Ping):
                if connection.state is ConnectionState.OPEN:
                    self.out.push(connection.send(event.response()))
            elif isinstance(event, CloseConnection):
                if connection.state is ConnectionState.REMOTE_CLOSING:
                    self.out.push(connection.send(event.response()))
                elif connection.state is ConnectionState.OPEN:
                    # wsproto could not parse a frame (bad UTF-8, reserved bits, ...):
                    # it names the close code (1002, 1007); send it and stop reading.
                    self.out.push(connection.send(CloseConnection(event.code, event.reason)))
                found.append((Kind.CLOSED, ""))
                return found
        self.pending = handled == BATCH_EVENTS  # (maybe nothing is left: one empty call)
        return found

    def close(self, code: int, reason: str) -> None:
        """Start the close handshake (queued after what is already queued)."""
        if self.connection.state is ConnectionState.OPEN:
            self.out.push(self.connection.send(CloseConnection(code, reason)))

    @property
    def closed(self) -> bool:
        return self.connection.state is ConnectionState.CLOSED
