"""WebSocket limits of a real node: connection caps, origins, path, frame size,
keepalive and slow consumers (operator contract, [websocket] and [limits]).
"""

from __future__ import annotations

import json
from contextlib import AsyncExitStack
from typing import Any

import pytest
import trio
from trio_websocket import ConnectionClosed
from wsproto.events import Ping

from quizd.client import ControlClient, connect
from tests.e2e.clientkit import RawClient
from tests.e2e.httpkit import metric
from tests.e2e.protocolkit import close_code, refused_handshake, still_open
from tests.nodekit import quiz_toml

pytestmark = pytest.mark.e2e

DEFS = {"q": quiz_toml("q", questions=2, reveal_ms=200)}


# --------------------------------------------------------------------------- helpers


async def wait_metric(node: Any, name: str, check: Any, timeout: float = 5.0) -> float:
    with trio.fail_after(timeout):
        while True:
            value = await metric(node, name)
            if check(value):
                return value
            await trio.sleep(0.05)


async def new_quiz(node: Any) -> tuple[str, str]:
    created = await ControlClient(node.http_url, node.token).create_quiz("q")
    return created["quizId"], created["hostToken"]


# --------------------------------------------------------------------------- connection caps


async def test_max_connections(node_factory):
    node = node_factory(definitions=DEFS, websocket={"max_connections": 2})
    quiz_id, _ = await new_quiz(node)
    async with connect(node.ws_url) as ann, connect(node.ws_url) as bob:
        assert (await ann.join(quiz_id, name="Ann"))["type"] == "joined"
        assert (await bob.join(quiz_id, name="Bob"))["type"] == "joined"
        async with connect(node.ws_url) as third:  # the handshake succeeds ...
            assert await close_code(third) == 1013  # ... then "node full"
        await still_open(ann)
        await still_open(bob)
        await ann.close()
        await wait_metric(node, "quizd_connections_open", lambda v: v == 1)
        async with connect(node.ws_url) as cid:
            assert (await cid.join(quiz_id, name="Cid"))["type"] == "joined"
            await still_open(cid)
            await still_open(bob)


async def test_connections_per_ip(node_factory):
    node = node_factory(definitions=DEFS, limits={"connections_per_ip": 1})
    quiz_id, _ = await new_quiz(node)
    async with connect(node.ws_url) as ann:
        assert (await ann.join(quiz_id, name="Ann"))["type"] == "joined"
        async with connect(node.ws_url) as second:
            assert await close_code(second) == 1013
        await still_open(ann)
        await ann.close()
    await wait_metric(node, "quizd_connections_open", lambda v: v == 0)
    async with connect(node.ws_url) as bob:
        assert (await bob.join(quiz_id, name="Bob"))["type"] == "joined"
        await still_open(bob)


# --------------------------------------------------------------------------- handshake


async def test_a_connection_that_never_joins_is_closed_after_the_first_join_deadline(node_factory):
    """An open socket that never joins holds a descriptor and a place under the caps: it is
    closed (1008) once the deadline after its handshake has passed; one that joined in time,
    even after a refused join, stays."""
    from quizd.gateway.session import FIRST_JOIN_DEADLINE_S

    node = node_factory(definitions=DEFS)
    quiz_id, _ = await new_quiz(node)
    async with connect(node.ws_url) as idle, connect(node.ws_url) as chatty, connect(node.ws_url) as ann:
        started = trio.current_time()
        assert (await ann.join(quiz_id, name="Ann"))["type"] == "joined"
        reply = await chatty.request("ping")  # talking is not joining
        assert reply["payload"]["code"] == "not_joined"
        assert await close_code(idle, timeout=FIRST_JOIN_DEADLINE_S + 5) == 1008
        assert await close_code(chatty, timeout=5) == 1008
        assert trio.current_time() - started >= FIRST_JOIN_DEADLINE_S - 0.5
        await still_open(ann)


