"""The node's server side of WebSocket (quizd.gateway.websocket) on real sockets.

The frames come from wsproto's client side, so both ends speak the real protocol; the
bytes go through a real socketpair where the reading is under test.
"""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime

import pytest
import trio
from websockets import http11 as ws_http11
from websockets.server import ServerProtocol
from websockets.streams import StreamReader
from wsproto import ConnectionType, WSConnection
from wsproto.connection import Connection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)

from quizd.gateway.outbound import OutboundStream
from quizd.gateway.websocket import (
    BATCH_EVENTS,
    MAX_REQUEST_BYTES,
    RECEIVE_BYTES,
    Kind,
    Messages,
    Reader,
    Upgrade,
    handshake,
)

LIMIT = 1000


class Ends:
    """A server-side ``OutboundStream`` + ``Reader`` and the client's plain socket."""

    def __init__(self, nursery: trio.Nursery) -> None:
        left, right = trio.socket.socketpair()
        self.out = OutboundStream(trio.SocketStream(left), max_queue_bytes=1 << 20, spawn=nursery.start_soon)
        self.reader = Reader(self.out)
        self.peer: socket.socket = right._sock  # type: ignore[attr-defined]
        self.peer.setblocking(True)
        self.peer.settimeout(5)

    def received(self) -> bytes:
        return self.peer.recv(1 << 16)


@pytest.fixture
def ends(nursery: trio.Nursery) -> Iterator[Ends]:
    made = Ends(nursery)
    yield made
    made.out.abort()
    made.peer.close()


def client_after_handshake() -> tuple[WSConnection, Connection]:
    """A wsproto client and the server's frame connection, already upgraded."""
    client = WSConnection(ConnectionType.CLIENT)
    server = WSConnection(ConnectionType.SERVER)
    server.receive_data(client.send(Request(host="localhost", target="/ws")))
    next(server.events())
    client.receive_data(server.send(AcceptConnection()))
    assert isinstance(next(client.events()), AcceptConnection)
    assert server.connection is not None
    return client, server.connection


def messages_for(ends: Ends) -> tuple[WSConnection, Messages]:
    client, _ = client_after_handshake()
    return client, Messages(ends.out, LIMIT)


# ---------------------------------------------------------------------- the handshake
async def test_an_upgrade_is_accepted_and_the_http_objects_are_dropped(ends: Ends) -> None:
    client = WSConnection(ConnectionType.CLIENT)
    ends.peer.sendall(client.send(Request(host="localhost", target="/ws?x=1", extra_headers=[(b"Origin", b"o")])))
    seen: list[Upgrade] = []

    def accept(upgrade: Upgrade) -> None:
        seen.append(upgrade)

    # What the listener decided on is not handed on: only the bytes after the request.
    assert await handshake(ends.reader, accept, 5) == b""
    [upgrade] = seen
    assert upgrade.path == "/ws?x=1" and upgrade.headers["Origin"] == "o"
    client.receive_data(ends.received())
    assert isinstance(next(client.events()), AcceptConnection)


async def test_the_101_is_the_one_websockets_would_send(ends: Ends) -> None:
    """The accepting response is built here (``_SwitchingProtocols``), not by
    ``ServerProtocol.accept``: the same bytes, its current ``Date`` included."""
    client = WSConnection(ConnectionType.CLIENT)
    raw = client.send(Request(host="localhost", target="/ws", extra_headers=[(b"Sec-WebSocket-Extensions", b"x")]))
    ends.peer.sendall(raw)
    assert await handshake(ends.reader, lambda upgrade: None, 5) == b""
    ours = ends.received()
    buffer = StreamReader()
    parser = ws_http11.Request.parse(buffer.read_line)
    buffer.feed_data(raw)
    with pytest.raises(StopIteration) as parsed:
        next(parser)
    theirs = ServerProtocol().accept(parsed.value.value).serialize()
    date = re.compile(rb"\r\nDate: [^\r]+\r\n")
    assert date.sub(b"\r\nDate: -\r\n", ours) == date.sub(b"\r\nDate: -\r\n", theirs)
    [line] = date.findall(ours)
    sent = parsedate_to_datetime(line[8:-2].decode())
    assert abs(sent.timestamp() - time.time()) < 5 and sent.tzname() == "UTC"
    client.receive_data(ours)
    assert isinstance(next(client.events()), AcceptConnection)


