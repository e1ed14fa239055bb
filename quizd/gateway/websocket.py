"""The server side of one WebSocket on websockets' sans-I/O layer: the upgrade, then frames.

trio-websocket (which quizd's client, tests and load generator use) gives each server
connection a reader task, a memory channel and a handful of events: every frame is
parsed in that task, queued, and taken by the session's task, and every idle connection
holds both tasks.  On the answer burst that was a task switch and a channel hop per
frame, and about half the memory of an idle connection.  So the node's listener speaks
WebSocket itself, in the connection's one task, through the sans-I/O protocol of the
``websockets`` library (``ServerProtocol`` for the upgrade, ``Protocol`` for the
frames), whose frame parser unmasks in C: 4 µs a small frame against wsproto's 21 µs,
measured in docs/architecture.md ("The WebSocket path").

* :func:`handshake` reads the HTTP upgrade (at most ``MAX_REQUEST_BYTES``) and answers
  it; once accepted, only a frame ``Protocol`` is kept, the HTTP objects are dropped.
* :class:`Reader` reads the socket without a task of its own: it waits for the
  descriptor to be readable and reads it once, and waits again only when the last read
  did not fill its buffer (a second read would only say "nothing more").
* :class:`Messages` joins fragmented messages under the size limit, checks text is
  UTF-8, and lets the protocol answer pings and closes; the session gets whole text or
  binary messages and the close.

Everything written goes through the connection's :class:`OutboundStream` (handshake
response, pongs, close frames and the node's own pre-framed JSON), so writes interleave
only at frame boundaries.
"""

from __future__ import annotations

import enum
import logging
import os
import time
from collections.abc import Callable
from email.utils import formatdate
from typing import cast

import attrs
import trio
from websockets.datastructures import Headers
from websockets.exceptions import PayloadTooBig, RequestLineTooLong, SecurityError
from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import SERVER, Protocol, State
from websockets.server import ServerProtocol
from websockets.streams import StreamReader
from websockets.typing import BytesLike

from quizd.gateway.outbound import OutboundStream

# websockets logs every connection's open and close at INFO: at 10,000 players that
# drowns the node's own log, so its protocol objects log here, from WARNING up.
_protocol_log = logging.getLogger("quizd.gateway.websocket")
_protocol_log.setLevel(logging.WARNING)

# Bytes asked of the socket per read: a frame of the wire protocol is a few hundred.
RECEIVE_BYTES = 16384
# Frames handed on per call of ``Messages.feed``.  One read can hold thousands of small
# frames (16 KiB of empty ones is 2,730): the protocol parses them all at once (a few
# microseconds each, about 10 ms for such a read), and the session handles them a batch
# at a time (rate limit, JSON, the quiz), letting the rest of the node run between
# batches, so one flooding peer holds the event loop for a batch, never for a whole read.
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
            # again; checked after every wait (in ``read_now``), with no await between
            # check and read.
            if out.closed:
                return b""
            try:
                if self._more:
                    await trio.lowlevel.checkpoint()  # a flooding peer still lets others run
                else:
                    await trio.lowlevel.wait_readable(fd)
            except (OSError, trio.ClosedResourceError):
                return b""
            data = self.read_now()
            if data is None:
                self._more = False
                continue
            self._more = len(data) == RECEIVE_BYTES
            return data

    async def receive_before(self, deadline: float, *, try_first: bool = False) -> bytes | None:
        """The next bytes (``b""`` as ``receive``); None when none came before ``deadline``.

        With ``try_first``, bytes that have already arrived are taken at once, without
        the deadline's cancel scope: a scope costs more than the read that usually makes
        it unnecessary (``bench/scope_cost.py``).  Only a connection's first read of a
        phase tries first; every other read waits (a checkpoint each)."""
        if try_first and self._fd is not None and trio.current_time() < deadline:
            data = self.read_now()
            if data is not None:
                return data
        with trio.move_on_at(deadline):
            return await self.receive()
        return None

    def read_now(self) -> bytes | None:
        """One read without waiting (the read poller's): the bytes; ``b""`` when the peer
        closed or the connection is gone; None when nothing is there yet."""
        out = self.out
        if out.closed or self._fd is None:
            return b""
        try:
            data = os.read(self._fd, RECEIVE_BYTES)
        except BlockingIOError:
            return None
        except OSError:
            return b""
        out.last_received_at = trio.current_time()
        return data


@attrs.frozen(slots=True)
class Upgrade:
    """The accepted upgrade request: what the listener decides on.

    ``headers`` is the request's own (websockets' case-insensitive ``Headers``), not a
    copy: the listener reads one or two of them."""

    path: str
    headers: Headers


#: Decides on an upgrade: (status, body) to refuse it, None to accept it.
Refusal = Callable[[Upgrade], "tuple[int, str] | None"]

