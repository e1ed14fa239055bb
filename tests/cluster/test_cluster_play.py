"""Three real nodes and a real redis-server: one quiz, players spread over every node."""

from __future__ import annotations

from quizd.client import ControlClient, connect
from tests.cluster.clusterkit import cluster_tables, wait_members
from tests.nodekit import quiz_toml

QUIZ = {"q": quiz_toml("q", questions=2, reveal_ms=200)}


async def test_one_quiz_played_across_three_nodes(redis_server, node_factory):
    nodes = [node_factory(definitions=QUIZ, **cluster_tables(redis_server.url)) for _ in range(3)]
    controls = [ControlClient(n.http_url, n.token) for n in nodes]
    for control in controls:
        await wait_members(control, 3)
    created = await controls[1].create_quiz("q", quiz_id="spread")
    listed = await controls[2].quiz("spread")
    assert listed["node"] in {n.node_id for n in nodes}
    async with (
        connect(nodes[0].ws_url) as host,
        connect(nodes[0].ws_url) as a,
        connect(nodes[1].ws_url) as b,
        connect(nodes[2].ws_url) as c,
    ):
        assert (await host.join("spread", hostToken=created["hostToken"]))["type"] == "joined"
        for conn, name in ((a, "Ann"), (b, "Bob"), (c, "Cat")):
            reply = await conn.join("spread", name=name)
            assert reply["type"] == "joined", reply
        await host.request("start")
        for index in range(2):
            question = await a.expect("question")
            await b.expect("question")
            await c.expect("question")
            qid = question["payload"]["questionId"]
            ra = await a.request("answer", {"questionId": qid, "choice": index % 4})
            rb = await b.request("answer", {"questionId": qid, "choice": (index + 1) % 4})
            rc = await c.request("answer", {"questionId": qid, "choice": index % 4})
            assert ra["payload"]["correct"] and rc["payload"]["correct"] and not rb["payload"]["correct"]
            await host.request("next", {"questionIndex": index})
            for conn in (a, b, c):
                closed = await conn.expect("question_closed")
                assert closed["payload"]["correctChoice"] == index % 4
        for conn in (a, b, c):
            ended = await conn.expect("quiz_ended")
            assert ended["payload"]["total"] == 3
    results = await controls[2].results("spread")
    assert [e["name"] for e in results["leaderboard"]][-1] == "Bob"
