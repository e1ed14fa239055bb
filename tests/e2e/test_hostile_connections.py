"""Connection bounds under hostile load, on a real node over real sockets.

Sockets that never finish a WebSocket handshake count against both caps from TCP accept
and are dropped at once beyond a margin; idle HTTP connections (HTTP/2 prior knowledge
with no stream, HTTP/1.1 with half a request line) are closed; and with a small
RLIMIT_NOFILE a flood of sockets on both ports leaves ``/healthz`` and a joined player
answering (quizd.gateway.admission, quizd.http.bounds, docs/operations.md).

Timeouts and margins are module constants, so the node is started with them patched
(``python -c``) and, for the descriptor test, under ``prlimit``.
"""

from __future__ import annotations

import shutil
import socket
import sys
from collections.abc import Sequence
from typing import Any

import pytest
import trio

from quizd.client import ControlClient, connect
from tests.e2e.httpkit import metric
from tests.e2e.protocolkit import close_code
from tests.nodekit import quiz_toml

pytestmark = pytest.mark.e2e

DEFS = {"q": quiz_toml("q", questions=2)}
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
H2_EMPTY_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # length 0, type SETTINGS, stream 0
READ_TIMEOUT_S = 2  # the patched quizd.http.bounds.READ_TIMEOUT_S
REFUSAL_HANDSHAKE_TIMEOUT_S = 3.0


def patched(constants: dict[str, Any], nofile: int | None = None) -> Sequence[str]:
    """``python -m quizd`` with ``module.NAME`` constants set first, maybe under prlimit."""
    lines = []
    for dotted, value in constants.items():
        module, name = dotted.rsplit(".", 1)
        lines.append(f"import {module}; {module}.{name} = {value!r}")
    lines.append("from quizd.cli import main; raise SystemExit(main())")
    command = [sys.executable, "-c", "\n".join(lines)]
    if nofile is not None:
        command = ["prlimit", f"--nofile={nofile}:{nofile}", "--", *command]
    return command


FAST = {
    "quizd.http.bounds.READ_TIMEOUT_S": READ_TIMEOUT_S,
    "quizd.gateway.admission.REFUSAL_HANDSHAKE_TIMEOUT_S": REFUSAL_HANDSHAKE_TIMEOUT_S,
    "quizd.gateway.admission.NODE_FULL_MARGIN": 3,
    "quizd.gateway.admission.PER_IP_MARGIN": 3,
}


async def open_raw(address: str, first_bytes: bytes = b"") -> trio.SocketStream:
    host, port = address.rsplit(":", 1)
    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    await sock.connect((host, int(port)))
    stream = trio.SocketStream(sock)
    if first_bytes:
        await stream.send_all(first_bytes)
    return stream


async def closed_within(stream: trio.SocketStream, timeout: float) -> bool:
    """Whether the server closes (EOF or reset) within ``timeout``; what it sends is read."""
    with trio.move_on_after(timeout):
        while True:
            try:
                if not await stream.receive_some(65536):
                    return True
            except trio.BrokenResourceError:
                return True
    return False


async def close_all(streams: list[trio.SocketStream]) -> None:
    for stream in streams:
        await trio.aclose_forcefully(stream)


async def new_quiz(node: Any) -> str:
    created = await ControlClient(node.http_url, node.token).create_quiz("q")
    return str(created["quizId"])


# --------------------------------------------------------------------------- idle HTTP


async def test_http2_prior_knowledge_without_a_stream_is_closed(node_factory):
    node = node_factory(definitions=DEFS, command=patched(FAST))
    stream = await open_raw(node.http_address, H2_PREFACE + H2_EMPTY_SETTINGS)
    started = trio.current_time()
    try:
        assert await closed_within(stream, READ_TIMEOUT_S + 6), "idle HTTP/2 connection kept open"
        assert trio.current_time() - started >= READ_TIMEOUT_S - 0.5
    finally:
        await trio.aclose_forcefully(stream)


