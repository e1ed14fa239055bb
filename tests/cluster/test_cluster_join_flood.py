"""A flood of joins for unknown quiz ids must not cost the flooded node its leases.

Each such join costs two Redis lookups.  They used to share one thread limiter (and one
connection pool) with the lease renewals, so 300 connections joining random quiz ids
delayed every renewal of the flooded node past its 1 s lease: measured, all 10 of its
leases expired within 15 s (a failover in waiting).  Renewals and heartbeats now have
their own lane (quizd/cluster/redis_port.py), so the leases hold.
"""

from __future__ import annotations

import json
import uuid

import trio
from trio_websocket import ConnectionClosed, HandshakeError

from quizd.client import ControlClient, connect
from tests.cluster.clusterkit import cluster_tables, node_ids, pick_quiz_id, ring_owner, wait_members
from tests.nodekit import quiz_toml

QUIZ = {"q": quiz_toml("q", questions=2)}
CONNECTIONS = 300
FLOOD_S = 15.0


async def test_a_join_flood_for_unknown_quizzes_keeps_the_leases(redis_server, node_factory):
    tables = cluster_tables(redis_server.url)
    tables["websocket"] = {"host": "127.0.0.1", "port": 0, "max_connections": 2 * CONNECTIONS}
    nodes = [node_factory(definitions=QUIZ, **tables) for _ in range(2)]
    controls = [ControlClient(n.http_url, n.token) for n in nodes]
    for control in controls:
        await wait_members(control, 2)
    quizzes = []
    for k in range(10):
        quiz_id = pick_quiz_id(f"flood{k}", lambda q: ring_owner(q, node_ids(2)) == "test-node-1")
        await controls[1].create_quiz("q", quiz_id=quiz_id)
        quizzes.append(quiz_id)
    client = redis_server.client()  # closed when the fixture stops the server
    before = {q: client.get(f"quizd:lease:{q}") for q in quizzes}
    answered = 0
    stop_at = trio.current_time() + FLOOD_S

    async def flood(nursery: trio.Nursery) -> None:
        nonlocal answered
        while trio.current_time() < stop_at:
            try:
                async with connect(nodes[1].ws_url) as conn:  # closes its socket however it ends
                    ws = conn.ws
                    for i in range(10_000):
                        if trio.current_time() >= stop_at:
                            return
                        payload = {"quizId": uuid.uuid4().hex, "name": f"x{i}"}
                        await ws.send_message(json.dumps({"type": "join", "id": i, "payload": payload}))
                        reply = json.loads(await ws.get_message())
                        assert reply["type"] == "error"
                        answered += 1
            except (ConnectionClosed, HandshakeError, OSError):
                await trio.sleep(0.05)

    async with trio.open_nursery() as nursery:
        for _ in range(CONNECTIONS):
            nursery.start_soon(flood, nursery)
    await trio.sleep(1.0)
    assert answered > 1000  # the flood did reach the node
    after = {q: client.get(f"quizd:lease:{q}") for q in quizzes}
    assert after == before, "a lease of the flooded node expired (its renewals waited behind the lookups)"
    assert "lease was gone" not in nodes[1].log()