# Checks every upgrade (``process_request``) and words every refusal (``reject``,
# ``accept``): these only read the request and the protocol's settings (no origins,
# extensions or subprotocols here), so one instance serves all connections, instead of
# one built per connection (9 µs each; the frames have a ``Protocol`` of their own, in
# ``Messages``).
_UPGRADES = ServerProtocol(logger=_protocol_log)


class _SwitchingProtocols:
    """The 101 that accepts an upgrade, as ``ServerProtocol.accept`` would build it.

    ``accept`` runs the checks (``process_request``, which ``handshake`` calls itself), then
    builds a ``Headers``, a ``Date`` (``email.utils.formatdate``), a ``Response``, and
    serializes them: 16 of its 30 µs per connection, for bytes that differ only in the
    key's hash and, once a second, the date.  So the bytes before the hash are kept per
    second (no extensions or subprotocols are offered, so there are no more headers)."""

    __slots__ = ("_second", "_head")

    def __init__(self) -> None:
        self._second = -1
        self._head = b""

    def __call__(self, accept_header: str) -> bytes:
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._head = (
                "HTTP/1.1 101 Switching Protocols\r\n"
                f"Date: {formatdate(second, usegmt=True)}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "
            ).encode()
        return self._head + accept_header.encode() + b"\r\n\r\n"


_switching_protocols = _SwitchingProtocols()

# The upgrade request may take this many bytes (request line and headers): a browser's
# is well under 2 KiB.  websockets alone would buffer up to 128 header lines of 8 KiB.
MAX_REQUEST_BYTES = 16384


async def handshake(reader: Reader, refusal: Refusal, timeout_s: float) -> bytes | None:
    """Read the upgrade request and answer it; once it is accepted, the bytes the
    client sent after it (frames, usually none).  The request itself is not kept: its
    headers (2 KB) would live as long as the connection.

    None when the request is refused (``refusal`` gives the status and body), is not a
    WebSocket upgrade (websockets' 400 or 426, with the reason), is not HTTP (400), is
    larger than ``MAX_REQUEST_BYTES`` (431), or does not arrive complete within
    ``timeout_s``.
    """
    out = reader.out
    # websockets' request parser on a buffer of our own, so that it stops at the end of
    # the request: bytes after it are frames, read by the connection's Messages.
    buffer = StreamReader()
    parser = Request.parse(buffer.read_line)
    shake = _UPGRADES
    request: Request | None = None
    received = 0
    deadline = trio.current_time() + timeout_s  # one for the whole request
    first = True  # usually the whole request is in before this task first runs
    while request is None:
        data = await reader.receive_before(deadline, try_first=first)
        first = False
        if not data:
            return None  # None: not complete within timeout_s; b"": the peer closed
        received += len(data)
        buffer.feed_data(data)
        try:
            next(parser)
        except StopIteration as done:
            request = done.value
        except Exception as err:  # websockets' parse errors: ValueError, SecurityError, ...
            status = 414 if isinstance(err, RequestLineTooLong) else 431 if isinstance(err, SecurityError) else 400
            out.push(shake.reject(status, f"not a valid HTTP upgrade request: {err}\n").serialize())
            return None
        # Incomplete: all it has sent is buffered or parsed; complete: the bytes after
        # it are frames.
        if (received if request is None else received - len(buffer.buffer)) > MAX_REQUEST_BYTES:
            out.push(shake.reject(431, f"the upgrade request is larger than {MAX_REQUEST_BYTES} bytes\n").serialize())
            return None
    refused = refusal(Upgrade(request.path, request.headers))
    if refused is not None:
        out.push(shake.reject(*refused).serialize())
        return None
    try:
        accept_header, _, _ = shake.process_request(request)  # websockets' checks
    except Exception:
        # Not a valid upgrade: websockets' ``accept`` says why (400, 403, 405, 426, ...).
        out.push(shake.accept(request).serialize())
        return None
    out.push(_switching_protocols(accept_header))
    # A client should wait for the 101 before its first frame; one that did not has
    # its frames read, not dropped.
    return bytes(buffer.buffer)


class Kind(enum.Enum):
    """What :meth:`Messages.feed` found."""

    TEXT = "text"
    BINARY = "binary"
    TOO_BIG = "too_big"  # a message past the limit: the protocol closed 1009 already
    CLOSED = "closed"  # the close handshake is over (or the peer broke the protocol)


