"""No token reaches a log line at any level, also where the relay logs whole messages (debug)."""

from __future__ import annotations

from quizd.client import ControlClient, connect
from tests.cluster.clusterkit import cluster_tables, node_ids, pick_quiz_id, ring_owner, wait_members
from tests.nodekit import ADMIN_TOKEN, quiz_toml

QUIZ = {"q": quiz_toml("q", questions=1, reveal_ms=200)}


async def test_debug_logs_of_a_relayed_quiz_hold_no_token(redis_server, node_factory):
    tables = {**cluster_tables(redis_server.url), "logging": {"level": "debug", "format": "json"}}
    nodes = [node_factory(definitions=QUIZ, **tables) for _ in range(2)]
    controls = [ControlClient(n.http_url, n.token) for n in nodes]
    for control in controls:
        await wait_members(control, 2)
    ids = node_ids(2)
    # The quiz lives on node 0; everyone connects through node 1, so every message crosses the relay.
    quiz_id = pick_quiz_id("secret", lambda q: ring_owner(q, ids) == ids[0])
    created = await controls[1].create_quiz("q", quiz_id=quiz_id)
    secrets = {created["hostToken"], ADMIN_TOKEN}
    async with connect(nodes[1].ws_url) as host, connect(nodes[1].ws_url) as ann:
        assert (await host.join(quiz_id, hostToken=created["hostToken"]))["type"] == "joined"
        joined = await ann.join(quiz_id, name="Ann")
        assert joined["type"] == "joined", joined
        secrets.add(joined["payload"]["resumeToken"])
    async with connect(nodes[1].ws_url) as again, connect(nodes[1].ws_url) as host:
        resumed = await again.join(quiz_id, resumeToken=joined["payload"]["resumeToken"])
        assert resumed["type"] == "joined", resumed
        await host.join(quiz_id, hostToken=created["hostToken"])
        await host.request("start")
        question = await again.expect("question")
        await again.request("answer", {"questionId": question["payload"]["questionId"], "choice": 0})
        await host.request("end")
        await again.expect("quiz_ended")
    for node in nodes:
        node.stop()
        text = (node.tmp / "stderr.log").read_text()
        assert "relay in" in text  # the debug lines that used to carry the tokens are there
        for secret in secrets:
            assert secret not in text, f"a token reached {node.node_id}'s log"