async def test_allowed_origins(node_factory):
    allowed = "https://quiz.example.com"
    node = node_factory(definitions=DEFS, websocket={"allowed_origins": [allowed]})
    quiz_id, _ = await new_quiz(node)
    async with connect(node.ws_url, extra_headers=[(b"Origin", allowed.encode())]) as ann:
        assert (await ann.join(quiz_id, name="Ann"))["type"] == "joined"
    # No Origin header at all (not a browser): accepted.
    async with connect(node.ws_url) as bob:
        assert (await bob.join(quiz_id, name="Bob"))["type"] == "joined"
    for origin in (
        "https://evil.example.com",
        "http://quiz.example.com",
        "https://quiz.example.com.evil.com",
        "https://quiz.example.com:8443",
        "null",
    ):
        refused = await refused_handshake(node.ws_url, extra_headers=[(b"Origin", origin.encode())])
        assert refused.status_code == 403, origin
    # Two Origin headers: each must be allowed.
    both = [(b"Origin", allowed.encode()), (b"Origin", b"https://evil.example.com")]
    assert (await refused_handshake(node.ws_url, extra_headers=both)).status_code == 403
    # A refused handshake does not count as a connection.
    assert await metric(node, "quizd_connections_open") == 0


async def test_any_origin_when_none_configured(node_factory):
    node = node_factory(definitions=DEFS)
    quiz_id, _ = await new_quiz(node)
    async with connect(node.ws_url, extra_headers=[(b"Origin", b"https://anything.example")]) as ann:
        assert (await ann.join(quiz_id, name="Ann"))["type"] == "joined"


async def test_only_the_ws_path_is_served(node_factory):
    node = node_factory(definitions=DEFS)
    quiz_id, _ = await new_quiz(node)
    base = f"ws://{node.ws_address}"
    for path in ("/", "/wsx", "/ws/extra", "/api/quizzes", "/WS"):
        refused = await refused_handshake(base + path)
        assert refused.status_code == 404, path
    # A query string does not change the path.
    async with connect(base + "/ws?client=test") as ann:
        assert (await ann.join(quiz_id, name="Ann"))["type"] == "joined"


# --------------------------------------------------------------------------- frame size


async def test_max_message_bytes(node_factory):
    node = node_factory(definitions=DEFS, websocket={"max_message_bytes": 1024})
    quiz_id, _ = await new_quiz(node)
    async with connect(node.ws_url) as ann, connect(node.ws_url) as bob:
        assert (await ann.join(quiz_id, name="Ann"))["type"] == "joined"
        assert (await bob.join(quiz_id, name="Bob"))["type"] == "joined"
        # Under the limit: an ordinary (unknown-type) message, answered, the connection stays.
        small = json.dumps({"type": "ping", "id": 7, "payload": {"pad": "x" * 900}})
        assert len(small) < 1024
        await ann.send_raw(small)
        reply = await ann.expect(("pong", "error"))
        assert reply.get("re") == 7
        await still_open(ann)
        # Over the limit: closed with 1009.
        big = json.dumps({"type": "ping", "id": 8, "payload": {"pad": "x" * 2000}})
        await ann.send_raw(big)
        assert await close_code(ann) == 1009
        # A binary frame over the limit too.
        async with connect(node.ws_url) as cid:
            await cid.send_raw(b"\x00" * 2000)
            assert await close_code(cid) == 1009
        await still_open(bob)


async def test_max_message_bytes_counts_utf8_bytes_not_characters(node_factory):
    node = node_factory(definitions=DEFS, websocket={"max_message_bytes": 1024})
    async with connect(node.ws_url) as ann:
        frame = json.dumps({"type": "ping", "id": 1, "payload": {"pad": "\u20ac" * 700}}, ensure_ascii=False)
        assert len(frame) < 1024 < len(frame.encode("utf-8"))  # ~740 characters, ~2140 bytes
        await ann.send_raw(frame)
        code = None
        with trio.move_on_after(2):  # (a limit counted in characters would answer not_joined)
            code = await close_code(ann)
        assert code == 1009


# --------------------------------------------------------------------------- keepalive