class Messages:
    """Whole messages out of a websockets frame ``Protocol``, under ``max_bytes`` each.

    The protocol answers pings and the peer's close itself, and checks each frame's
    length against what is left of the limit before its payload is buffered (a message
    past it closes 1009).  Fragments are joined here and text is checked to be UTF-8
    (1007).  At most ``BATCH_EVENTS`` frames are handed on per call: ``pending`` then
    says that frames already received wait for the next call (``feed(b"")``), before
    any new read.
    """

    __slots__ = ("protocol", "out", "pending", "_frames", "_parts", "_text", "_ended")

    def __init__(self, out: OutboundStream, max_bytes: int, early: bytes = b"") -> None:
        self.protocol = Protocol(SERVER, max_size=max_bytes, logger=_protocol_log)
        self.out = out
        self._frames: list[Frame] = []
        self._parts: list[BytesLike] | None = None  # a fragmented message so far
        self._text = False  # ... and whether it is text
        self.pending = False  # received frames left for the next batch
        self._ended = False  # the close or the failure was handed on: nothing more is
        if early:
            self.protocol.receive_data(early)
            self._frames = self._received()
            self._send_protocol_writes()
            # A broken frame among them is told by the next feed, before any read.
            self.pending = bool(self._frames) or self.protocol.parser_exc is not None

    def feed(self, data: bytes) -> list[tuple[Kind, str | bytes]]:
        """The messages (and a final close) that ``data`` completes, in order: those of
        the next ``BATCH_EVENTS`` frames of what was received (see ``pending``)."""
        protocol = self.protocol
        if self._ended:
            return []
        if data and protocol.parser_exc is None and protocol.close_rcvd is None:
            protocol.receive_data(data)
            frames = self._received()
            self._frames = self._frames + frames if self._frames else frames
            self._send_protocol_writes()
        if len(self._frames) <= BATCH_EVENTS:
            batch, self._frames = self._frames, []
        else:
            batch, self._frames = self._frames[:BATCH_EVENTS], self._frames[BATCH_EVENTS:]
        self.pending = bool(self._frames)
        found: list[tuple[Kind, str | bytes]] = []
        for frame in batch:
            opcode = frame.opcode
            if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
                if frame.fin:
                    found.append(self._message(opcode is Opcode.TEXT, frame.data))
                else:
                    self._parts, self._text = [frame.data], opcode is Opcode.TEXT
            elif opcode is Opcode.CONT:
                assert self._parts is not None  # the protocol refuses a stray continuation (1002)
                self._parts.append(frame.data)
                if frame.fin:
                    parts, self._parts = self._parts, None
                    found.append(self._message(self._text, b"".join(parts)))
            elif opcode is Opcode.CLOSE:
                found.append((Kind.CLOSED, ""))
            if found and found[-1][0] is Kind.CLOSED:
                self._end()
                return found
        if not self.pending and protocol.parser_exc is not None:
            # The protocol failed the connection (a broken frame 1002, too big 1009) and
            # sent its close; nothing after the frames it parsed is read.
            self._end()
            found.append((Kind.TOO_BIG, "") if isinstance(protocol.parser_exc, PayloadTooBig) else (Kind.CLOSED, ""))
        return found

    def _end(self) -> None:
        self._ended, self._frames, self._parts, self.pending = True, [], None, False

    def _received(self) -> list[Frame]:
        # A frame Protocol's events are the frames it parsed (no HTTP once open).
        return cast("list[Frame]", self.protocol.events_received())

    def _message(self, text: bool, data: BytesLike) -> tuple[Kind, str | bytes]:
        if not text:
            return Kind.BINARY, bytes(data)
        try:
            return Kind.TEXT, str(data, "utf-8")
        except UnicodeDecodeError:
            self._fail(CloseCode.INVALID_DATA, "invalid UTF-8 in a text message")
            return Kind.CLOSED, ""

    def _fail(self, code: int, reason: str) -> None:
        if self.protocol.state is State.OPEN:
            self.protocol.fail(code, reason)
            self._send_protocol_writes()

    def _send_protocol_writes(self) -> None:
        # Pongs and close frames, in one push (a read full of pings is one write, not
        # thousands); websockets' end-of-stream mark (b"") is the session's end, which
        # closes the socket once the queue has gone.
        writes = b"".join(self.protocol.data_to_send())
        if writes:
            self.out.push(writes)
        if self.protocol.close_sent is not None:
            # RFC 6455 5.5.1: no data frame after our close frame (ours, or the echo of
            # the peer's): replies to messages read with it, broadcasts, are dropped.
            self.out.seal()

    def close(self, code: int, reason: str) -> None:
        """Start the close handshake (queued after what is already queued)."""
        if self.protocol.state is State.OPEN:
            # A close frame carries at most 123 bytes of reason.
            self.protocol.send_close(code, reason.encode()[:123].decode("utf-8", "ignore"))
            self._send_protocol_writes()

    @property
    def closed(self) -> bool:
        return self.protocol.state is State.CLOSED or self.protocol.close_rcvd is not None
