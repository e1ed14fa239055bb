"""WebSocket over TLS (``[websocket] tls_cert``/``tls_key``) on a real node, end to end.

The TLS path of the gateway is its own: no raw descriptor, so the ``Reader`` reads
through the ``trio.SSLStream``, every write is queued and drained through
``SSLStream.send_all``, and an abort closes the stream from a spawned task
(quizd.gateway.websocket, quizd.gateway.outbound).  These tests play the protocol over
``wss://`` with a certificate made for 127.0.0.1 in the test's directory (by the
``openssl`` command line: neither ``trustme`` nor ``cryptography`` is in the venv):
joins, a quiz with an answer, pings both ways, the size limit, closes from either
side, and a plain ``ws://`` client knocking on the TLS port.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
from trio_websocket import ConnectionClosed
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Ping, Request

from quizd.client import ControlClient, QuizConnection, connect
from tests.e2e.clientkit import RawClient
from tests.e2e.httpkit import metric
from tests.e2e.protocolkit import close_code
from tests.nodekit import RunningNode, launch_node, quiz_toml

pytestmark = pytest.mark.e2e

DEFS = {"q": quiz_toml("q", questions=1, reveal_ms=30000)}
MAX_MESSAGE_BYTES = 1024
PING_INTERVAL_S = 1.0
WAIT = 5.0


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (and its key), as PEM files."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("the openssl command line is needed to make the test certificate")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


class TlsNode:
    """The running node, its ``wss://`` URL and a client context that trusts its cert."""

    def __init__(self, node: RunningNode, cert: Path) -> None:
        self.node = node
        self.url = f"wss://{node.ws_address}/ws"
        self.context = ssl.create_default_context(cafile=str(cert))

    @asynccontextmanager
    async def client(self) -> AsyncIterator[QuizConnection]:
        # Room for unread broadcasts, so trio-websocket's reader task keeps reading and
        # answers the node's keepalive pings while a test looks elsewhere.
        async with connect(self.url, ssl_context=self.context, message_queue_size=64) as conn:
            yield conn

    async def new_quiz(self) -> tuple[str, str]:
        created = await ControlClient(self.node.http_url, self.node.token).create_quiz("q")
        return created["quizId"], created["hostToken"]

    async def open_connections(self, expected: float) -> None:
        """Wait until the node counts ``expected`` open WebSocket connections."""
        with trio.fail_after(WAIT):
            while await metric(self.node, "quizd_connections_open") != expected:
                await trio.sleep(0.05)


def start_tls_node(base: Path, **websocket: Any) -> tuple[RunningNode, Path]:
    """A node whose WebSocket listener speaks TLS only (ends its quizzes at once on a drain)."""
    base.mkdir(parents=True, exist_ok=True)
    cert, key = make_certificate(base)
    node = launch_node(
        base / "node",
        "tls-test-node",
        DEFS,
        websocket={
            "tls_cert": str(cert),
            "tls_key": str(key),
            "max_message_bytes": MAX_MESSAGE_BYTES,
            "ping_interval_s": PING_INTERVAL_S,
            **websocket,
        },
        node={"drain_timeout_s": 0},
    )
    return node, cert


@pytest.fixture(scope="module")
def tls_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsNode]:
    node, cert = start_tls_node(tmp_path_factory.mktemp("tls"))
    yield TlsNode(node, cert)
    node.stop()


async def raw_tls_client(node: TlsNode, *, rcvbuf: int | None = None) -> RawClient:
    """A wsproto client over TLS that reads only when told (it never answers pings)."""
    host, port = node.node.ws_address.rsplit(":", 1)
    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:  # before connect, so the window is small from the start
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    await sock.connect((host, int(port)))
    stream = trio.SSLStream(trio.SocketStream(sock), node.context, server_hostname=host)
    ws = WSConnection(ConnectionType.CLIENT)
    client = RawClient(stream, ws)  # type: ignore[arg-type]  # any trio Stream will do
    await stream.send_all(ws.send(Request(host=node.node.ws_address, target="/ws")))
    with trio.fail_after(WAIT):
        while not any(isinstance(event, AcceptConnection) for event in client.events):
            data = await stream.receive_some(65536)
            assert data, "the node closed during the handshake"
            ws.receive_data(data)
            client.events.extend(ws.events())
    client.events = [e for e in client.events if not isinstance(e, AcceptConnection)]
    return client


