"""A remote gateway reports the hand-offs of question frames that waited in its queue.

Two nodes on a real redis-server; the quiz is owned by node 0, the player sits on node
1's gateway.  It piles up replies it does not read, so its ``question`` frame waits in
node 1's send queue and is handed to its socket only when it reads again, 0.6 s after
the opening.  The owner must time it from that real hand-off (reported back, batched),
not from ``startedAt``, and never from later than ``startedAt`` + ``HANDOFF_SLACK_S``.
"""

from __future__ import annotations

import time
from contextlib import AsyncExitStack

import trio

from quizd.client import ControlClient, connect
from quizd.game.handoffs import HANDOFF_SLACK_S
from quizd.game.scoring import time_points
from tests.cluster.clusterkit import node_ids, pick_quiz_id, ring_owner, wait_members
from tests.e2e.clientkit import BacklogClient
from tests.nodekit import quiz_toml

LIMIT_MS = 5000
READ_AFTER_S = 0.6
QUIZ = {"q": quiz_toml("q", questions=1, reveal_ms=200, time_limit_ms=LIMIT_MS)}


async def test_a_frame_queued_on_a_remote_gateway_is_timed_from_its_real_handoff(redis_server, node_factory):
    tables = {
        "cluster": {"redis_url": redis_server.url, "heartbeat_ms": 200, "node_timeout_ms": 4000},
        "websocket": {"send_queue_bytes": 64 * 1024 * 1024},
        "limits": {"messages_per_second": 100000, "burst": 100000},
    }
    nodes = [node_factory(definitions=QUIZ, **tables) for _ in range(2)]
    controls = [ControlClient(n.http_url, n.token) for n in nodes]
    for control in controls:
        await wait_members(control, 2)
    quiz_id = pick_quiz_id("fair", lambda q: ring_owner(q, node_ids(2)) == "test-node-0")
    created = await controls[0].create_quiz("q", quiz_id=quiz_id)
    host_token = created["hostToken"]
    async with AsyncExitStack() as stack:
        host = await stack.enter_async_context(connect(nodes[0].ws_url, message_queue_size=64))
        assert (await host.join(quiz_id, hostToken=host_token))["type"] == "joined"
        ann = await stack.enter_async_context(connect(nodes[0].ws_url, message_queue_size=64))
        assert (await ann.join(quiz_id, name="Ann"))["type"] == "joined"

        slow = await BacklogClient.connect(nodes[1].ws_address, rcvbuf=4096, mss=600)
        stack.push_async_callback(slow.aclose)
        await slow.send_json("join", {"quizId": quiz_id, "name": "Remote-" + "y" * 17}, 1)
        assert (await slow.recv_whole())["type"] == "joined"
        # It stops reading: replies relayed from the owner pile up in node 1's queue.
        await slow.pile_up_replies(6)
        await trio.sleep(1.5)  # the owner answers them all through the relay

        assert (await host.request("start"))["type"] == "host_state"
        question = (await ann.expect("question"))["payload"]
        started_ms = question["startedAt"]

        await trio.sleep(max(0.0, started_ms / 1000 + READ_AFTER_S - time.time()))
        read_from_ms = time.time() * 1000  # the question frame cannot leave before this
        with trio.fail_after(10):
            while (await slow.recv_whole())["type"] != "question":
                pass
        sent_ms = time.time() * 1000
        await slow.send_json("answer", {"questionId": question["questionId"], "choice": 0}, "a")
        with trio.fail_after(10):
            while True:
                message = await slow.recv_whole()
                if message.get("re") == "a":
                    break
        assert message["type"] == "answer_result", message

        # Points say the elapsed time to 10 ms (the 1st answer: no streak bonus).
        points = message["payload"]["points"]
        elapsed = [e for e in range(LIMIT_MS + 1) if time_points(1000, LIMIT_MS, e) == points]
        print(
            f"\nread from +{read_from_ms - started_ms:.0f} ms, answered +{sent_ms - started_ms:.0f} ms, "
            f"elapsed {elapsed[0]}..{elapsed[-1]} ms"
        )
        # From its real hand-off (at read_from_ms or later), not from startedAt ...
        assert elapsed[0] <= sent_ms - read_from_ms + 250, elapsed
        # ... and never from later than startedAt + slack.
        assert elapsed[-1] >= sent_ms - started_ms - HANDOFF_SLACK_S * 1000 - 50, elapsed