async def test_keepalive_drops_a_peer_that_never_answers_pings(node_factory):
    interval = 0.5
    node = node_factory(definitions=DEFS, websocket={"ping_interval_s": interval})
    quiz_id, _ = await new_quiz(node)
    # Ann answers pings: trio-websocket does it in its reader task, which keeps reading as
    # long as its message queue has room (the default room is 1 message, and Ann gets
    # broadcasts she does not read here), so give it room.
    async with connect(node.ws_url, message_queue_size=64) as ann:
        assert (await ann.join(quiz_id, name="Ann"))["type"] == "joined"
        silent = await RawClient.connect(node.ws_address)
        try:
            # The raw peer joins like a real client, then neither reads nor writes: no pong.
            await silent.send_json("join", {"quizId": quiz_id, "name": "Silent"}, 1)
            assert (await silent.recv_json())["type"] == "joined"
            start = trio.current_time()
            # Watch from the server's side, without touching the silent socket.
            await wait_metric(node, "quizd_connections_open", lambda v: v == 1, timeout=2 * interval + 1.5)
            elapsed = trio.current_time() - start
            assert elapsed <= 2 * interval + 1.0, elapsed
            # The TCP connection is closed, and a ping had gone out before the verdict.
            await silent.wait_server_close(timeout=2)
            assert any(isinstance(event, Ping) for event in silent.events), silent.events
        finally:
            await silent.aclose()
        # Ann, who answers pings, outlives several intervals.
        await trio.sleep(4 * interval)
        await still_open(ann)
        assert await metric(node, "quizd_connections_open") == 1


async def test_keepalive_pings_a_fresh_connection_before_judging_it(node_factory):
    """A connection that answers pings but has not sent a frame yet is not dropped.

    (A player may sit on the name form for a while before sending ``join``.)
    """
    interval = 0.5
    node = node_factory(definitions=DEFS, websocket={"ping_interval_s": interval})
    quiz_id, _ = await new_quiz(node)
    async with connect(node.ws_url) as ann:
        await trio.sleep(3 * interval)
        try:
            joined = await ann.join(quiz_id, name="Ann")
        except ConnectionClosed as exc:
            pytest.fail(f"an idle connection that answers pings was dropped: {exc.reason}")
        assert joined["type"] == "joined"


# --------------------------------------------------------------------------- slow consumer


async def test_slow_consumer_is_disconnected_and_others_carry_on(node_factory):
    node = node_factory(
        definitions=DEFS,
        websocket={"send_queue_bytes": 4096, "max_message_bytes": 256},
        # Let one connection ask for many replies quickly; the point is the send queue.
        limits={"messages_per_second": 5000, "burst": 5000},
    )
    quiz_id, host_token = await new_quiz(node)
    before = await metric(node, "quizd_slow_consumer_disconnects_total")
    async with AsyncExitStack() as stack:
        host = await stack.enter_async_context(connect(node.ws_url, message_queue_size=64))
        assert (await host.join(quiz_id, hostToken=host_token))["type"] == "joined"
        players = []
        for i in range(8):  # 24-character names: each leaderboard reply is ~700 bytes
            conn = await stack.enter_async_context(connect(node.ws_url, message_queue_size=64))
            assert (await conn.join(quiz_id, name=f"player-{i:02d}-" + "x" * 14))["type"] == "joined"
            players.append(conn)

        slow = await RawClient.connect(node.ws_address, rcvbuf=4096, mss=600)
        try:
            await slow.send_json("join", {"quizId": quiz_id, "name": "Slow"}, 1)
            assert (await slow.recv_json())["type"] == "joined"
            # From now on the slow client never reads: every reply piles up.
            batch = b"".join(slow.encode("get_leaderboard", {}, i) for i in range(100))
            sent = 0
            with trio.fail_after(10):
                while True:
                    try:
                        await slow.stream.send_all(batch)
                        sent += 100
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        break  # the server has aborted us
                    if await metric(node, "quizd_slow_consumer_disconnects_total") > before:
                        break
                    await trio.sleep(0.01)
            print(f"requests sent before the abort: {sent}")
            assert await wait_metric(node, "quizd_slow_consumer_disconnects_total", lambda v: v > before) > before
            await slow.wait_server_close(timeout=5)
        finally:
            await slow.aclose()

        # The aborted connection is gone from the gauge; everyone else is still counted.
        await wait_metric(node, "quizd_connections_open", lambda v: v == 1 + len(players))
        # Everyone else carries on: the quiz starts and plays.
        for conn in players:
            await still_open(conn)
        assert (await host.request("start"))["type"] == "host_state"
        for conn in players:
            question = await conn.expect("question")
            result = await conn.request("answer", {"questionId": question["payload"]["questionId"], "choice": 0})
            assert result["payload"]["correct"] is True