async def test_a_whole_quiz_over_tls(tls_node: TlsNode) -> None:
    quiz_id, host_token = await tls_node.new_quiz()
    async with tls_node.client() as host, tls_node.client() as ann:
        assert (await host.join(quiz_id, hostToken=host_token))["type"] == "joined"
        joined = await ann.join(quiz_id, name="Ann")
        assert joined["type"] == "joined" and joined["payload"]["role"] == "player"
        reply = await host.request("start", timeout=WAIT)
        assert reply["type"] == "host_state", reply
        question = (await ann.expect("question", WAIT))["payload"]
        result = await ann.request("answer", {"questionId": question["questionId"], "choice": 0}, timeout=WAIT)
        assert result["type"] == "answer_result", result
        assert result["payload"]["correct"] is True and result["payload"]["points"] > 0
        assert (await host.request("end", timeout=WAIT))["type"] == "host_state"
        ended = await ann.expect("quiz_ended", WAIT)
        assert ended["payload"]["you"]["rank"] == 1


async def test_pings_both_ways_over_tls(tls_node: TlsNode) -> None:
    """The protocol's ``ping`` gets its ``pong``; a WebSocket ping frame gets its pong
    frame; and a client that answers the node's keepalive pings outlives several."""
    quiz_id, _ = await tls_node.new_quiz()
    async with tls_node.client() as ann:
        assert (await ann.join(quiz_id, name="Ann"))["type"] == "joined"
        reply = await ann.request("ping", timeout=WAIT)
        assert reply["type"] == "pong" and isinstance(reply["payload"]["serverTime"], int)
        with trio.fail_after(WAIT):
            await ann.ws.ping(b"over tls")  # returns once the matching pong frame arrived
        await trio.sleep(3 * PING_INTERVAL_S)
        assert (await ann.request("ping", timeout=WAIT))["type"] == "pong"


async def test_an_oversized_message_over_tls_is_closed_with_1009(tls_node: TlsNode) -> None:
    quiz_id, _ = await tls_node.new_quiz()
    async with tls_node.client() as ann, tls_node.client() as bob:
        assert (await ann.join(quiz_id, name="Ann"))["type"] == "joined"
        assert (await bob.join(quiz_id, name="Bob"))["type"] == "joined"
        await ann.send_raw(json.dumps({"type": "ping", "id": 1, "payload": {"pad": "x" * 2 * MAX_MESSAGE_BYTES}}))
        assert await close_code(ann) == 1009
        assert (await bob.request("ping", timeout=WAIT))["type"] == "pong"


async def test_a_kick_over_tls_closes_with_4001(tls_node: TlsNode) -> None:
    quiz_id, host_token = await tls_node.new_quiz()
    async with tls_node.client() as host, tls_node.client() as bob:
        assert (await host.join(quiz_id, hostToken=host_token))["type"] == "joined"
        bob_id = (await bob.join(quiz_id, name="Bob"))["payload"]["participantId"]
        state = await host.request("kick", {"participantId": bob_id}, timeout=WAIT)
        assert state["type"] == "host_state", state
        assert await close_code(bob) == 4001
        assert bob.received[-1]["type"] == "kicked"


async def test_the_client_closing_normally_over_tls(tls_node: TlsNode) -> None:
    """The node answers the client's close frame with its own, and lets the socket go."""
    quiz_id, _ = await tls_node.new_quiz()
    await tls_node.open_connections(0)
    async with tls_node.client() as ann:
        assert (await ann.join(quiz_id, name="Ann"))["type"] == "joined"
        await tls_node.open_connections(1)
        with trio.fail_after(WAIT):
            await ann.close(1000)
        assert ann.ws.closed is not None and ann.ws.closed.code == 1000
        with pytest.raises(ConnectionClosed):
            await ann.ws.get_message()
    await tls_node.open_connections(0)


async def test_plain_ws_on_the_tls_port_fails_without_hurting_a_tls_client(tls_node: TlsNode) -> None:
    """A ``ws://`` upgrade sent in clear to the TLS port is not TLS: the node closes the
    socket at once, answers nothing, and its TLS players carry on.

    (Raw sockets: trio-websocket's client does not notice an EOF during its handshake.)
    """
    quiz_id, _ = await tls_node.new_quiz()
    async with tls_node.client() as ann:
        assert (await ann.join(quiz_id, name="Ann"))["type"] == "joined"
        host, port = tls_node.node.ws_address.rsplit(":", 1)
        for _ in range(3):
            stream = await trio.open_tcp_stream(host, int(port))
            async with stream:
                client = WSConnection(ConnectionType.CLIENT)
                await stream.send_all(client.send(Request(host=tls_node.node.ws_address, target="/ws")))
                answered = b""
                with trio.fail_after(WAIT):
                    while True:
                        try:
                            data = await stream.receive_some(65536)
                        except trio.BrokenResourceError:  # reset: closed with our bytes unread
                            break
                        if not data:
                            break
                        answered += data
                assert not answered.startswith(b"HTTP/1.1 101"), answered
        assert (await ann.request("ping", timeout=WAIT))["type"] == "pong"
        await tls_node.open_connections(1)


