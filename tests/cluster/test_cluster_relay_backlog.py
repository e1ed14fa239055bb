"""Players keep sending while Redis is down: the gateway's relay backlog stays bounded.

Two real nodes and a real (persistent) redis-server; the quiz runs on test-node-0,
thirty players are connected through test-node-1 (their gateway) and send
``get_leaderboard`` as fast as they can (the per-connection rate limit is lifted).
Redis is killed for a few seconds, well within the lease: the gateway's backlog never
passes its bound, the players beyond it get ``server_busy`` with ``retryAfterMs``, and
once Redis is back the backlog drains and the same players get their leaderboards.
"""

from __future__ import annotations

import json

import trio
from trio_websocket import ConnectionClosed

from quizd.client import ControlClient, connect
from quizd.cluster.transport import BACKLOG_MAX_BYTES, BACKLOG_MAX_MESSAGES
from tests.cluster.clusterkit import PersistentRedis, metric, node_ids, pick_quiz_id, ring_owner, wait_members
from tests.nodekit import quiz_toml

QUIZ = {"q": quiz_toml("q", questions=2, reveal_ms=60000, time_limit_ms=60000)}
PLAYERS = 30
OUTAGE_S = 5.0


async def test_players_get_server_busy_at_the_bound_and_play_on(persistent_redis: PersistentRedis, node_factory):
    tables = {
        "cluster": {"redis_url": persistent_redis.url, "heartbeat_ms": 500, "node_timeout_ms": 20000},
        "limits": {"messages_per_second": 1_000_000.0, "burst": 1_000_000},
        # The owner answers the whole backlog at once when Redis is back: room for it.
        "websocket": {"host": "127.0.0.1", "port": 0, "send_queue_bytes": 16 * 1024 * 1024},
    }
    nodes = [node_factory(definitions=QUIZ, **tables) for _ in range(2)]
    controls = [ControlClient(n.http_url, n.token) for n in nodes]
    for control in controls:
        await wait_members(control, 2)
    quiz_id = pick_quiz_id("backlog", lambda q: ring_owner(q, node_ids(2)) == "test-node-0")
    await controls[1].create_quiz("q", quiz_id=quiz_id)

    busy: list[dict] = []
    boards_after: list[int] = []
    redis_back = trio.Event()
    sending = True
    backlog_seen = 0.0

    async def player(n: int, nursery: trio.Nursery) -> None:
        async with connect(nodes[1].ws_url) as conn:  # closes its socket however it ends
            ws = conn.ws
            join = {"type": "join", "id": 0, "payload": {"quizId": quiz_id, "name": f"P{n}"}}
            await ws.send_message(json.dumps(join))
            assert json.loads(await ws.get_message())["type"] == "joined"
            ready.append(n)

            async def read() -> None:
                try:
                    while True:
                        message = json.loads(await ws.get_message())
                        if message["type"] == "error" and message["payload"]["code"] == "server_busy":
                            busy.append(message["payload"])
                        elif message["type"] == "leaderboard" and message.get("re") == "after":
                            boards_after.append(n)
                except ConnectionClosed:
                    pass

            async with trio.open_nursery() as inner:
                inner.start_soon(read)
                i = 1
                while sending:
                    await ws.send_message(json.dumps({"type": "get_leaderboard", "id": i, "payload": {}}))
                    i += 1
                    if i % 50 == 0:
                        await trio.sleep(0)
                # After the outage: one more request each, answered by the owner.
                await redis_back.wait()
                await ws.send_message(json.dumps({"type": "get_leaderboard", "id": "after", "payload": {}}))
                with trio.move_on_after(45):
                    while n not in boards_after:
                        await trio.sleep(0.05)
                inner.cancel_scope.cancel()

    async def watch_backlog() -> None:
        nonlocal backlog_seen
        while not redis_back.is_set():
            backlog_seen = max(backlog_seen, await metric(controls[1], "quizd_cluster_relay_backlog_messages"))
            assert await metric(controls[1], "quizd_cluster_relay_backlog_bytes") <= BACKLOG_MAX_BYTES
            await trio.sleep(0.1)

    ready: list[int] = []
    async with trio.open_nursery() as nursery:
        for n in range(PLAYERS):
            nursery.start_soon(player, n, nursery)
        with trio.fail_after(15):
            while len(ready) < PLAYERS:
                await trio.sleep(0.05)
        nursery.start_soon(watch_backlog)
        await trio.sleep(0.5)
        persistent_redis.kill()
        with trio.fail_after(60):
            while not busy:
                await trio.sleep(0.05)
        await trio.sleep(OUTAGE_S / 2)
        sending = False
        await trio.to_thread.run_sync(persistent_redis.start)
        with trio.fail_after(60):  # the backlog drains below half its bound: accepted again
            while await metric(controls[1], "quizd_cluster_relay_backlog_messages") > BACKLOG_MAX_MESSAGES // 2:
                await trio.sleep(0.1)
        redis_back.set()

    assert 0 < backlog_seen <= BACKLOG_MAX_MESSAGES
    assert await metric(controls[1], "quizd_cluster_relay_refused_total", 'side="gateway"') >= len(busy) > 0
    assert all(b["details"]["retryAfterMs"] > 0 for b in busy)
    assert sorted(set(boards_after)) == list(range(PLAYERS))  # play goes on for every player
    assert "relay backlog full" in nodes[1].log()
