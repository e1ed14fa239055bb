"""What the WebSocket layer costs the node per frame, per reply and per connection.

Times, in this process and on one core, the three things the listener does with a
WebSocket library, for the library it used before (wsproto, through which trio-websocket
works) and the one it uses now (websockets' sans-I/O protocol):

* parse one small masked client text frame (an answer), per connection object;
* frame one ~130-byte JSON reply (unmasked, server to client);
* the upgrade: parse the request, check it, build the 101;

and the memory a connection's protocol state keeps once open (tracemalloc).  The
figures in docs/architecture.md ("The WebSocket path") come from this script:

    PYTHONPATH=$PWD .venv/bin/python bench/ws_cost.py [--n 20000]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from websockets.frames import Frame, Opcode
from websockets.http11 import Request as WsRequest
from websockets.protocol import SERVER, Protocol
from websockets.server import ServerProtocol
from websockets.streams import StreamReader
from wsproto import ConnectionType, WSConnection
from wsproto.connection import Connection
from wsproto.events import AcceptConnection, Request
from wsproto.frame_protocol import FrameProtocol
from wsproto.handshake import H11Handshake

ANSWER = '{"type":"answer","id":"a7","payload":{"questionId":"q1","choice":2}}'
REPLY = (
    b'{"type":"answer_result","re":"a7","payload":{"questionId":"q1","choice":2,'
    b'"correct":true,"points":950,"score":2900,"streak":2,"rank":17}}'
)


def client_frame() -> bytes:
    return bytes(FrameProtocol(client=True, extensions=[]).send_data(ANSWER, fin=True))


def upgrade_request() -> bytes:
    request = Request(host="localhost:8080", target="/ws", extra_headers=[(b"Origin", b"https://app.example")])
    return WSConnection(ConnectionType.CLIENT).send(request)


def per_item_us(n: int, setup: Callable[[], list[Any]], run: Callable[[Any], None]) -> float:
    items = setup()
    start = time.perf_counter()
    for item in items:
        run(item)
    return (time.perf_counter() - start) / n * 1e6


def wsproto_parse(conn: Connection, frame: bytes) -> None:
    conn.receive_data(frame)
    for _ in conn.events():
        pass


def websockets_parse(protocol: Protocol, frame: bytes) -> None:
    protocol.receive_data(frame)
    for event in protocol.events_received():
        str(event.data, "utf-8")


def wsproto_upgrade(request: bytes) -> Connection:
    shake = H11Handshake(ConnectionType.SERVER)
    shake.receive_data(request)
    next(e for e in shake.events() if isinstance(e, Request))
    shake.send(AcceptConnection())
    assert shake.connection is not None
    return shake.connection


def websockets_upgrade(request: bytes) -> Protocol:
    """As ``quizd.gateway.websocket.handshake`` does it: websockets' request parser on
    a buffer of its own, ``ServerProtocol.accept``, then a frame ``Protocol``."""
    buffer = StreamReader()
    parser = WsRequest.parse(buffer.read_line)
    buffer.feed_data(request)
    try:
        next(parser)
    except StopIteration as done:
        parsed = done.value
    shake = ServerProtocol()
    shake.accept(parsed).serialize()
    return Protocol(SERVER, max_size=4096)


def kept_bytes(n: int, make: Callable[[], Any]) -> float:
    tracemalloc.start()
    kept = [make() for _ in range(n)]
    current, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(kept) == n
    return current / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20000)
    n = parser.parse_args().n
    frame, request = client_frame(), upgrade_request()
    wsproto_framer = FrameProtocol(client=False, extensions=[])
    rows = [
        (
            "parse one answer frame (µs)",
            per_item_us(
                n, lambda: [Connection(ConnectionType.SERVER) for _ in range(n)], lambda c: wsproto_parse(c, frame)
            ),
            per_item_us(
                n, lambda: [Protocol(SERVER, max_size=4096) for _ in range(n)], lambda p: websockets_parse(p, frame)
            ),
        ),
        (
            "frame one reply (µs)",
            per_item_us(n, lambda: [REPLY] * n, lambda b: wsproto_framer.send_data(b.decode(), fin=True)),
            per_item_us(n, lambda: [REPLY] * n, lambda b: Frame(Opcode.TEXT, b).serialize(mask=False)),
        ),
        (
            "the upgrade (µs)",
            per_item_us(n // 4, lambda: [request] * (n // 4), wsproto_upgrade),
            per_item_us(n // 4, lambda: [request] * (n // 4), websockets_upgrade),
        ),
        (
            "protocol state kept per open connection (bytes)",
            kept_bytes(n // 4, lambda: wsproto_upgrade(request)),
            kept_bytes(n // 4, lambda: websockets_upgrade(request)),
        ),
    ]
    print(f"| per connection or frame, n={n} | wsproto | websockets | ratio |")
    print("|---|---|---|---|")
    for name, old, new in rows:
        print(f"| {name} | {old:,.1f} | {new:,.1f} | {new / old:.2f}× |")


if __name__ == "__main__":
    main()