async def test_a_tls_client_that_vanishes_is_let_go(tls_node: TlsNode) -> None:
    """A client that drops the TCP connection without a close frame or close_notify."""
    quiz_id, _ = await tls_node.new_quiz()
    await tls_node.open_connections(0)
    stack = AsyncExitStack()
    async with stack:
        ann = await stack.enter_async_context(tls_node.client())
        assert (await ann.join(quiz_id, name="Ann"))["type"] == "joined"
        await tls_node.open_connections(1)
        stream: Any = ann.ws._stream  # the client's SSLStream: drop it under the library
        await trio.aclose_forcefully(stream.transport_stream)
        with pytest.raises(ConnectionClosed):
            await ann.ws.get_message()
    await tls_node.open_connections(0)


async def test_the_keepalive_drops_a_silent_tls_peer(tls_node: TlsNode) -> None:
    """A TLS peer that joins, then neither reads nor answers pings, is dropped (its
    stream is aborted from a spawned task) while a peer that answers stays."""
    quiz_id, _ = await tls_node.new_quiz()
    await tls_node.open_connections(0)
    async with tls_node.client() as ann:
        assert (await ann.join(quiz_id, name="Ann"))["type"] == "joined"
        silent = await raw_tls_client(tls_node)
        try:
            await silent.send_json("join", {"quizId": quiz_id, "name": "Silent"}, 1)
            assert (await silent.recv_json())["type"] == "joined"
            await tls_node.open_connections(2)
            with trio.fail_after(2 * PING_INTERVAL_S + WAIT):
                while await metric(tls_node.node, "quizd_connections_open") != 1:
                    await trio.sleep(0.05)
            await silent.wait_server_close(timeout=WAIT)
            assert any(isinstance(event, Ping) for event in silent.events), silent.events
        finally:
            await silent.aclose()
        assert (await ann.request("ping", timeout=WAIT))["type"] == "pong"


async def test_a_slow_tls_consumer_is_dropped_and_others_carry_on(tmp_path: Path) -> None:
    """Replies pile up in the node's queue of a TLS peer that never reads: the queue's
    bound closes it (with its drain task blocked in ``SSLStream.send_all``)."""
    node, cert = start_tls_node(tmp_path, send_queue_bytes=4096, max_message_bytes=256, ping_interval_s=20)
    try:
        tls = TlsNode(node, cert)
        quiz_id, _ = await tls.new_quiz()
        async with tls.client() as ann:
            assert (await ann.join(quiz_id, name="Ann"))["type"] == "joined"
            slow = await raw_tls_client(tls, rcvbuf=4096)
            try:
                await slow.send_json("join", {"quizId": quiz_id, "name": "Slow"}, 1)
                assert (await slow.recv_json())["type"] == "joined"
                # 40 get_leaderboard at a time (the burst), ~25 rounds a second.
                batch = b"".join(slow.encode("get_leaderboard", {}, i) for i in range(20))
                with trio.fail_after(4 * WAIT):
                    while not await metric(node, "quizd_slow_consumer_disconnects_total"):
                        try:
                            await slow.stream.send_all(batch)
                        except (trio.BrokenResourceError, trio.ClosedResourceError):
                            pass  # the node has aborted us; the metric says so next
                        await trio.sleep(1)
            finally:
                await slow.aclose()
            await tls.open_connections(1)
            assert (await ann.request("ping", timeout=WAIT))["type"] == "pong"
    finally:
        node.stop()


async def test_a_tls_node_stops_cleanly_with_peers_in_every_state(tmp_path: Path) -> None:
    """SIGTERM with a joined TLS player, a TLS peer that never sends its upgrade, and a
    TCP peer that never starts TLS: the node closes the player's WebSocket with a code
    and exits 0 within its drain, without waiting out anyone's timeouts."""
    node, cert = start_tls_node(tmp_path)
    try:
        tls = TlsNode(node, cert)
        quiz_id, _ = await tls.new_quiz()
        host, port = node.ws_address.rsplit(":", 1)
        async with tls.client() as ann:
            assert (await ann.join(quiz_id, name="Ann"))["type"] == "joined"
            mute_tls = trio.SSLStream(await trio.open_tcp_stream(host, int(port)), tls.context, server_hostname=host)
            await mute_tls.do_handshake()
            mute_tcp = await trio.open_tcp_stream(host, int(port))
            try:
                await tls.open_connections(1)
                node.signal(signal.SIGTERM)
                # Well within the 15 s after which node.stop would kill it.
                returncode = await trio.to_thread.run_sync(node.wait, 10.0)
                assert returncode == 0, node.log()[-2000:]
                code = await close_code(ann)
                assert code is not None and code != 1006
            finally:
                await trio.aclose_forcefully(mute_tls)
                await trio.aclose_forcefully(mute_tcp)
    finally:
        node.stop()
