"""The relay's write backlog is bounded while Redis is away, and returns its memory.

A real redis-server is killed under two relay transports (a gateway "gw" and an owner
"own"); the gateway keeps posting players' joins.  The backlog stops at its bound
(lowered here so the test stays small), a player's message beyond it is answered
``server_busy`` with ``retryAfterMs``, a message that ends a connection still goes, and
once Redis is back the backlog drains to zero and relaying goes on.
"""

from __future__ import annotations

import attrs
import pytest
import trio

from quizd.actors.inbox import JoinRequest
from quizd.cluster.gateway_side import GatewaySide, RemoteQuizHandle
from quizd.cluster.messages import RelayMessage, RemoteJoin, RemoteLost
from quizd.cluster.redis_port import RedisPort
from quizd.cluster.transport import RelayTransport
from quizd.ops import metrics
from quizd.protocol import errors as E
from quizd.protocol.errors import ProtocolError

MAX_MESSAGES = 300
MAX_BYTES = 40_000


@attrs.frozen
class Conn:
    conn_id: int
    quiz_id: str | None = None


def join(conn: int) -> RemoteJoin:
    return RemoteJoin("quiz", "player", f"Player {conn}", conn, "gw", conn, 0)


def refused(side: str) -> float:
    return metrics.REGISTRY.get_sample_value("quizd_cluster_relay_refused_total", {"side": side}) or 0.0


async def test_backlog_is_bounded_while_redis_is_down_and_drains_after(redis_server, request):
    received: list[RelayMessage] = []
    ports = RedisPort(redis_server.url, timeout_s=0.2), RedisPort(redis_server.url, timeout_s=0.2)
    for port in ports:
        request.addfinalizer(port.close)  # unclosed, their pooled sockets wait for the GC
    gateway = RelayTransport(ports[0], "gw", lambda m: None)
    owner = RelayTransport(ports[1], "own", received.append)
    gateway.max_messages, gateway.max_bytes = MAX_MESSAGES, MAX_BYTES
    handle = RemoteQuizHandle("quiz", "own", GatewaySide(gateway))
    async with trio.open_nursery() as nursery:
        await nursery.start(gateway.run)
        await nursery.start(owner.run)
        assert gateway.post("own", join(0))
        with trio.fail_after(5):
            while not received:
                await trio.sleep(0.02)

        redis_server.kill()
        before = refused("gateway")
        accepted = sum(gateway.post("own", join(conn)) for conn in range(1, 5001))
        await trio.sleep(0.5)  # the writer retries meanwhile; nothing may grow
        accepted += sum(gateway.post("own", join(conn)) for conn in range(5001, 6001))
        assert 0 < accepted <= MAX_MESSAGES
        assert gateway.backlog_messages <= MAX_MESSAGES
        assert gateway.backlog_bytes <= MAX_BYTES
        assert metrics.REGISTRY.get_sample_value("quizd_cluster_relay_backlog_messages") == gateway.backlog_messages
        assert refused("gateway") == before + 6000 - accepted

        # A player's join beyond the bound: server_busy with retryAfterMs, not queued.
        request = JoinRequest("player", "Zed", 7, Conn(9999), trio.current_time())
        with pytest.raises(ProtocolError) as busy:
            handle.post(request)
        assert busy.value.code == E.SERVER_BUSY
        assert busy.value.payload()["details"]["retryAfterMs"] > 0
        assert 9999 not in handle.gateway.pending_joins
        # What ends a connection still goes (one per connection: bounded by the caps).
        assert gateway.post("own", RemoteLost("quiz", "p1", "gw", 1))

        redis_server.start()
        with trio.fail_after(15):
            while gateway.backlog_messages:
                await trio.sleep(0.05)
        assert gateway.backlog_bytes == 0
        assert metrics.REGISTRY.get_sample_value("quizd_cluster_relay_backlog_bytes") == 0
        assert gateway.post("own", join(7777))
        with trio.fail_after(10):
            while not any(isinstance(m, RemoteJoin) and m.conn == 7777 for m in received):
                await trio.sleep(0.05)
        handle.post(JoinRequest("player", "Zed", 8, Conn(9998), trio.current_time()))
        assert 9998 in handle.gateway.pending_joins
        nursery.cancel_scope.cancel()
