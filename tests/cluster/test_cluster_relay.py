"""The relay never skips a message that arrives between two of a node's stream reads.

A node reads its streams with blocking XREADs of 500 ms.  A message written while the
node is not inside an XREAD (processing, retrying after a Redis error, or here: frozen
with SIGSTOP past the end of its read) must still be delivered, also when it is the
first message the node ever gets on that stream (an XREAD from ``$`` would skip it).
"""

from __future__ import annotations

import os
import signal

import trio

from quizd.client import ControlClient
from tests.cluster.clusterkit import Stopwatch, lease, node_ids, pick_quiz_id, ring_owner, wait_members
from tests.nodekit import quiz_toml

QUIZ = {"q": quiz_toml("q", questions=2)}


async def test_the_first_message_to_a_node_between_two_reads_is_not_lost(redis_server, node_factory):
    # A long node timeout: the frozen node must stay a member throughout.
    tables = {"cluster": {"redis_url": redis_server.url, "heartbeat_ms": 200, "node_timeout_ms": 4000}}
    nodes = [node_factory(definitions=QUIZ, node={"drain_timeout_s": 0}, **tables) for _ in range(2)]
    controls = [ControlClient(n.http_url, n.token) for n in nodes]
    for control in controls:
        await wait_members(control, 2)
    r = redis_server.client()
    inbox = "quizd:in:test-node-0"
    assert r.xlen(inbox) == 0  # test-node-0 has never received anything on its inbox
    quiz_id = pick_quiz_id("relay", lambda q: ring_owner(q, node_ids(2)) == "test-node-0")

    outcome: list[object] = []

    async def create_through_node_1() -> None:
        try:
            outcome.append(await controls[1].create_quiz("q", quiz_id=quiz_id))
        except Exception as exc:  # reported below
            outcome.append(exc)

    clock = Stopwatch()
    pid = nodes[0].process.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        await trio.sleep(0.7)  # the node's pending XREAD (500 ms) has run out meanwhile
        async with trio.open_nursery() as nursery:
            nursery.start_soon(create_through_node_1)
            with trio.fail_after(2):
                while r.xlen(inbox) == 0:  # the create RPC is waiting in the stream
                    await trio.sleep(0.01)
            os.kill(pid, signal.SIGCONT)
            resumed = clock()
    finally:
        os.kill(pid, signal.SIGCONT)
    took = clock() - resumed
    print(f"\ncreate through node 1 answered {took:.2f} s after node 0 went on: {outcome}")
    assert isinstance(outcome[0], dict) and outcome[0]["quizId"] == quiz_id, outcome
    assert took < 2.0
    assert lease(r, quiz_id) == ("test-node-0", 1)
    assert (await controls[0].quiz(quiz_id))["node"] == "test-node-0"
