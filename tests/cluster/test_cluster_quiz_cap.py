"""``[quizzes] max_quizzes`` in a cluster: the node that would own the quiz decides.

A node at its cap refuses quizzes the ring gives it, whichever node the request came
through, with the same 503 ``server_busy`` and ``details.retryAfterMs`` as a single node;
the other node still takes the quizzes the ring gives it.
"""

from __future__ import annotations

from quizd.client import ControlClient
from tests.cluster.clusterkit import cluster_tables, metric, node_ids, pick_quiz_id, ring_owner, wait_members
from tests.nodekit import quiz_toml

QUIZ = {"q": quiz_toml("q", questions=2, reveal_ms=60000, time_limit_ms=60000)}


async def test_the_owner_node_applies_its_cap(redis_server, node_factory):
    nodes = [
        node_factory(
            definitions=QUIZ,
            node={"drain_timeout_s": 0},
            quizzes={"max_quizzes": 1},
            **cluster_tables(redis_server.url),
        )
        for _ in range(2)
    ]
    controls = [ControlClient(n.http_url, n.token) for n in nodes]
    for control in controls:
        await wait_members(control, 2)
    ids = node_ids(2)

    def owned_by(owner: str, prefix: str) -> str:
        return pick_quiz_id(prefix, lambda q: ring_owner(q, ids) == owner)

    # Node 1's one place is taken through node 0, then node 1 refuses, asked through either node.
    await controls[0].create_quiz("q", quiz_id=owned_by(ids[1], "first"))
    for via, prefix in ((0, "second"), (1, "third")):
        status, body = await controls[via].request(
            "POST", "/api/quizzes", {"definitionId": "q", "quizId": owned_by(ids[1], prefix)}
        )
        assert status == 503, body
        assert body["error"]["code"] == "server_busy"
        assert body["error"]["details"]["retryAfterMs"] > 0
    assert await metric(controls[1], "quizd_quizzes_refused_total") == 2
    assert await metric(controls[0], "quizd_quizzes_refused_total") == 0
    # Node 0 is not full: a quiz the ring gives it is created, through node 1.
    created = await controls[1].create_quiz("q", quiz_id=owned_by(ids[0], "fourth"))
    assert created["hostToken"]