async def test_http1_half_request_line_is_closed(node_factory):
    node = node_factory(definitions=DEFS, command=patched(FAST))
    stream = await open_raw(node.http_address, b"GET /healthz HT")
    closed = False

    async def trickle() -> None:
        """A byte every half second: each read succeeds, the request never completes."""
        try:
            for byte in b"TP/1.1\r\nX-Slow: " + b"a" * 100:
                await trio.sleep(0.5)
                await stream.send_all(bytes([byte]))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trickle)
            closed = await closed_within(stream, 5 + 3)
            nursery.cancel_scope.cancel()
        assert closed, "slowloris connection kept open"
    finally:
        await trio.aclose_forcefully(stream)


# --------------------------------------------------------------------------- caps from TCP accept


@pytest.mark.parametrize(
    ("tables", "reason"),
    [
        ({"limits": {"connections_per_ip": 2}}, "per_ip"),
        ({"websocket": {"max_connections": 2}}, "node_full"),
    ],
)
async def test_unfinished_handshakes_count_against_the_caps(node_factory, tables, reason):
    node = node_factory(definitions=DEFS, command=patched(FAST), **tables)
    silent: list[trio.SocketStream] = []
    try:
        # Two sockets that never send a byte fill the cap of 2 ...
        silent += [await open_raw(node.ws_address) for _ in range(2)]
        await trio.sleep(0.3)  # accepted by the node
        # ... so a real client gets a short handshake and 1013.
        async with connect(node.ws_url) as third:
            assert await close_code(third, timeout=5) == 1013
        assert await metric(node, "quizd_connections_refused_total", {"reason": reason, "action": "refused"}) == 1
        # Within the margin (3) over the cap, silent sockets are held for the short
        # handshake; beyond it the node drops them at once, without waiting for a byte.
        silent += [await open_raw(node.ws_address) for _ in range(3)]
        await trio.sleep(0.3)
        extra = await open_raw(node.ws_address)
        silent.append(extra)
        with trio.fail_after(1.5):
            assert await closed_within(extra, 1.5), "a socket beyond the margin was held"
        assert await metric(node, "quizd_connections_refused_total", {"reason": reason, "action": "dropped"}) >= 1
    finally:
        await close_all(silent)


# --------------------------------------------------------------------------- descriptors


@pytest.mark.skipif(shutil.which("prlimit") is None, reason="needs prlimit (util-linux)")
async def test_node_keeps_answering_when_descriptors_run_out(node_factory):
    node = node_factory(definitions=DEFS, command=patched(FAST, nofile=200))
    quiz_id = await new_quiz(node)
    flood: list[trio.SocketStream] = []
    idle_http: list[trio.SocketStream] = []
    async with connect(node.ws_url) as ann:
        assert (await ann.join(quiz_id, name="Ann"))["type"] == "joined"
        try:
            # More silent sockets on the WebSocket port than the process has descriptors.
            for _ in range(300):
                flood.append(await open_raw(node.ws_address))
            # And idle HTTP/2 connections on the control port.
            for _ in range(20):
                idle_http.append(await open_raw(node.http_address, H2_PREFACE + H2_EMPTY_SETTINGS))
            await trio.sleep(0.5)
            asked = trio.current_time()
            status, body = await ControlClient(node.http_url, timeout=3).request("GET", "/healthz", raw=True)
            assert status == 200, body
            assert trio.current_time() - asked < 2, "/healthz waited for a descriptor"
            with trio.fail_after(5):
                assert (await ann.request("ping", timeout=5))["type"] == "pong"
            dropped = await metric(
                node, "quizd_connections_refused_total", {"reason": "descriptors", "action": "dropped"}
            )
            assert dropped >= 100  # most of the flood never got a handshake
            # The idle HTTP/2 connections are closed after the read timeout.
            with trio.fail_after(READ_TIMEOUT_S + 6):
                for stream in idle_http:
                    assert await closed_within(stream, READ_TIMEOUT_S + 6)
            with trio.fail_after(5):
                assert (await ann.request("ping", timeout=5))["type"] == "pong"
        finally:
            await close_all(flood)
            await close_all(idle_http)