async def test_an_invalid_upgrade_is_refused_as_websockets_would(ends: Ends) -> None:
    """A request that fails websockets' checks gets its ``accept``'s refusal."""
    ends.peer.sendall(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: not-a-key\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    assert await handshake(ends.reader, lambda upgrade: None, 5) is None
    response = ends.received()
    assert response.startswith(b"HTTP/1.1 400 ") and b"Sec-WebSocket-Key" in response


async def test_a_refused_upgrade_gets_its_status_and_body(ends: Ends) -> None:
    client = WSConnection(ConnectionType.CLIENT)
    ends.peer.sendall(client.send(Request(host="localhost", target="/elsewhere")))
    assert await handshake(ends.reader, lambda upgrade: (404, "not found: connect to /ws"), 5) is None
    client.receive_data(ends.received())
    events = list(client.events())
    assert isinstance(events[0], RejectConnection) and events[0].status_code == 404
    assert b"".join(e.data for e in events if isinstance(e, RejectData)) == b"not found: connect to /ws"


async def test_plain_http_is_refused_with_426(ends: Ends) -> None:
    ends.peer.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n")
    assert await handshake(ends.reader, lambda upgrade: None, 5) is None
    response = ends.received()
    assert response.startswith(b"HTTP/1.1 426 ") and b"\r\nUpgrade: websocket\r\n" in response


async def test_what_is_not_http_is_refused_with_400(ends: Ends) -> None:
    ends.peer.sendall(b"\x16\x03\x01 not an HTTP request\r\n\r\n")
    assert await handshake(ends.reader, lambda upgrade: None, 5) is None
    assert ends.received().startswith(b"HTTP/1.1 400 ")


async def test_a_request_larger_than_the_bound_is_refused(ends: Ends) -> None:
    """Header lines under websockets' own line limit, but more of them than the bound."""
    lines = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"y" * 1000) for i in range(MAX_REQUEST_BYTES // 1000 + 2))
    ends.peer.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\n" + lines)
    assert await handshake(ends.reader, lambda upgrade: None, 5) is None
    assert ends.received().startswith(b"HTTP/1.1 431 ")


async def test_frames_sent_before_the_101_are_read_not_dropped(ends: Ends) -> None:
    client = WSConnection(ConnectionType.CLIENT)
    request = client.send(Request(host="localhost", target="/ws"))
    # wsproto's client will not frame before the 101: a second client, already open,
    # frames the message (a client's frame is valid on any connection).
    early, _ = client_after_handshake()
    ends.peer.sendall(request + early.send(TextMessage("too soon")))
    early_bytes = await handshake(ends.reader, lambda upgrade: None, 5)
    assert early_bytes
    messages = Messages(ends.out, LIMIT, early_bytes)
    assert messages.pending
    assert messages.feed(b"") == [(Kind.TEXT, "too soon")]
    assert not messages.pending


async def test_a_handshake_that_never_completes_times_out(ends: Ends, autojump_clock: trio.testing.MockClock) -> None:
    ends.peer.sendall(b"GET /ws HTTP/1.1\r\n")
    start = trio.current_time()
    assert await handshake(ends.reader, lambda upgrade: None, 10) is None
    assert trio.current_time() - start == pytest.approx(10)


@pytest.mark.parametrize(("rest_after", "done_after"), [(9.0, 9.0), (11.0, 10.0)])
async def test_a_request_in_two_parts_has_one_deadline(
    ends: Ends, autojump_clock: trio.testing.MockClock, rest_after: float, done_after: float
) -> None:
    """The first part is read at once (no wait), the rest is waited for: both within
    the one deadline the whole request has (10 s), not a fresh one per read."""
    request = WSConnection(ConnectionType.CLIENT).send(Request(host="localhost", target="/ws"))
    ends.peer.sendall(request[:20])

    async def rest() -> None:
        await trio.sleep(rest_after)
        ends.peer.sendall(request[20:])

    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(rest)
        result = await handshake(ends.reader, lambda upgrade: None, 10)
        took = trio.current_time() - start
    assert (result is not None) is (rest_after < 10)
    assert took == pytest.approx(done_after)


# ---------------------------------------------------------------------- reading
async def test_a_closed_stream_never_reads_its_descriptor_again(ends: Ends) -> None:
    """Aborted while its task was not waiting (a failed write, say): the descriptor's
    number may be reused at once by a newer connection, whose bytes must stay its own."""
    ends.peer.sendall(b"first")
    assert await ends.reader.receive() == b"first"
    fd = ends.out.fd
    assert fd is not None
    ends.out.abort()
    newer, newer_peer = socket.socketpair()
    try:
        newer_peer.sendall(b"not yours")
        # Whether or not the number was reused, the closed reader reads nothing.
        assert await ends.reader.receive() == b""
        newer.setblocking(False)
        assert newer.recv(100) == b"not yours"
    finally:
        newer.close()
        newer_peer.close()


async def test_eof_reads_as_empty_bytes(ends: Ends) -> None:
    ends.peer.shutdown(socket.SHUT_WR)
    assert await ends.reader.receive() == b""


async def test_a_full_read_is_followed_by_another_without_waiting(ends: Ends) -> None:
    ends.peer.sendall(b"x" * (RECEIVE_BYTES + 10))
    assert len(await ends.reader.receive()) == RECEIVE_BYTES
    assert await ends.reader.receive() == b"x" * 10


# ---------------------------------------------------------------------- messages
async def test_whole_text_and_binary_messages(ends: Ends) -> None:
    client, messages = messages_for(ends)
    data = client.send(TextMessage("héllo")) + client.send(BytesMessage(b"\x00\x01"))
    assert messages.feed(data) == [(Kind.TEXT, "héllo"), (Kind.BINARY, b"\x00\x01")]


async def test_fragments_are_joined(ends: Ends) -> None:
    client, messages = messages_for(ends)
    first = client.send(TextMessage("ab", message_finished=False))
    rest = client.send(TextMessage("cd", message_finished=True))
    assert messages.feed(first) == []
    assert messages.feed(rest) == [(Kind.TEXT, "abcd")]


async def test_a_message_split_across_reads_is_whole_when_it_ends(ends: Ends) -> None:
    client, messages = messages_for(ends)
    data = client.send(TextMessage("x" * 300))
    assert messages.feed(data[:100]) == []
    assert messages.feed(data[100:]) == [(Kind.TEXT, "x" * 300)]


async def test_too_big_is_found_before_it_is_all_buffered_and_closes_1009(ends: Ends) -> None:
    """The second fragment's header says 600 more bytes where 400 are left: found from
    the header, before its payload is buffered; nothing after it is read."""
    client, messages = messages_for(ends)
    assert messages.feed(client.send(TextMessage("x" * 600, message_finished=False))) == []
    second = client.send(TextMessage("x" * 600, message_finished=False))
    assert messages.feed(second[:8]) == [(Kind.TOO_BIG, "")]  # the header alone
    assert messages.feed(second[8:] + client.send(TextMessage("next"))) == []  # dropped
    client.receive_data(ends.received())
    event = next(client.events())
    assert isinstance(event, CloseConnection) and event.code == 1009


async def test_the_limit_is_in_utf8_bytes(ends: Ends) -> None:
    client, messages = messages_for(ends)
    assert messages.feed(client.send(TextMessage("é" * 400))) == [(Kind.TEXT, "é" * 400)]  # 800 bytes
    assert messages.feed(client.send(TextMessage("é" * 501))) == [(Kind.TOO_BIG, "")]  # 1,002 bytes


async def test_a_ping_is_answered_with_its_pong(ends: Ends) -> None:
    client, messages = messages_for(ends)
    assert messages.feed(client.send(Ping(b"are you there"))) == []
    client.receive_data(ends.received())
    assert [e for e in client.events()] == [Pong(b"are you there")]


async def test_the_peers_close_is_answered_and_ends_the_reading(ends: Ends) -> None:
    client, messages = messages_for(ends)
    assert messages.feed(client.send(CloseConnection(1000, "bye"))) == [(Kind.CLOSED, "")]
    client.receive_data(ends.received())
    event = next(client.events())
    assert isinstance(event, CloseConnection) and event.code == 1000
    assert messages.closed


async def test_our_close_then_the_peers_answer(ends: Ends) -> None:
    client, messages = messages_for(ends)
    messages.close(4004, "the quiz has ended")
    client.receive_data(ends.received())
    event = next(client.events())
    assert isinstance(event, CloseConnection) and event.code == 4004
    assert messages.feed(client.send(event.response())) == [(Kind.CLOSED, "")]
    assert messages.closed


async def test_invalid_utf8_closes_1007(ends: Ends) -> None:
    client, messages = messages_for(ends)
    frame = bytearray(client.send(BytesMessage(b"\xff\xfe")))
    frame[0] = (frame[0] & 0xF0) | 0x1  # the same payload, as a text frame
    assert messages.feed(bytes(frame)) == [(Kind.CLOSED, "")]
    client.receive_data(ends.received())
    event = next(client.events())
    assert isinstance(event, CloseConnection) and event.code == 1007


async def test_a_read_of_many_frames_comes_a_batch_at_a_time_in_order(ends: Ends) -> None:
    """Nothing is lost or reordered across batches: a ping answered in its place, a
    fragmented message split by a batch boundary, and the close at the end."""
    client, messages = messages_for(ends)
    count = 3 * BATCH_EVENTS
    data = b"".join(client.send(TextMessage(str(i))) for i in range(count - 2))
    data += client.send(Ping(b"p")) + client.send(TextMessage("frag", message_finished=False))
    data += client.send(TextMessage("ment")) + client.send(CloseConnection(1000))
    got = messages.feed(data)
    batches = 1
    assert len(got) == BATCH_EVENTS and messages.pending
    while messages.pending:
        batch = messages.feed(b"")
        assert len(batch) <= BATCH_EVENTS
        got += batch
        batches += 1
    assert batches == 4
    assert got == [(Kind.TEXT, str(i)) for i in range(count - 2)] + [(Kind.TEXT, "fragment"), (Kind.CLOSED, "")]
    client.receive_data(ends.received())
    assert [type(e) for e in client.events()] == [Pong, CloseConnection]


async def test_an_unmasked_client_frame_closes_1002(ends: Ends) -> None:
    client, messages = messages_for(ends)
    _, server_side = client_after_handshake()  # a server's frames are not masked
    assert messages.feed(server_side.send(TextMessage("unmasked"))) == [(Kind.CLOSED, "")]
    client.receive_data(ends.received())
    event = next(client.events())
    assert isinstance(event, CloseConnection) and event.code == 1002


async def test_reserved_bits_close_1002(ends: Ends) -> None:
    client, messages = messages_for(ends)
    frame = bytearray(client.send(TextMessage("x")))
    frame[0] |= 0x40  # RSV1: no extension was negotiated
    assert messages.feed(bytes(frame)) == [(Kind.CLOSED, "")]
    client.receive_data(ends.received())
    event = next(client.events())
    assert isinstance(event, CloseConnection) and event.code == 1002


async def test_our_close_ignores_messages_until_the_peers_close(ends: Ends) -> None:
    """After our close frame the peer may still send what it had in flight: read, not
    answered (no pong once closing), until its close ends the handshake."""
    client, messages = messages_for(ends)
    messages.close(4001, "kicked")
    in_flight = client.send(TextMessage("late")) + client.send(Ping(b"late"))
    assert messages.feed(in_flight) == [(Kind.TEXT, "late")]
    client.receive_data(ends.received())
    event = next(client.events())
    assert isinstance(event, CloseConnection) and event.code == 4001
    assert messages.feed(client.send(event.response())) == [(Kind.CLOSED, "")]
    assert messages.closed


def test_receive_bytes_is_a_page_multiple() -> None:
    assert RECEIVE_BYTES % os.sysconf("SC_PAGE_SIZE") == 0


async def test_nothing_is_written_after_the_close_echo(ends: Ends) -> None:
    """Messages read with the peer's close but handed on in later batches: their
    replies would follow our close frame (RFC 6455 5.5.1), so the stream is sealed."""
    client, messages = messages_for(ends)
    data = b"".join(client.send(TextMessage(str(i))) for i in range(2 * BATCH_EVENTS))
    data += client.send(CloseConnection(1000))
    assert len(messages.feed(data)) == BATCH_EVENTS and messages.pending
    assert ends.out.push(b"a reply to message 0") is False
    rest = messages.feed(b"")
    while messages.pending:
        rest += messages.feed(b"")
    assert rest[-1] == (Kind.CLOSED, "") and len(rest) == BATCH_EVENTS + 1
    client.receive_data(ends.received())
    assert [type(e) for e in client.events()] == [CloseConnection]


async def test_our_close_seals_the_stream(ends: Ends) -> None:
    client, messages = messages_for(ends)
    messages.close(4004, "the quiz has ended")
    assert ends.out.push(b"a late broadcast") is False
    client.receive_data(ends.received())
    assert [type(e) for e in client.events()] == [CloseConnection]


async def test_a_long_close_reason_is_cut_to_what_a_close_frame_holds(ends: Ends) -> None:
    client, messages = messages_for(ends)
    messages.close(4001, "é" * 200)  # 400 bytes of UTF-8; a close frame holds 123
    client.receive_data(ends.received())
    event = next(client.events())
    assert isinstance(event, CloseConnection) and event.code == 4001
    assert event.reason == "é" * 61


async def test_a_broken_frame_before_the_101_is_told_before_any_read(ends: Ends) -> None:
    _, server_side = client_after_handshake()  # a server's frames are not masked
    messages = Messages(ends.out, LIMIT, server_side.send(TextMessage("unmasked")))
    assert messages.pending
    assert messages.feed(b"") == [(Kind.CLOSED, "")]


async def test_a_read_full_of_pings_is_answered_in_one_write(ends: Ends) -> None:
    client, messages = messages_for(ends)
    assert messages.feed(b"".join(client.send(Ping(b"%d" % i)) for i in range(300))) == []
    assert ends.out.bytes_written > 0
    received = b""
    while len(received) < ends.out.bytes_written:
        received += ends.received()
    client.receive_data(received)
    assert [e.payload for e in client.events()] == [b"%d" % i for i in range(300)]
